"""The native build helper: build tag and folder, read-only fallback, disabled and failing builds."""

from __future__ import annotations

import os
import sys

import pytest

from depth3d.core import native


def test_build_tag_names_torch_device_and_python():
    import torch

    tag = native.build_tag()
    assert tag.startswith("torch" + torch.__version__.replace("+", "_").replace(".", "_"))
    assert tag.endswith(f"_cpu_py{sys.version_info[0]}{sys.version_info[1]}")


def test_build_dir_falls_back_to_the_user_cache(tmp_path, monkeypatch):
    pkg = tmp_path / "pkg"
    assert native.writable_build_dir(pkg, "x", "t") == pkg / "_build" / "t"
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    try:
        if os.access(ro, os.W_OK):
            pytest.skip("running as a user that can write read-only folders")
        got = native.writable_build_dir(ro, "x", "t")
    finally:
        ro.chmod(0o700)
    assert got == tmp_path / "home" / ".cache" / "depth3d" / "x" / "t" and got.is_dir()


def test_disabled_build_returns_none_or_raises(tmp_path, monkeypatch):
    monkeypatch.setenv("DEPTH3D_NO_NATIVE", "1")
    src = tmp_path / "k.cpp"
    src.write_text("int f() { return 1; }\n")
    ext = native.NativeExtension("depth3d_test_disabled", [src], package_dir=tmp_path, cache_name="test", what="test")
    assert ext.load() is None
    assert ext.error == "disabled by DEPTH3D_NO_NATIVE"
    with pytest.raises(RuntimeError, match="DEPTH3D_NO_NATIVE"):
        ext.load(strict=True)


def test_failed_build_warns_and_keeps_the_reason(tmp_path, monkeypatch):
    monkeypatch.delenv("DEPTH3D_NO_NATIVE", raising=False)
    src = tmp_path / "broken.cpp"
    src.write_text("this is not C++\n")
    ext = native.NativeExtension("depth3d_test_broken", [src], package_dir=tmp_path, cache_name="test",
                                 what="test kernels")
    with pytest.warns(UserWarning, match="test kernels unavailable"):
        assert ext.load() is None
    assert ext.error
    assert ext.load() is None  # the failure is remembered, not retried

