"""VOC-style average precision for 3D detection, as facebookresearch/votenet ``utils/eval_det.py`` and
``models/ap_helper.py`` (APCalculator) compute it: per class, detections sorted by score, greedy matching
to the unmatched GT box of highest oriented 3D IoU (> threshold, strictly), all-point interpolated AP.

Difference from the reference, on purpose: a class that has predictions but no ground truth in the whole
evaluation set has undefined AP (the reference divides by zero and its mAP becomes NaN); here its AP is NaN
and the mAP is the mean over the classes that have ground truth.
"""

from __future__ import annotations

from typing import Callable, Hashable

import numpy as np

from depth3d.geometry.boxes import get_iou_obb


def voc_ap(rec: np.ndarray, prec: np.ndarray, use_07_metric: bool = False) -> float:
    """Area under the precision envelope (or the 11-point VOC07 metric)."""
    if use_07_metric:
        ap = 0.0
        for t in np.arange(0.0, 1.1, 0.1):
            p = 0 if np.sum(rec >= t) == 0 else np.max(prec[rec >= t])
            ap += p / 11.0
        return float(ap)
    mrec = np.concatenate(([0.0], rec, [1.0]))
    mpre = np.concatenate(([0.0], prec, [0.0]))
    for i in range(mpre.size - 1, 0, -1):
        mpre[i - 1] = max(mpre[i - 1], mpre[i])
    i = np.where(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1]))


def eval_det_cls(pred: dict, gt: dict, ovthresh: float = 0.25, use_07_metric: bool = False,
                 get_iou_func: Callable = get_iou_obb):
    """pred {img: [(corners (8,3), score)]}, gt {img: [corners]} -> (rec, prec, ap) of one class."""
    class_recs, npos = {}, 0
    for img_id, boxes in gt.items():
        bbox = np.array(boxes)
        class_recs[img_id] = {"bbox": bbox, "det": [False] * len(bbox)}
        npos += len(bbox)
    for img_id in pred:
        class_recs.setdefault(img_id, {"bbox": np.array([]), "det": []})
    image_ids, confidence, bb_all = [], [], []
    for img_id, dets in pred.items():
        for box, score in dets:
            image_ids.append(img_id)
            confidence.append(score)
            bb_all.append(box)
    confidence = np.array(confidence, np.float64)
    order = np.argsort(-confidence, kind="stable")
    nd = len(image_ids)
    tp, fp = np.zeros(nd), np.zeros(nd)
    for d in range(nd):
        r = class_recs[image_ids[order[d]]]
        bb = np.asarray(bb_all[order[d]], np.float64)
        ovmax, jmax = -np.inf, -1
        for j in range(len(r["bbox"])):
            iou = get_iou_func(bb, np.asarray(r["bbox"][j], np.float64))
            if iou > ovmax:
                ovmax, jmax = iou, j
        if ovmax > ovthresh:
            if not r["det"][jmax]:
                tp[d] = 1.0
                r["det"][jmax] = True
            else:
                fp[d] = 1.0
        else:
            fp[d] = 1.0
    fp, tp = np.cumsum(fp), np.cumsum(tp)
    if npos == 0:
        return tp * np.nan, tp * np.nan, float("nan")
    rec = tp / float(npos)
    prec = tp / np.maximum(tp + fp, np.finfo(np.float64).eps)
    return rec, prec, voc_ap(rec, prec, use_07_metric)


def eval_det(pred_all: dict, gt_all: dict, ovthresh: float = 0.25, use_07_metric: bool = False,
             get_iou_func: Callable = get_iou_obb):
    """pred_all {img: [(cls, corners, score)]}, gt_all {img: [(cls, corners)]} -> (rec, prec, ap) dicts
    keyed by class (every class that has a prediction or a GT box)."""
    pred, gt = {}, {}
    for img_id, dets in pred_all.items():
        for c, bbox, score in dets:
            pred.setdefault(c, {}).setdefault(img_id, []).append((bbox, score))
            gt.setdefault(c, {}).setdefault(img_id, [])
    for img_id, boxes in gt_all.items():
        for c, bbox in boxes:
            gt.setdefault(c, {}).setdefault(img_id, []).append(bbox)
    rec, prec, ap = {}, {}, {}
    for c in gt:
        if c in pred:
            rec[c], prec[c], ap[c] = eval_det_cls(pred[c], gt[c], ovthresh, use_07_metric, get_iou_func)
        else:
            rec[c], prec[c], ap[c] = 0, 0, 0.0
    return rec, prec, ap


