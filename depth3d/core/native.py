"""The one way depth3d builds its C++/CUDA extensions: ``torch.utils.cpp_extension.load``, built once, cached.

A :class:`NativeExtension` names its sources and flags; :meth:`NativeExtension.load` compiles them on first
use into ``<package folder>/_build/<tag>`` (or ``~/.cache/depth3d/<cache_name>/<tag>`` when the package folder
is read-only), where ``<tag>`` (:func:`build_tag`) names the torch, CUDA and Python versions. A cached ``.so``
newer than every source and every header beside them is loaded directly, without ninja's up-to-date check.
CUDA sources are built for :func:`cuda_arch_list` (the installed torch's architectures unless
``TORCH_CUDA_ARCH_LIST`` is set); ``MAX_JOBS`` defaults to 2.

Two kinds of extension: a Python module (``python_module=True``, the default; :meth:`load` returns it) and a
library that registers ``torch.ops`` (``python_module=False``; :meth:`load` returns the ``.so`` path).
When the build fails, :meth:`load` returns None and keeps the reason in ``error`` (callers then use their
numpy/torch paths), or raises with ``strict=True``. ``DEPTH3D_NO_NATIVE=1`` disables every extension.
"""

from __future__ import annotations

import os
import sys
import threading
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

_HEADERS = ("*.h", "*.hpp", "*.cuh")


def build_tag(cuda: bool = False) -> str:
    """Folder name for builds with the running torch/Python: ``torch<ver>_<cpu|cuNNN>_py<maj><min>``."""
    import torch

    v = torch.__version__.replace("+", "_").replace(".", "_")
    dev = f"cu{torch.version.cuda.replace('.', '')}" if cuda and torch.version.cuda else "cpu"
    return f"torch{v}_{dev}_py{sys.version_info[0]}{sys.version_info[1]}"


def nvcc_path() -> str | None:
    """The CUDA compiler torch would use (``$CUDA_HOME/bin/nvcc``, else ``nvcc`` on PATH), or None."""
    import shutil

    from torch.utils.cpp_extension import CUDA_HOME

    if CUDA_HOME and Path(CUDA_HOME, "bin", "nvcc").exists():
        return str(Path(CUDA_HOME, "bin", "nvcc"))
    return shutil.which("nvcc")


def cuda_arch_list() -> str | None:
    """``TORCH_CUDA_ARCH_LIST`` if set, else the architectures the installed torch was built for ("8.0;9.0")."""
    import torch

    if os.environ.get("TORCH_CUDA_ARCH_LIST"):
        return os.environ["TORCH_CUDA_ARCH_LIST"]
    archs = set()
    for a in torch.cuda.get_arch_list() if torch.version.cuda else []:
        if a.startswith("sm_"):
            archs.add(f"{a[3:-1]}.{a[-1]}")
    return ";".join(sorted(archs, key=float)) if archs else None


def writable_build_dir(package_dir: Path, cache_name: str, tag: str) -> Path:
    """``package_dir/_build/tag`` if it can be written, else ``~/.cache/depth3d/cache_name/tag`` (created)."""
    here = Path(package_dir) / "_build" / tag
    try:
        here.mkdir(parents=True, exist_ok=True)
        probe = here / f".write_probe_{os.getpid()}"
        probe.write_text("ok")
        probe.unlink()
        return here
    except OSError:
        fallback = Path.home() / ".cache" / "depth3d" / cache_name / tag
        fallback.mkdir(parents=True, exist_ok=True)
        return fallback


