"""One JIT-compiled CPU extension (``torch.utils.cpp_extension.load``), built once and cached.

The build goes to ``<package folder>/_build/torch<version>`` (or ``~/.cache/depth3d/<cache_name>/<tag>``
when the package folder is read-only); a cached ``.so`` newer than its source is imported directly,
without ninja's up-to-date check. When no compiler is available the callers use their numpy/torch paths;
``DEPTH3D_NO_NATIVE=1`` forces that.
"""

from __future__ import annotations

import os
import threading
import warnings
from pathlib import Path


class JitExtension:
    """The extension ``name`` compiled from ``source`` (a ``.cpp`` file) on first :meth:`load`.

    Args:
        name: module name of the extension (e.g. "depth3d_geometry_cpu").
        source: the C++ source.
        cache_name: folder under ``~/.cache/depth3d`` for read-only installs.
        what: words for the warning when the build fails (e.g. "depth3d.geometry: fused CPU kernels").
        cflags, ldflags: extra compiler and linker flags.
    """

    def __init__(self, name: str, source: Path, cache_name: str, what: str, cflags: tuple[str, ...] = ("-O3",),
                 ldflags: tuple[str, ...] = ()) -> None:
        self.name, self.source, self.cache_name, self.what = name, Path(source), cache_name, what
        self.cflags, self.ldflags = list(cflags), list(ldflags)
        self._lock = threading.Lock()
        self._module = None
        self.error: str | None = None

    def build_dir(self) -> Path:
        import torch

        tag = f"torch{torch.__version__.replace('+', '_')}"
        here = self.source.parent.parent / "_build" / tag
        try:
            here.mkdir(parents=True, exist_ok=True)
            if os.access(here, os.W_OK):
                return here
        except OSError:
            pass
        fallback = Path.home() / ".cache" / "depth3d" / self.cache_name / tag
        fallback.mkdir(parents=True, exist_ok=True)
        return fallback

    def load(self, verbose: bool = False):
        """The compiled module, building it on first use; None if it cannot be built (reason in ``error``)."""
        if self._module is not None or self.error is not None:
            return self._module
        with self._lock:
            if self._module is not None or self.error is not None:
                return self._module
            if os.environ.get("DEPTH3D_NO_NATIVE"):
                self.error = "disabled by DEPTH3D_NO_NATIVE"
                return None
            try:
                import torch  # noqa: F401  (the extension links against libtorch)
                from torch.utils.cpp_extension import load as _load

                build = self.build_dir()
                so = build / f"{self.name}.so"
                if so.is_file() and so.stat().st_mtime >= self.source.stat().st_mtime:
                    import importlib.util

                    spec = importlib.util.spec_from_file_location(self.name, so)
                    module = importlib.util.module_from_spec(spec)
                    spec.loader.exec_module(module)
                    self._module = module
                    return module
                self._module = _load(name=self.name, sources=[str(self.source)], build_directory=str(build),
                                     extra_cflags=self.cflags, extra_ldflags=self.ldflags, verbose=verbose)
            except Exception as exc:  # compiler or headers missing ...
                self.error = f"{type(exc).__name__}: {exc}"
                warnings.warn(f"{self.what} unavailable ({self.error}); using numpy", stacklevel=3)
        return self._module
