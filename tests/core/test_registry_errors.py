"""depth3d.core.registry.Registry, the error hierarchy (depth3d.core.errors) and device choice."""

from __future__ import annotations

import pytest

from depth3d.core.device import resolve_device
from depth3d.core.errors import Depth3DError, DeviceError, InputError
from depth3d.core.registry import Registry
from depth3d.core.source import SourceError


def test_registry_lazy_and_direct_entries():
    reg: Registry = Registry("widget")
    reg.register("join", "os.path:join", "joins paths")
    reg.register("double", lambda x: 2 * x)
    assert reg.names() == ["join", "double"] and "join" in reg and "nope" not in reg and len(reg) == 2
    import os.path

    assert reg.get("join") is os.path.join and reg.get("double")(4) == 8
    assert reg.help("join") == "joins paths" and reg.help("double") == ""
    with pytest.raises(InputError, match=r"unknown widget 'nope'; expected one of join, double"):
        reg.get("nope")
    with pytest.raises(ValueError, match="already registered"):
        reg.register("join", "os.path:split")
    with pytest.raises(ValueError, match="'module:attribute'"):
        reg.register("bad", "os.path.join")


def test_registry_missing_module_is_an_input_error():
    reg: Registry = Registry("source scheme")
    reg.register("gone", "depth3d.no_such_module:open_it")
    with pytest.raises(InputError, match="'gone' is not available in this build"):
        reg.get("gone")


def test_error_hierarchy_keeps_builtin_bases():
    assert issubclass(InputError, Depth3DError) and issubclass(InputError, ValueError)
    assert issubclass(DeviceError, Depth3DError) and issubclass(DeviceError, RuntimeError)
    assert issubclass(SourceError, Depth3DError) and issubclass(SourceError, RuntimeError)
    from depth3d.capture.realsense import NoCameraError

    assert issubclass(NoCameraError, Depth3DError)


def test_resolve_device():
    import torch

    assert resolve_device("cpu") == "cpu"
    if torch.cuda.is_available():
        assert resolve_device("cuda") == "cuda"
    else:
        with pytest.raises(DeviceError, match="--device cuda requested but torch has no usable CUDA device"):
            resolve_device("cuda")
