"""Training configuration: nested dicts loaded from YAML/JSON files, merged with defaults and CLI flags.

Precedence (lowest first): task defaults < ``--config FILE`` < explicit CLI flags < ``--set key=value``.
Keys use dots for nesting on the command line (``--set optimizer.lr=0.01``).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml


def load_config(path: str | Path) -> dict:
    """Read a YAML (.yaml/.yml) or JSON (.json) config file into a dict.

    Raises FileNotFoundError if ``path`` is missing, ValueError if it does not hold a mapping."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file {path} does not exist")
    text = path.read_text()
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ValueError(f"config file {path} is not valid {'JSON' if path.suffix == '.json' else 'YAML'}: "
                         f"{exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(f"config file {path} must hold a mapping at the top level, got {type(data).__name__}")
    return data


def merge(base: Mapping, override: Mapping) -> dict:
    """Deep-merge ``override`` into a copy of ``base`` (dicts merge recursively, other values replace)."""
    out = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def set_dotted(cfg: dict, key: str, value: Any) -> None:
    """Set ``cfg["a"]["b"] = value`` for ``key == "a.b"``, creating intermediate dicts."""
    parts = key.split(".")
    node = cfg
    for p in parts[:-1]:
        if not isinstance(node.get(p), dict):
            node[p] = {}
        node = node[p]
    node[parts[-1]] = value


def get_dotted(cfg: Mapping, key: str, default: Any = None) -> Any:
    """``cfg["a"]["b"]`` for ``key == "a.b"``, or ``default`` when any level is missing."""
    node: Any = cfg
    for p in key.split("."):
        if not isinstance(node, Mapping) or p not in node:
            return default
        node = node[p]
    return node


def parse_overrides(items: Iterable[str]) -> dict:
    """Parse ``["optimizer.lr=0.01", "model.dropout=0"]`` into a nested dict (values parsed as YAML)."""
    out: dict = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"--set {item!r}: expected KEY=VALUE, e.g. optimizer.lr=0.001")
        key, raw = item.split("=", 1)
        if not key:
            raise ValueError(f"--set {item!r}: empty key")
        set_dotted(out, key.strip(), yaml.safe_load(raw))
    return out


def save_config(cfg: Mapping, path: str | Path) -> None:
    """Write ``cfg`` as YAML atomically."""
    from depth3d.core.atomic import atomic_write

    with atomic_write(path, "w") as f:
        yaml.safe_dump(json.loads(json.dumps(cfg, default=str)), f, sort_keys=False)
