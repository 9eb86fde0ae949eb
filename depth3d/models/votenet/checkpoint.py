"""The one VoteNet checkpoint reader (and the writer of VoteNet model files).

:func:`load_votenet` reads, with ``torch.load(..., weights_only=True)`` (a file that would need arbitrary
code to unpickle is refused with :class:`CheckpointError`, nothing in it runs):

* VoteNet model files written by :func:`save_checkpoint`: ``{"model_state_dict", "hparams",
  "dataset_config", ...}`` (e.g. ``data/votenet_synthetic.pt``);
* ``depth3d train det`` run checkpoints (``last.pt``/``best.pt``, formats ``depth3d.train/1`` and ``/2``) or a run
  folder (its ``best.pt``, else ``last.pt``): the network is rebuilt by :func:`build_votenet` from the run's
  ``model`` config section;
* the released facebookresearch/votenet checkpoints (``pretrained_votenet_on_sunrgbd.tar`` /
  ``..._on_scannet.tar``: a dict with ``model_state_dict``, ``optimizer_state_dict``, ``epoch``): the full
  network as the reference demo builds it (256 proposals, ``seed_fps`` sampling, height feature); the
  dataset (head sizes) is recognised from the proposal head's output width, or given as ``dataset``.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from depth3d.core.errors import InputError
from depth3d.core.safe_load import load_torch_file
from depth3d.models.votenet.config import DatasetConfig, scannet_config, sunrgbd_config
from depth3d.models.votenet.model import VoteNet, build_votenet

#: the reference demo's settings for the released checkpoints (demo.py)
OFFICIAL_SETTINGS = dict(input_feature_dim=1, num_proposal=256, vote_factor=1, sampling="seed_fps")
OFFICIAL_NUM_POINTS = 20000
DATASETS = {"sunrgbd": sunrgbd_config, "scannet": scannet_config}


class CheckpointError(InputError):
    """A file that is not a loadable VoteNet checkpoint (one line naming the file and what was expected)."""


def _head_width(cfg: DatasetConfig) -> int:
    return 2 + 3 + 2 * cfg.num_heading_bin + 4 * cfg.num_size_cluster + cfg.num_class


def read_checkpoint_file(path: str | Path, map_location: Any = "cpu") -> dict:
    """The dict stored in ``path`` (read by :func:`depth3d.core.safe_load.load_torch_file`, weights only);
    :class:`CheckpointError` when the file is missing, unreadable, would need code to load, or holds no dict."""
    p = Path(path)
    try:
        obj = load_torch_file(p, map_location)
    except InputError as exc:
        raise CheckpointError(str(exc)) from None
    if not isinstance(obj, dict):
        raise CheckpointError(f"{p}: expected a checkpoint dict, got {type(obj).__name__}")
    return obj


def _official_config(sd: dict, dataset: str | None, path: Path) -> DatasetConfig:
    key = "pnet.conv3.weight"
    if key not in sd:
        raise CheckpointError(f"{path}: 'model_state_dict' has no {key}: not a VoteNet state dict")
    width = int(sd[key].shape[0])
    if dataset is not None:
        if dataset not in DATASETS:
            raise CheckpointError(f"dataset must be one of {sorted(DATASETS)}, got {dataset!r}")
        cfg = DATASETS[dataset]()
        if _head_width(cfg) != width:
            raise CheckpointError(f"{path}: the proposal head has {width} outputs, a {dataset} VoteNet has "
                                  f"{_head_width(cfg)}")
    else:
        found = [name for name, fn in DATASETS.items() if _head_width(fn()) == width]
        if len(found) != 1:
            raise CheckpointError(f"{path}: cannot tell the dataset from the proposal head width {width} "
                                  f"(sunrgbd {_head_width(sunrgbd_config())}, scannet "
                                  f"{_head_width(scannet_config())})")
        cfg = DATASETS[found[0]]()
    if cfg.name == "scannet":
        warnings.warn(f"{path}: ScanNet size clusters are placeholders (1 m): the reference reads them from "
                      "scannet_means.npz, which is not bundled; box sizes will be wrong", stacklevel=3)
    return cfg


def _to_float32(sd: dict) -> dict:
    return {k: v.float() if v.is_floating_point() else v for k, v in sd.items()}


def load_votenet(path: str | Path, dataset: str | None = None,
                 map_location: Any = "cpu") -> tuple[VoteNet, DatasetConfig, dict]:
    """(model in eval mode, dataset config, info) of a VoteNet checkpoint (any of the module docstring's
    kinds; a run folder reads its best.pt, else last.pt). ``dataset``: "sunrgbd" or "scannet" for the
    released checkpoints (default: recognised from the head width; for other kinds it must match).
    ``info``: the checkpoint dict plus ``num_points`` (points sampled per scan at training, or None),
    ``kind`` ("model", "run" or "official") and ``path``.

    Raises :class:`CheckpointError` (a ValueError) with one line naming the file on any bad input."""
    p = Path(path)
    if p.is_dir():
        p = p / "best.pt" if (p / "best.pt").is_file() else p / "last.pt"
        if not p.is_file():
            raise CheckpointError(f"{path}: a folder without best.pt or last.pt (not a `depth3d train det` run)")
    ck = read_checkpoint_file(p, map_location)
    if str(ck.get("format", "")).startswith("depth3d.train/"):
        if ck.get("task") != "det":
            raise CheckpointError(f"{p}: a `depth3d train {ck.get('task')}` checkpoint, not a detector")
        conf = ck.get("config") or {}
        data = conf.get("data") or {}
        if "dataset_config" not in data:
            raise CheckpointError(f"{p}: the run's config has no data.dataset_config")
        cfg = DatasetConfig.from_dict(data["dataset_config"])
        model_conf = dict(conf.get("model") or {})
        net = build_votenet(cfg, model_conf.pop("config", "small"), **model_conf)
        sd, kind, num_points = ck["model"], "run", ck.get("num_points", data.get("num_points"))
    elif "hparams" in ck and "model_state_dict" in ck:
        hp = dict(ck["hparams"])
        cfg = DatasetConfig.from_dict(ck["dataset_config"])
        for k in ("num_class", "num_heading_bin", "num_size_cluster", "mean_size_arr"):
            hp.pop(k, None)
        net = VoteNet.from_dataset_config(cfg, **hp)
        sd, kind, num_points = ck["model_state_dict"], "model", ck.get("num_points")
    elif "model_state_dict" in ck:
        sd = ck["model_state_dict"]
        if not isinstance(sd, dict):
            raise CheckpointError(f"{p}: 'model_state_dict' is not a state dict")
        cfg = _official_config(sd, dataset, p)
        net = build_votenet(cfg, "full", **OFFICIAL_SETTINGS).use_official_sampling()
        kind, num_points = "official", OFFICIAL_NUM_POINTS
    else:
        raise CheckpointError(f"{p}: expected a VoteNet checkpoint ('model_state_dict' [+ 'hparams'], or a "
                              "`depth3d train det` run's last.pt/best.pt)")
    if dataset is not None and kind != "official" and cfg.name != dataset:
        raise CheckpointError(f"{p}: trained on {cfg.name!r}, not {dataset!r}")
    try:
        net.load_state_dict(_to_float32(sd), strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"{p}: the weights do not fit the network they describe ("
                              f"{str(exc).splitlines()[0]})") from None
    net.eval()
    info = dict(ck)
    info.update(kind=kind, path=str(p), num_points=int(num_points) if num_points else None)
    return net, cfg, info


def save_checkpoint(path: str | Path, net: VoteNet, cfg: DatasetConfig, extra: dict | None = None,
                    half: bool = False) -> None:
    """Write a VoteNet model file ``{"model_state_dict", "hparams", "dataset_config", **extra}`` atomically
    (``half``: fp16 weights); ``extra`` must hold plain data (numbers, strings, lists, dicts, tensors) so
    that :func:`load_votenet` can read it with ``weights_only=True``."""
    from depth3d.core.atomic import atomic_write

    sd = {k: (v.half() if half and v.is_floating_point() else v).detach().cpu() for k, v in net.state_dict().items()}
    obj = {"model_state_dict": sd, "hparams": net.hparams, "dataset_config": cfg.to_dict(), **(extra or {})}
    with atomic_write(path, "wb") as f:
        torch.save(obj, f)