class NativeExtension:
    """The extension ``name`` compiled from ``sources`` on first :meth:`load`.

    Args:
        name: module/library name (e.g. "depth3d_geometry_cpu").
        sources: the ``.cpp``/``.cu`` files (or a callable returning them, evaluated at build time, e.g. to
            add CUDA files only when nvcc is found).
        package_dir: the package folder whose ``_build/<tag>`` holds the build.
        cache_name: folder under ``~/.cache/depth3d`` for read-only installs.
        what: words for the warning when the build fails (e.g. "depth3d.geometry: fused CPU kernels").
        cflags, ldflags, cuda_cflags: extra compiler, linker and nvcc flags.
        include_dirs: extra header folders (the sources' own folders are always searched by the compiler).
        python_module: True for a pybind11 module, False for a library registering ``torch.ops``.
        with_cuda: build the ``.cu`` sources with nvcc (None: torch's default, i.e. if any source is ``.cu``).
        depends: extra files whose change forces a rebuild (headers beside the sources are always included).
    """

    def __init__(self, name: str, sources: Sequence[str | Path] | Callable[[], Sequence[str | Path]], *,
                 package_dir: str | Path, cache_name: str, what: str, cflags: Sequence[str] = ("-O3",),
                 ldflags: Sequence[str] = (), cuda_cflags: Sequence[str] = (), include_dirs: Sequence[str | Path] = (),
                 python_module: bool = True, with_cuda: bool | None = None,
                 depends: Sequence[str | Path] = ()) -> None:
        self.name, self.cache_name, self.what = name, cache_name, what
        self._sources = sources
        self.package_dir = Path(package_dir)
        self.cflags, self.ldflags, self.cuda_cflags = list(cflags), list(ldflags), list(cuda_cflags)
        self.include_dirs = [str(p) for p in include_dirs]
        self.python_module, self.with_cuda = python_module, with_cuda
        self.depends = [Path(p) for p in depends]
        self._lock = threading.Lock()
        self._result: Any = None
        self.error: str | None = None

    def sources(self) -> list[Path]:
        """The source files of this build."""
        src = self._sources() if callable(self._sources) else self._sources
        return [Path(s) for s in src]

    def build_dir(self) -> Path:
        """Where the build goes (created): see :func:`writable_build_dir`."""
        return writable_build_dir(self.package_dir, self.cache_name, build_tag(bool(self.with_cuda)))

    def _newest_input(self, sources: list[Path]) -> float:
        files = set(sources) | set(self.depends)
        for folder in {s.parent for s in sources} | {Path(d) for d in self.include_dirs}:
            for pattern in _HEADERS:
                files.update(folder.glob(pattern))
        return max(f.stat().st_mtime for f in files)

    def _load_cached(self, so: Path) -> Any:
        if not self.python_module:
            import torch

            torch.ops.load_library(str(so))
            return so
        import importlib.util

        spec = importlib.util.spec_from_file_location(self.name, so)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    def load(self, verbose: bool = False, strict: bool = False) -> Any:
        """Build on first use and load: the module (``python_module``) or the ``.so`` path; None when it
        cannot be built (reason in ``error``; with ``strict`` the build error is raised instead)."""
        if self._result is not None or (self.error is not None and not strict):
            return self._result
        with self._lock:
            if self._result is not None or (self.error is not None and not strict):
                return self._result
            if os.environ.get("DEPTH3D_NO_NATIVE"):
                self.error = "disabled by DEPTH3D_NO_NATIVE"
                if strict:
                    raise RuntimeError(f"{self.what}: {self.error}")
                return None
            try:
                self._result = self._build(verbose)
                self.error = None
            except Exception as exc:  # compiler or headers missing ...
                self.error = f"{type(exc).__name__}: {exc}"
                if strict:
                    raise
                warnings.warn(f"{self.what} unavailable ({self.error}); using numpy", stacklevel=3)
        return self._result

    def _build(self, verbose: bool) -> Any:
        import torch  # noqa: F401  (the extension links against libtorch)
        from torch.utils.cpp_extension import load as _load

        sources = self.sources()
        build = self.build_dir()
        so = build / f"{self.name}.so"
        if so.is_file() and so.stat().st_mtime >= self._newest_input(sources):
            return self._load_cached(so)
        os.environ.setdefault("MAX_JOBS", "2")
        if self.with_cuda and not os.environ.get("TORCH_CUDA_ARCH_LIST") and cuda_arch_list():
            os.environ["TORCH_CUDA_ARCH_LIST"] = cuda_arch_list()
        kwargs = {}
        if self.with_cuda is not None:
            kwargs["with_cuda"] = self.with_cuda
        module = _load(name=self.name, sources=[str(s) for s in sources], build_directory=str(build),
                       extra_cflags=self.cflags, extra_ldflags=self.ldflags, extra_cuda_cflags=self.cuda_cflags,
                       extra_include_paths=self.include_dirs, is_python_module=self.python_module,
                       verbose=verbose, **kwargs)
        return module if self.python_module else so
