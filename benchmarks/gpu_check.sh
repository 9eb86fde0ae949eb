#!/usr/bin/env bash
# GPU check of depth3d.ops, run from the repository root on a machine with an NVIDIA GPU:
#   bash benchmarks/gpu_check.sh
# Builds the CUDA ops, runs tests/ops (every test also runs on CUDA through the `device` fixture),
# then the CUDA benchmarks (basic suite and the far-outlier suite) beside the plain-PyTorch reference
# in the same run. Results go to $OUT (default ./gpu_check_out): $OUT/gpu_check/*.txt|md.
# Budget: about 6 minutes (each step has its own timeout).
set -u
OUT="${OUT:-$PWD/gpu_check_out}"
R="$OUT/gpu_check"
mkdir -p "$R"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export DEPTH3D_OPS_BACKEND=compiled
PY=python3
command -v "$PY" >/dev/null || PY=python
{
  echo "## environment ($(date -u '+%Y-%m-%d %H:%M UTC'))"
  $PY -c 'import torch;print(torch.__version__, torch.cuda.is_available())'
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 | head -3
  command -v nvcc && nvcc --version | tail -1
  uptime
} 2>&1 | tee "$R/env.txt"

echo "## build" | tee "$R/build.txt"
timeout 240 $PY -m depth3d.ops.build 2>&1 | tail -20 | tee -a "$R/build.txt"
echo "build rc=${PIPESTATUS[0]}" | tee -a "$R/build.txt"

echo "## pytest tests/ops + VoteNet on CUDA" | tee "$R/pytest.txt"
timeout 150 $PY -m pytest -q -p no:cacheprovider tests/ops -k "cuda or not cpu" 2>&1 | tail -25 | tee -a "$R/pytest.txt"
echo "pytest ops rc=${PIPESTATUS[0]}" | tee -a "$R/pytest.txt"
timeout 90 $PY -m pytest -q -p no:cacheprovider tests/models/test_votenet.py tests/models/test_pointnet2.py -k cuda 2>&1 \
  | tail -15 | tee -a "$R/pytest.txt"
echo "pytest models rc=${PIPESTATUS[0]}" | tee -a "$R/pytest.txt"

timeout 45 $PY benchmarks/bench_ops.py --device cuda --repeats 10 2>&1 | tee "$R/bench_basic.md"
timeout 60 $PY benchmarks/bench_ops.py --device cuda --suite outliers --sizes 20000 1000000 --repeats 5 \
  2>&1 | tee "$R/bench_outliers.md"
# detection latency, full configuration, 20k points, depth3d ops vs the plain-PyTorch reference ops
timeout 60 $PY benchmarks/bench_detect.py --device cuda --ops depth3d reference --path fast folded --repeats 10 \
  2>&1 | tee "$R/bench_detect.md"
echo "done: results in $R"
