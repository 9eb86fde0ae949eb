"""Things chosen by name go through depth3d.core.registry.Registry: classifiers, VoteNet sizes, train tasks."""

from __future__ import annotations

import subprocess
import sys

import pytest

from depth3d.core.errors import InputError
from depth3d.core.registry import Registry


def test_classifier_registry_builds_each_name_and_lists_them_for_an_unknown_one():
    from depth3d.models.registry import CLASSIFIER_REGISTRY, CLASSIFIERS, build_classifier

    assert isinstance(CLASSIFIER_REGISTRY, Registry)
    assert CLASSIFIERS == ("pointnet2_ssg", "pointnet2_msg", "pointconv", "sonet")
    net = build_classifier("pointnet2_ssg", 5)
    assert type(net).__name__ == "PointNet2ClsSSG"
    with pytest.raises(InputError, match="unknown model 'resnet'; expected one of pointnet2_ssg, pointnet2_msg, "
                       "pointconv, sonet"):
        build_classifier("resnet", 5)


def test_votenet_sizes_come_from_one_registry():
    from depth3d.models.votenet import build_votenet, sunrgbd_config
    from depth3d.models.votenet.config import MODEL_CONFIG_REGISTRY, MODEL_CONFIGS, micro_config

    assert MODEL_CONFIGS == ("micro", "tiny", "small", "full")
    assert MODEL_CONFIG_REGISTRY.get("micro") is micro_config
    net = build_votenet(sunrgbd_config(), "micro")
    assert net.num_proposal == micro_config()["num_proposal"] == 64
    with pytest.raises(ValueError, match="unknown VoteNet model config 'huge'; expected one of micro, tiny, "
                       "small, full"):
        build_votenet(sunrgbd_config(), "huge")


def test_train_tasks_registry_and_the_task_flag_choices_share_the_names():
    from depth3d.models.registry import CLASSIFIERS
    from depth3d.models.votenet.config import MODEL_CONFIGS
    from depth3d.train.tasks import TASKS, cls, det, discover

    assert list(discover()) == TASKS.names() == ["cls", "det"]
    assert discover()["det"] is det
    assert cls.MODELS is CLASSIFIERS
    assert det.MODEL_CONFIGS is MODEL_CONFIGS
    with pytest.raises(InputError, match="unknown training task 'seg'; expected one of cls, det"):
        TASKS.get("seg")


def test_name_lists_import_without_torch():
    code = ("import sys, depth3d.models.registry, depth3d.models.votenet.config, depth3d.train.tasks, "
            "depth3d.sim.objects; print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
