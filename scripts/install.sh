#!/usr/bin/env bash
# Set-up for depth3d on a fresh machine: system libraries, Python packages, compiled kernels.
# Idempotent and quick when everything is already there. Used by `make demo` and `make test`.
#   PYTHON=python3.11 bash scripts/install.sh     # choose the interpreter (default: python3)
# GPU users: install your CUDA build of torch first; this script keeps an existing torch and only
# installs torch==2.13.0 (the CPU build) when none is importable.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"

# ---------------------------------------------------------------- system libraries (Debian/Ubuntu)
need=()
ldconfig -p | grep -q 'libusb-1.0.so.0' || need+=(libusb-1.0-0)
ldconfig -p | grep -q 'libGL.so.1' || need+=(libgl1)
ldconfig -p | grep -q 'libEGL.so.1' || need+=(libegl1)
ldconfig -p | grep -q 'libgomp.so.1' || need+=(libgomp1)
command -v Xvfb >/dev/null 2>&1 || need+=(xvfb)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "[setup] installing system packages: ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "[setup] missing system packages; run as root:  apt-get install -y ${need[*]}" >&2
    exit 1
  fi
fi

# ---------------------------------------------------------------- Python packages
stamp=".setup-stamp"
key="$($PYTHON -c 'import sys; print(sys.executable)') $(cat pyproject.toml scripts/install.sh | sha1sum | cut -c1-16)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$key" ] && $PYTHON -c "import torch, open3d, pyrealsense2, cv2, trimesh, depth3d" 2>/dev/null; then
  echo "[setup] Python packages up to date"
else
  if ! $PYTHON -c "import torch" 2>/dev/null; then
    echo "[setup] installing torch==2.13.0 (CPU build)"
    $PYTHON -m pip install -q "torch==2.13.0"
  fi
  echo "[setup] installing depth3d and its dependencies"
  $PYTHON -m pip install -q -e ".[test]"
  echo "$key" > "$stamp"
fi

# ---------------------------------------------------------------- compiled kernels (cached after the first build)
for mod in geometry; do
  $PYTHON -c "from depth3d.$mod import _native as n; m = n.load(); print('[setup] $mod kernels:', 'ok' if m else 'unavailable: ' + str(n.error()))"
done
if [ -f depth3d/ops/build.py ]; then
  $PYTHON -m depth3d.ops.build
fi
