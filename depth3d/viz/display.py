"""A virtual X display for rendering without a screen: starts Xvfb when ``DISPLAY`` is unset."""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import time
from pathlib import Path

_proc: subprocess.Popen | None = None


def ensure_display(width: int = 1280, height: int = 1024) -> str:
    """Return a usable ``DISPLAY``; start Xvfb (and set ``DISPLAY``) if there is none.

    Raises RuntimeError with the install command when Xvfb is needed but missing.
    """
    global _proc
    if not os.environ.get("XDG_RUNTIME_DIR"):
        import tempfile

        os.environ["XDG_RUNTIME_DIR"] = tempfile.mkdtemp(prefix="depth3d-xdg-")
    if os.environ.get("DISPLAY"):
        return os.environ["DISPLAY"]
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        raise RuntimeError("no DISPLAY and Xvfb is not installed; install it with "
                           "'apt-get install -y xvfb' (as root) or run under a desktop session")
    for num in range(99, 160):
        if Path(f"/tmp/.X{num}-lock").exists() or Path(f"/tmp/.X11-unix/X{num}").exists():
            continue
        proc = subprocess.Popen([xvfb, f":{num}", "-screen", "0", f"{width}x{height}x24", "-nolisten", "tcp"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(100):
            if Path(f"/tmp/.X11-unix/X{num}").exists():
                break
            if proc.poll() is not None:
                break
            time.sleep(0.05)
        if proc.poll() is None and Path(f"/tmp/.X11-unix/X{num}").exists():
            _proc = proc
            os.environ["DISPLAY"] = f":{num}"
            atexit.register(_stop)
            return os.environ["DISPLAY"]
        proc.kill()
    raise RuntimeError("could not start Xvfb on displays :99-:159")


def _stop() -> None:
    global _proc
    if _proc is not None and _proc.poll() is None:
        _proc.terminate()
        try:
            _proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            _proc.kill()
    _proc = None
