"""Shared test fixtures: repository paths, the real data folder, and a CLI runner."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("DEPTH3D_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` beside the checkout; tests using it skip when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is absent (only on project machines)")
    return SHARED_DATA


@pytest.fixture
def run_cli():
    """Run ``python -m depth3d ARGS`` from this checkout; returns the CompletedProcess."""

    def _run(*args: str, timeout: float = 300, env: dict | None = None, check: bool = False,
             **kwargs) -> subprocess.CompletedProcess:
        full_env = dict(os.environ)
        full_env["PYTHONPATH"] = str(REPO) + os.pathsep + full_env.get("PYTHONPATH", "")
        if env:
            full_env.update(env)
        proc = subprocess.run([sys.executable, "-m", "depth3d", *map(str, args)], capture_output=True,
                              text=True, timeout=timeout, env=full_env, **kwargs)
        if check and proc.returncode != 0:
            raise AssertionError(f"depth3d {' '.join(map(str, args))} failed ({proc.returncode}):\n"
                                 f"{proc.stdout}\n{proc.stderr}")
        return proc

    return _run


def _devices() -> list[str]:
    import torch

    return ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]


@pytest.fixture(params=_devices())
def device(request) -> str:
    """Each torch device of this machine: "cpu", and "cuda" when a GPU is available."""
    return request.param
