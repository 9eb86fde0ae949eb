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

import sys
import time
from pathlib import Path

import torch

from depth3d.core.native import NativeExtension, build_tag, cuda_arch_list, nvcc_path

CSRC = Path(__file__).resolve().parent / "csrc"
NAME = "depth3d_ops"
_LOADED: dict = {}

__all__ = ["want_cuda", "tag", "build_dir", "sources", "load", "nvcc_path"]


def want_cuda() -> bool:
    """Whether the CUDA kernels are built: a CUDA build of torch and an ``nvcc`` to compile them."""
    return torch.version.cuda is not None and nvcc_path() is not None


def tag() -> str:
    """Build folder name for the running torch/CUDA/Python (see :func:`depth3d.core.native.build_tag`)."""
    return build_tag(want_cuda())


def _arch_list() -> str | None:
    return cuda_arch_list() if want_cuda() else None


def sources() -> list[str]:
    """The sources of this build: the CPU kernels always, the CUDA kernels and bindings with :func:`want_cuda`."""
    src = [str(CSRC / "cpu_ops.cpp")]
    if want_cuda():
        src += [str(CSRC / "cuda_kernels.cu"), str(CSRC / "cuda_bindings.cpp")]
    return src


def _extension() -> NativeExtension:
    cuda = want_cuda()
    # -fopenmp: ATen's at::parallel_for is a header template that runs serially unless the extension
    # itself is compiled with OpenMP (INTRA_OP_PARALLEL); libgomp resolves to the copy torch loaded
    cflags = ["-O3", "-fopenmp", "-ffp-contract=off", "-DNDEBUG"] + (["-DDEPTH3D_WITH_CUDA"] if cuda else [])
    return NativeExtension(NAME, sources(), package_dir=Path(__file__).resolve().parent, cache_name="ops",
                           what="depth3d.ops kernels", cflags=cflags, ldflags=["-fopenmp"],
                           cuda_cflags=["-O3", "--fmad=false", "-DNDEBUG"], python_module=False, with_cuda=cuda)


def build_dir() -> Path:
    """Where the library is built (created)."""
    return _extension().build_dir()


def load(verbose: bool = False):
    """Build if needed and load the library (registers ``torch.ops.depth3d.*``); returns the path."""
    if "path" not in _LOADED:
        _LOADED["path"] = _extension().load(verbose, strict=True)
    return _LOADED["path"]


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
