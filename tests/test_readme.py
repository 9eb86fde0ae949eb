"""Every command of the README's example blocks, and its Python snippet, run in a temporary folder.

Commands run as written, with these documented substitutions (sizes made small, so the whole README runs in
a few minutes on a 2-core CPU; the substitution never changes which verbs and options are exercised):

* ``sim scans``: ``--num N`` -> ``--num 6``, ``--points N`` -> ``--points 1024``, ``--width 320 --height 240``
  -> ``--width 96 --height 72``, ``--workers 2`` -> ``--workers 1``; ``sim pack --points N`` -> ``--points 512``
* ``train det`` / ``train cls``: ``--epochs 1`` and ``--set limit_train_batches=2`` appended (``train det``
  also ``--num-points 512 --batch-size 2``); ``sl generate --width 800 --height 600`` -> ``160 x 120``
* ``../shared/data`` -> the real data folder (``tests/conftest.py``); commands that need it are skipped when
  it is absent
* the live-camera recording ``stream --source 123456789012 --record desk.db3 --post`` (needs a RealSense)
  is replaced by recording the simulated camera, ``stream --source 'sim:room?frames=5&width=160&height=120'
  --record desk.db3``, so that the next command (``play desk.db3``) has its input

Skipped, with the reason: commands that open a window (``--view``), and ``view --screenshot`` when there is
neither a display nor Xvfb. ``make demo`` / ``make test`` (set-up and the whole suite) are not run here.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"

SUBSTITUTIONS = [  # (applies when the command contains, regex, replacement)
    ("sim scans", r"--num \d+", "--num 6"),
    ("sim scans", r"--points \d+", "--points 1024"),
    ("sim scans", r"--width 320 --height 240", "--width 96 --height 72"),
    ("sim scans", r"--workers 2", "--workers 1"),
    ("sim pack", r"--points \d+", "--points 512"),
    ("train det", r"$", " --epochs 1 --set limit_train_batches=2 --num-points 512 --batch-size 2"),
    ("train cls", r"$", " --epochs 1 --set limit_train_batches=2"),
    ("sl generate", r"--width 800 --height 600", "--width 160 --height 120"),
    ("--source 123456789012", r"^.*$",
     "depth3d stream --source 'sim:room?frames=5&width=160&height=120' --record desk.db3 --max-frames 5"),
]
NEEDS_WINDOW = "--view"


def readme_commands() -> list[str]:
    """The ``depth3d ...`` commands of every ```bash block (continuations joined, comments dropped,
    ``&&`` chains split)."""
    text = README.read_text()
    cmds: list[str] = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        joined = block.replace("\\\n", " ")
        for line in joined.splitlines():
            words = shlex.split(line, comments=True)
            if not words:
                continue
            parts: list[list[str]] = [[]]
            for w in words:
                if w == "&&":
                    parts.append([])
                else:
                    parts[-1].append(w)
            cmds += [shlex.join(p) for p in parts if p and p[0] == "depth3d"]
    return cmds


def _prepare(cmd: str, shared: Path | None) -> str:
    for where, pattern, repl in SUBSTITUTIONS:
        if where in cmd:
            cmd = re.sub(pattern, repl, cmd, count=1)
    if shared is not None:
        cmd = cmd.replace("../shared/data", str(shared))
    return cmd


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    d = tmp_path_factory.mktemp("readme")
    for name in ("data", "depth3d"):  # the README's relative paths: bundled data, shipped configs
        (d / name).symlink_to(REPO / name)
    return d


def test_readme_has_commands():
    cmds = readme_commands()
    assert len(cmds) >= 20 and any(c.startswith("depth3d sim pack") for c in cmds)
    assert any("sim:" in c for c in cmds) and any("tof:" in c for c in cmds)


def test_readme_commands_run(workdir):
    """The commands in README order (later ones read what earlier ones wrote)."""
    shared_dir = Path(os.environ.get("DEPTH3D_SHARED_DATA", REPO.parent / "shared" / "data"))  # as conftest.py
    shared = shared_dir if shared_dir.is_dir() else None
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    has_screen = bool(os.environ.get("DISPLAY")) or shutil.which("Xvfb") is not None
    skipped, ran = [], []
    for raw in readme_commands():
        cmd = _prepare(raw, shared)
        if NEEDS_WINDOW in shlex.split(cmd):
            skipped.append((raw, "opens a window"))
            continue
        if "../shared/data" in cmd:
            skipped.append((raw, "real data folder absent"))
            continue
        if "--screenshot" in cmd and cmd.startswith("depth3d view") and not has_screen:
            skipped.append((raw, "no display and no Xvfb"))
            continue
        argv = shlex.split(cmd)
        proc = subprocess.run([sys.executable, "-m", "depth3d", *argv[1:]], cwd=workdir, env=env,
                              capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, f"README command failed ({proc.returncode}): {cmd}\n{proc.stderr[-3000:]}"
        assert "Traceback" not in proc.stderr, cmd
        ran.append(cmd)
    print(f"\nREADME: ran {len(ran)} commands; skipped {len(skipped)}:")
    for raw, why in skipped:
        print(f"  {raw}  ({why})")
    assert len(ran) >= len(readme_commands()) - 4


def test_readme_python_snippet(workdir):
    text = README.read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert blocks, "README has a Python example"
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    for code in blocks:
        proc = subprocess.run([sys.executable, "-c", code], cwd=workdir, env=env, capture_output=True, text=True,
                              timeout=300)
        assert proc.returncode == 0, proc.stderr[-3000:]
    assert (workdir / "room.ply").is_file()