class APCalculator:
    """Accumulates per-scan predictions/GT and reports per-class AP, mAP, per-class recall and AR at one
    IoU threshold (reference ``ap_helper.APCalculator``)."""

    def __init__(self, ap_iou_thresh: float = 0.25, class2type_map: dict | None = None) -> None:
        self.ap_iou_thresh = ap_iou_thresh
        self.class2type_map = class2type_map
        self.reset()

    def reset(self) -> None:
        self.gt_map_cls: dict[Hashable, list] = {}
        self.pred_map_cls: dict[Hashable, list] = {}
        self.scan_cnt = 0

    def step(self, batch_pred_map_cls: list, batch_gt_map_cls: list) -> None:
        """Per scan of a batch: predictions [(cls, corners, score)], GT [(cls, corners)]."""
        for p, g in zip(batch_pred_map_cls, batch_gt_map_cls):
            self.gt_map_cls[self.scan_cnt] = g
            self.pred_map_cls[self.scan_cnt] = p
            self.scan_cnt += 1

    def compute_metrics(self) -> dict:
        rec, _, ap = eval_det(self.pred_map_cls, self.gt_map_cls, ovthresh=self.ap_iou_thresh)
        out = {}
        for key in sorted(ap):
            name = self.class2type_map[key] if self.class2type_map else str(key)
            out[f"{name} Average Precision"] = ap[key]
        vals = [v for v in ap.values() if not np.isnan(v)]
        out["mAP"] = float(np.mean(vals)) if vals else float("nan")
        recs = []
        for key in sorted(ap):
            name = self.class2type_map[key] if self.class2type_map else str(key)
            r = rec[key]
            v = float(r[-1]) if isinstance(r, np.ndarray) and len(r) else 0.0
            out[f"{name} Recall"] = v
            if not np.isnan(v):
                recs.append(v)
        out["AR"] = float(np.mean(recs)) if recs else float("nan")
        return out


def detection_metrics(scans: list, class2type: dict, thresholds=(0.25, 0.5)) -> dict:
    """mAP/AR and per-class AP at each IoU threshold of ``scans``: a list of (predictions [(class id, corners
    (8, 3), score)], ground truth [(class id, corners)]) per scan. Returns ``{"mAP@t", "AR@t", "AP@t":
    {class name: AP or NaN}}``."""
    out: dict = {}
    for t in thresholds:
        calc = APCalculator(t, class2type)
        calc.step([p for p, _ in scans], [g for _, g in scans])
        m = calc.compute_metrics()
        out[f"mAP@{t}"] = float(m["mAP"])
        out[f"AR@{t}"] = float(m["AR"])
        out[f"AP@{t}"] = {k.replace(" Average Precision", ""): float(v) for k, v in m.items()
                          if k.endswith("Average Precision")}
    return out


def evaluate(net, loader, config, device: str = "cpu", post=None, on_batch: Callable | None = None,
             progress: bool = False) -> list:
    """The one detection evaluation loop: run ``net`` (eval mode, no gradients) over ``loader`` (batches of
    the VoteNet training dicts) and decode with ``post`` (default: the reference evaluation's
    :data:`~depth3d.detection.decode.EVAL_CONFIG`). ``on_batch(end_points, batch)`` is called per batch (e.g.
    to accumulate losses; ``batch`` on ``device``). Returns the per-scan (predictions, ground truth) list that
    :func:`detection_metrics` scores."""
    import torch

    from depth3d.detection.decode import EVAL_CONFIG, parse_groundtruths, parse_predictions

    post = EVAL_CONFIG if post is None else post
    net.eval()
    scans: list = []
    it = loader
    if progress:
        from tqdm import tqdm

        it = tqdm(loader, desc="eval", leave=False)
    with torch.no_grad():
        for batch in it:
            batch = {k: (v.to(device) if torch.is_tensor(v) else v) for k, v in batch.items()}
            end_points = net(batch["point_clouds"])
            if on_batch is not None:
                on_batch(end_points, batch)
            preds, _ = parse_predictions(end_points, config, post, point_clouds=batch["point_clouds"])
            scans.extend(zip(preds, parse_groundtruths(batch, config)))
    return scans
