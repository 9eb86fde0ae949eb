"""Build (JIT-compile and cache) the depth3d ops: ``python -m depth3d.ops.build``.

Sources live in ``depth3d/ops/csrc``: ``cpu_ops.cpp`` (schemas + CPU kernels, always),
``cuda_kernels.cu`` (torch-free CUDA kernels: raw pointers + ``cudaStream_t``) and
``cuda_bindings.cpp`` (the thin torch binding that launches them on PyTorch's current stream), both
included whenever ``torch.version.cuda`` is set and ``nvcc`` is found. The CUDA architectures are taken
from the installed torch (``torch.cuda.get_arch_list()`` -> ``TORCH_CUDA_ARCH_LIST``) unless
``TORCH_CUDA_ARCH_LIST`` is already set. The library is built into ``depth3d/ops/_build/<tag>`` (or
``~/.cache/depth3d/ops/<tag>`` when the package folder is not writable); ninja only rebuilds when
sources change, so later imports just load the cached ``.so``.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path

import torch

CSRC = Path(__file__).resolve().parent / "csrc"
NAME = "depth3d_ops"
_LOADED: dict = {}


def cuda_home() -> str | None:
    from torch.utils.cpp_extension import CUDA_HOME
    return CUDA_HOME


def nvcc_path() -> str | None:
    home = cuda_home()
    if home and Path(home, "bin", "nvcc").exists():
        return str(Path(home, "bin", "nvcc"))
    return shutil.which("nvcc")


def want_cuda() -> bool:
    return torch.version.cuda is not None and nvcc_path() is not None


def tag() -> str:
    v = torch.__version__.replace("+", "_").replace(".", "_")
    return f"torch{v}_" + (f"cu{torch.version.cuda.replace('.', '')}" if want_cuda() else "cpu") + \
        f"_py{sys.version_info[0]}{sys.version_info[1]}"


def build_dir() -> Path:
    pkg = Path(__file__).resolve().parent / "_build" / tag()
    try:
        pkg.mkdir(parents=True, exist_ok=True)
        probe = pkg / ".write_probe"
        probe.write_text("ok")
        probe.unlink()
        return pkg
    except OSError:
        d = Path.home() / ".cache" / "depth3d" / "ops" / tag()
        d.mkdir(parents=True, exist_ok=True)
        return d


def _arch_list() -> str | None:
    if os.environ.get("TORCH_CUDA_ARCH_LIST"):
        return os.environ["TORCH_CUDA_ARCH_LIST"]
    archs = []
    for a in torch.cuda.get_arch_list() if torch.version.cuda else []:
        if a.startswith("sm_"):
            num = a[3:]
            archs.append(f"{num[:-1]}.{num[-1]}")
    return ";".join(sorted(set(archs), key=float)) if archs else None


def sources() -> list[str]:
    src = [str(CSRC / "cpu_ops.cpp")]
    if want_cuda():
        src += [str(CSRC / "cuda_kernels.cu"), str(CSRC / "cuda_bindings.cpp")]
    return src


def load(verbose: bool = False):
    """Build if needed and load the library (registers ``torch.ops.depth3d.*``); returns the path."""
    if "path" in _LOADED:
        return _LOADED["path"]
    from torch.utils.cpp_extension import load as _load
    arch = _arch_list()
    if want_cuda() and arch and not os.environ.get("TORCH_CUDA_ARCH_LIST"):
        os.environ["TORCH_CUDA_ARCH_LIST"] = arch
    os.environ.setdefault("MAX_JOBS", "2")
    # -fopenmp: ATen's at::parallel_for is a header template that runs serially unless the extension
    # itself is compiled with OpenMP (INTRA_OP_PARALLEL); libgomp resolves to the copy torch loaded
    cflags = ["-O3", "-fopenmp", "-ffp-contract=off", "-DNDEBUG"]
    cuda_flags = ["-O3", "--fmad=false", "-DNDEBUG"]
    if want_cuda():
        cflags.append("-DDEPTH3D_WITH_CUDA")
    d = build_dir()
    _load(name=NAME, sources=sources(), extra_cflags=cflags, extra_cuda_cflags=cuda_flags, extra_ldflags=["-fopenmp"],
          build_directory=str(d), is_python_module=False, verbose=verbose,
          with_cuda=want_cuda())
    so = d / f"{NAME}.so"
    _LOADED["path"] = so
    return so


def main() -> int:
    t0 = time.time()
    print(f"depth3d.ops: torch {torch.__version__}, cuda {torch.version.cuda}, nvcc {nvcc_path()}, "
          f"arch list {_arch_list() if want_cuda() else '-'}", flush=True)
    print(f"depth3d.ops: building {', '.join(Path(s).name for s in sources())} into {build_dir()}",
          flush=True)
    so = load(verbose="-v" in sys.argv)
    ops = sorted(n for n in ("fps", "ball_query", "knn", "gather", "index_sum")
                 if hasattr(torch.ops.depth3d, n))
    print(f"depth3d.ops: built {so} ({'CPU+CUDA' if want_cuda() else 'CPU'} kernels) in "
          f"{time.time() - t0:.1f} s; ops: {', '.join(ops)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
