"""Atomic writes (depth3d.core.atomic): the target is either the old file or the complete new one."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from depth3d.core.atomic import atomic_write


def test_atomic_write_leaves_old_file_on_failure(tmp_path):
    target = tmp_path / "f.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_write(target) as f:
            f.write(b"partial")
            raise RuntimeError("boom")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]


def test_atomic_write_survives_sigkill(tmp_path):
    """A writer killed mid-write never leaves a half-written target."""
    target = tmp_path / "big.npz"
    code = (f"import numpy as np, time\nfrom depth3d.core.atomic import atomic_write\n"
            f"with atomic_write({str(target)!r}) as f:\n    f.write(b'x' * 1000)\n    print('ready', flush=True)\n"
            f"    time.sleep(30)\n")
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, env=env, text=True)
    assert proc.stdout.readline().strip() == "ready"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not target.exists()
