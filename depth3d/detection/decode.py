"""From VoteNet end points to scored oriented boxes (reference ``models/ap_helper.py``:
``parse_predictions`` / ``parse_groundtruths``), in the upright depth frame.

Post-processing settings (:class:`PostConfig`) mirror the reference ``CONFIG_DICT``: ``remove_empty_box``
(drop proposals with fewer than 5 input points inside), 3D NMS on the axis-aligned extent of each box
(``nms_iou`` 0.25; ``cls_nms``: only boxes of the same class suppress each other, else any two do),
``per_class_proposal`` (each kept proposal yields one detection per class with score P(class) * P(object);
used for mAP) and ``conf_thresh`` on the objectness probability. Evaluation uses the reference's
train/eval settings (per-class NMS, per-class proposals); showing detections uses its demo.py settings
(class-agnostic NMS: one box per object even when proposals on it disagree about the class).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from depth3d.geometry.boxes import boxes_corners, nms_3d_faster_samecls, points_in_boxes_count


@dataclass
class PostConfig:
    remove_empty_box: bool = False
    use_3d_nms: bool = True
    nms_iou: float = 0.25
    use_old_type_nms: bool = False
    cls_nms: bool = True
    per_class_proposal: bool = True
    conf_thresh: float = 0.05


#: settings of the reference evaluation (train.py / eval.py): mAP over per-class proposals
EVAL_CONFIG = PostConfig()
#: settings for showing detections (reference demo.py): class-agnostic NMS, one class per box, objectness > 0.5
DEMO_CONFIG = PostConfig(remove_empty_box=True, cls_nms=False, per_class_proposal=False, conf_thresh=0.5)
#: ``--nms`` choices of ``depth3d detect`` / ``stream``: suppress overlapping boxes of any class, or per class
NMS_MODES = ("agnostic", "class")


def demo_config(threshold: float = 0.5, nms: str = "agnostic") -> PostConfig:
    """:data:`DEMO_CONFIG` with objectness threshold ``threshold`` (0..1) and NMS ``nms`` ("agnostic": any two
    boxes overlapping at 3D IoU > 0.25 keep only the higher-scoring one; "class": only boxes of one class)."""
    if nms not in NMS_MODES:
        raise ValueError(f"nms must be one of {NMS_MODES}, got {nms!r}")
    return PostConfig(remove_empty_box=True, cls_nms=nms == "class", per_class_proposal=False,
                      conf_thresh=threshold)


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def decode_boxes(end_points: dict, config) -> dict:
    """Per proposal (numpy): center (B, K, 3), size (B, K, 3) full, heading (B, K) VoteNet convention,
    corners (B, K, 8, 3), sem_cls (B, K) int, sem_cls_probs (B, K, NC), obj_prob (B, K)."""
    center = end_points["center"].detach().float().cpu().numpy()
    hcls = torch.argmax(end_points["heading_scores"], -1)
    hres = torch.gather(end_points["heading_residuals"], 2, hcls.unsqueeze(-1)).squeeze(2)
    scls = torch.argmax(end_points["size_scores"], -1)
    sres = torch.gather(end_points["size_residuals"], 2,
                        scls[..., None, None].expand(-1, -1, 1, 3)).squeeze(2)
    hcls, hres = hcls.cpu().numpy(), hres.detach().float().cpu().numpy()
    scls, sres = scls.cpu().numpy(), sres.detach().float().cpu().numpy()
    heading = config.class2angle(hcls, hres)
    size = np.asarray(config.mean_size_arr)[scls] + sres
    b, k = center.shape[:2]
    corners = boxes_corners(center.reshape(-1, 3), size.reshape(-1, 3), heading.reshape(-1)).reshape(b, k, 8, 3)
    sem_probs = _softmax(end_points["sem_cls_scores"].detach().float().cpu().numpy())
    obj_prob = _softmax(end_points["objectness_scores"].detach().float().cpu().numpy())[..., 1]
    return dict(center=center, size=size, heading=heading, corners=corners,
                sem_cls=sem_probs.argmax(-1), sem_cls_probs=sem_probs, obj_prob=obj_prob)


def parse_predictions(end_points: dict, config, post: PostConfig = EVAL_CONFIG,
                      point_clouds: torch.Tensor | None = None) -> tuple[list, dict]:
    """(batch_pred_map_cls: per scan [(class id, corners (8, 3), score)], decoded dict with ``pred_mask``)."""
    dec = decode_boxes(end_points, config)
    b, k = dec["obj_prob"].shape
    nonempty = np.ones((b, k), bool)
    if post.remove_empty_box:
        pcs = (point_clouds if point_clouds is not None else end_points["point_clouds"])
        pcs = pcs[..., :3].detach().float().cpu().numpy()
        for i in range(b):
            nonempty[i] = points_in_boxes_count(pcs[i], dec["center"][i], dec["size"][i], dec["heading"][i]) >= 5
    pred_mask = np.zeros((b, k), bool)
    for i in range(b):
        ids = np.where(nonempty[i])[0]
        if not post.use_3d_nms:
            pred_mask[i, ids] = True
            continue
        c = dec["corners"][i, ids]
        boxes = np.concatenate([c.min(1), c.max(1), dec["obj_prob"][i, ids, None],
                                (dec["sem_cls"][i, ids, None] if post.cls_nms else np.zeros((len(ids), 1)))], 1)
        if len(ids):
            pick = nms_3d_faster_samecls(boxes, post.nms_iou, post.use_old_type_nms)
            pred_mask[i, ids[pick]] = True
    dec["pred_mask"] = pred_mask
    out = []
    for i in range(b):
        keep = [j for j in range(k) if pred_mask[i, j] and dec["obj_prob"][i, j] > post.conf_thresh]
        if post.per_class_proposal:
            cur = []
            for c in range(config.num_class):
                cur += [(c, dec["corners"][i, j], float(dec["sem_cls_probs"][i, j, c] * dec["obj_prob"][i, j]))
                        for j in keep]
        else:
            cur = [(int(dec["sem_cls"][i, j]), dec["corners"][i, j], float(dec["obj_prob"][i, j])) for j in keep]
        out.append(cur)
    return out, dec


def parse_groundtruths(batch: dict, config) -> list:
    """Per scan [(class id, corners (8, 3))] from label tensors (``center_label``, ``heading_class_label``,
    ``heading_residual_label``, ``size_class_label``, ``size_residual_label``, ``sem_cls_label``,
    ``box_label_mask``)."""
    g = {k: (v.detach().cpu().numpy() if torch.is_tensor(v) else np.asarray(v)) for k, v in batch.items()
         if k in ("center_label", "heading_class_label", "heading_residual_label", "size_class_label",
                  "size_residual_label", "sem_cls_label", "box_label_mask")}
    out = []
    for i in range(g["center_label"].shape[0]):
        ids = np.where(g["box_label_mask"][i] > 0.5)[0]
        heading = config.class2angle(g["heading_class_label"][i, ids], g["heading_residual_label"][i, ids])
        size = np.asarray(config.mean_size_arr)[g["size_class_label"][i, ids]] + g["size_residual_label"][i, ids]
        corners = boxes_corners(g["center_label"][i, ids, :3], size, np.asarray(heading).reshape(-1))
        out.append([(int(g["sem_cls_label"][i, j]), corners[n]) for n, j in enumerate(ids)])
    return out


def detections_to_dicts(dec: dict, config, index: int = 0, post: PostConfig = DEMO_CONFIG) -> list[dict]:
    """Kept detections of scan ``index`` (after :func:`parse_predictions` with a non-per-class config) as
    JSON-ready dicts: class, class_id, score, center, size (full l, w, h), heading (counter-clockwise about
    +z from +x, the :mod:`depth3d.viz.boxes` convention), heading_votenet, corners (8 x 3); sorted by score."""
    out = []
    for j in np.where(dec["pred_mask"][index])[0]:
        score = float(dec["obj_prob"][index, j])
        if score <= post.conf_thresh:
            continue
        cid = int(dec["sem_cls"][index, j])
        hv = float(dec["heading"][index, j])
        out.append({"class": config.classes[cid], "class_id": cid, "score": score,
                    "center": dec["center"][index, j].astype(float).tolist(),
                    "size": dec["size"][index, j].astype(float).tolist(),
                    "heading": -hv, "heading_votenet": hv,
                    "corners": dec["corners"][index, j].astype(float).tolist()})
    return sorted(out, key=lambda d: -d["score"])
