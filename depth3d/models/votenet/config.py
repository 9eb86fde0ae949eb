"""Dataset configurations of VoteNet (classes, heading bins, size clusters), the box parametrisation and the
model sizes (:data:`MODEL_CONFIG_REGISTRY`). Imports no torch.

Boxes follow facebookresearch/votenet: centre (3,) metres in the upright depth frame (x right, y forward,
z up); full size (l, w, h); heading angle ``theta`` such that the box's l axis points along
``(cos(-theta), sin(-theta))`` (the box is rotated by ``rotz(-theta)``, as ``my_compute_box_3d`` does).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from depth3d.core.registry import Registry

SUNRGBD_CLASSES = ("bed", "table", "sofa", "chair", "toilet", "desk", "dresser", "night_stand", "bookshelf",
                   "bathtub")
#: mean full sizes (l, w, h) metres of the SUN RGB-D classes (model_util_sunrgbd.py)
SUNRGBD_MEAN_SIZE = {
    "bathtub": (0.765840, 1.398258, 0.472728),
    "bed": (2.114256, 1.620300, 0.927272),
    "bookshelf": (0.404671, 1.071108, 1.688889),
    "chair": (0.591958, 0.552978, 0.827272),
    "desk": (0.695190, 1.346299, 0.736364),
    "dresser": (0.528526, 1.002642, 1.172878),
    "night_stand": (0.500618, 0.632163, 0.683424),
    "sofa": (0.923508, 1.867419, 0.845495),
    "table": (0.791118, 1.279516, 0.718182),
    "toilet": (0.699104, 0.454178, 0.756250),
}
SCANNET_CLASSES = ("cabinet", "bed", "chair", "sofa", "table", "door", "window", "bookshelf", "picture",
                   "counter", "desk", "curtain", "refrigerator", "showercurtrain", "toilet", "sink", "bathtub",
                   "garbagebin")
#: ScanNet raw nyu40 ids of the 18 classes, in class order (model_util_scannet.py)
SCANNET_NYU40IDS = (3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14, 16, 24, 28, 33, 34, 36, 39)


@dataclass
class DatasetConfig:
    """Classes and box parametrisation. ``mean_size_arr``: (num_size_cluster, 3) float32 full sizes."""

    classes: tuple[str, ...]
    num_heading_bin: int
    mean_size_arr: np.ndarray
    name: str = "custom"
    type2class: dict = field(init=False)

    def __post_init__(self) -> None:
        self.mean_size_arr = np.asarray(self.mean_size_arr, dtype=np.float32).reshape(-1, 3)
        self.type2class = {c: i for i, c in enumerate(self.classes)}

    @property
    def num_class(self) -> int:
        return len(self.classes)

    @property
    def num_size_cluster(self) -> int:
        return int(self.mean_size_arr.shape[0])

    @property
    def class2type(self) -> dict:
        return dict(enumerate(self.classes))

    def angle2class(self, angle: float) -> tuple[int, float]:
        """Heading angle (radians) -> (bin, residual) as the reference (bin 0 centred on 0)."""
        n = self.num_heading_bin
        angle = angle % (2 * np.pi)
        per = 2 * np.pi / float(n)
        shifted = (angle + per / 2) % (2 * np.pi)
        cls = int(shifted / per)
        return cls, shifted - (cls * per + per / 2)

    def class2angle(self, cls, residual, to_label_format: bool = True):
        """Inverse of :meth:`angle2class`; in label format the angle lies in (-pi, pi]."""
        per = 2 * np.pi / float(self.num_heading_bin)
        angle = cls * per + residual
        if to_label_format:
            angle = np.where(angle > np.pi, angle - 2 * np.pi, angle)
        return angle

    def size2class(self, size: np.ndarray, type_name: str) -> tuple[int, np.ndarray]:
        """Full size (3,) of a box of class ``type_name`` -> (size cluster, residual (3,))."""
        c = self.type2class[type_name]
        return c, np.asarray(size) - self.mean_size_arr[c]

    def class2size(self, pred_cls: int, residual: np.ndarray) -> np.ndarray:
        return self.mean_size_arr[int(pred_cls)] + residual

    def to_dict(self) -> dict:
        return {"name": self.name, "classes": list(self.classes), "num_heading_bin": self.num_heading_bin,
                "mean_size_arr": self.mean_size_arr.tolist()}

    @classmethod
    def from_dict(cls, d: dict) -> "DatasetConfig":
        return cls(tuple(d["classes"]), int(d["num_heading_bin"]), np.asarray(d["mean_size_arr"]),
                   d.get("name", "custom"))


def sunrgbd_config() -> DatasetConfig:
    """SUN RGB-D v1 10-class config: 12 heading bins, one size cluster per class."""
    return DatasetConfig(SUNRGBD_CLASSES, 12, np.array([SUNRGBD_MEAN_SIZE[c] for c in SUNRGBD_CLASSES]),
                         "sunrgbd")


def scannet_config(mean_size_arr: np.ndarray | None = None) -> DatasetConfig:
    """ScanNet v2 18-class config: 1 heading bin (axis-aligned boxes), 18 size clusters. The reference
    loads the cluster sizes from ``scannet/meta_data/scannet_means.npz``; pass them as ``mean_size_arr``
    (18, 3) (defaults to ones, adequate for shape checks and training from scratch)."""
    arr = np.ones((18, 3), np.float32) if mean_size_arr is None else mean_size_arr
    return DatasetConfig(SCANNET_CLASSES, 1, arr, "scannet")


def small_config() -> dict:
    """A CPU-sized configuration (about 8k input points, width 0.5): keyword arguments for VoteNet."""
    return dict(npoints=(1024, 512, 256, 128), radii=(0.2, 0.4, 0.8, 1.2), nsamples=(32, 16, 16, 16),
                width=0.5, num_proposal=128)


def tiny_config() -> dict:
    """The configuration of the shipped model, data/votenet_synthetic.pt (about 4k input points, width 0.35)."""
    return dict(npoints=(512, 256, 128, 64), radii=(0.2, 0.4, 0.8, 1.2), nsamples=(32, 16, 16, 16),
                width=0.35, num_proposal=128)


def micro_config() -> dict:
    """The smallest configuration (about 2k input points, 128 seeds, 64 proposals, width 0.25), trainable
    on a busy 2-core CPU in half an hour."""
    return dict(npoints=(256, 128, 64, 32), radii=(0.2, 0.4, 0.8, 1.2), nsamples=(32, 16, 16, 8),
                width=0.25, num_proposal=64)


def full_config() -> dict:
    """The paper's network: no keyword arguments beyond :func:`~depth3d.models.votenet.build_votenet`'s."""
    return {}


#: model sizes of :func:`~depth3d.models.votenet.build_votenet` -> its VoteNet keyword arguments:
#: "full" is the paper's network, the rest shrink it for CPUs
MODEL_CONFIG_REGISTRY: Registry[Callable[[], dict]] = Registry("VoteNet model config")
MODEL_CONFIG_REGISTRY.register("micro", micro_config, "about 2k input points, width 0.25")
MODEL_CONFIG_REGISTRY.register("tiny", tiny_config, "about 4k input points, width 0.35 (the shipped model)")
MODEL_CONFIG_REGISTRY.register("small", small_config, "about 8k input points, width 0.5")
MODEL_CONFIG_REGISTRY.register("full", full_config, "the paper's network")
#: the model size names, smallest first
MODEL_CONFIGS: tuple[str, ...] = tuple(MODEL_CONFIG_REGISTRY.names())
