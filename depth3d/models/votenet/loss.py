"""VoteNet losses as facebookresearch/votenet ``models/loss_helper.py`` defines them.

Labels (per scene, padded to MAX_NUM_OBJ boxes, as the reference datasets produce them):
``center_label`` (B, K2, 3), ``heading_class_label`` (B, K2) int64, ``heading_residual_label`` (B, K2),
``size_class_label`` (B, K2) int64, ``size_residual_label`` (B, K2, 3) (full size minus cluster mean),
``sem_cls_label`` (B, K2) int64, ``box_label_mask`` (B, K2) float (1 for real boxes), ``vote_label``
(B, N, 9) (up to three offsets point -> centre of the boxes containing it), ``vote_label_mask`` (B, N).

Total = 10 * (vote + 0.5 objectness + box + 0.1 semantic), box = centre + 0.1 heading-cls + heading-reg
+ 0.1 size-cls + size-reg. Objectness: positive within 0.3 m of a GT centre, negative beyond 0.6 m,
class weights 0.2/0.8. One deliberate difference: padded (mask 0) GT boxes are excluded from the nearest-
centre search of the objectness loss (the reference leaves them at the origin, where the camera is).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

FAR_THRESHOLD = 0.6
NEAR_THRESHOLD = 0.3
GT_VOTE_FACTOR = 3
OBJECTNESS_CLS_WEIGHTS = (0.2, 0.8)
#: the loss terms and diagnostics :func:`get_loss` puts into the end points (besides the total ``loss``),
#: logged by training and validation
LOSS_KEYS = ("vote_loss", "objectness_loss", "box_loss", "sem_cls_loss", "center_loss", "heading_cls_loss",
             "heading_reg_loss", "size_cls_loss", "size_reg_loss", "obj_acc", "pos_ratio")


def huber_loss(error: torch.Tensor, delta: float = 1.0) -> torch.Tensor:
    """0.5 x^2 for |x| <= delta, delta (|x| - delta) + 0.5 delta^2 beyond (elementwise)."""
    abs_error = torch.abs(error)
    quadratic = torch.clamp(abs_error, max=delta)
    linear = abs_error - quadratic
    return 0.5 * quadratic ** 2 + delta * linear


def nn_distance(pc1: torch.Tensor, pc2: torch.Tensor, l1smooth: bool = False, delta: float = 1.0,
                l1: bool = False):
    """Chamfer terms: (dist1 (B, N), idx1, dist2 (B, M), idx2); squared L2, L1 or smooth-L1 distances."""
    diff = pc1.unsqueeze(2) - pc2.unsqueeze(1)
    if l1smooth:
        d = huber_loss(diff, delta).sum(-1)
    elif l1:
        d = diff.abs().sum(-1)
    else:
        d = (diff ** 2).sum(-1)
    dist1, idx1 = torch.min(d, dim=2)
    dist2, idx2 = torch.min(d, dim=1)
    return dist1, idx1, dist2, idx2


def compute_vote_loss(end_points: dict) -> torch.Tensor:
    """Mean over seeds inside boxes of min over GT votes of the L1 distance to the predicted vote."""
    seed_xyz = end_points["seed_xyz"]
    b, num_seed = seed_xyz.shape[:2]
    vote_xyz = end_points["vote_xyz"]
    seed_inds = end_points["seed_inds"].long()
    mask = torch.gather(end_points["vote_label_mask"], 1, seed_inds).float()
    gt = torch.gather(end_points["vote_label"], 1, seed_inds.unsqueeze(-1).expand(-1, -1, 3 * GT_VOTE_FACTOR))
    gt = gt + seed_xyz.repeat(1, 1, 3)
    _, _, dist2, _ = nn_distance(vote_xyz.reshape(b * num_seed, -1, 3),
                                 gt.reshape(b * num_seed, GT_VOTE_FACTOR, 3), l1=True)
    votes_dist = dist2.min(dim=1)[0].reshape(b, num_seed)
    return (votes_dist * mask).sum() / (mask.sum() + 1e-6)


def compute_objectness_loss(end_points: dict):
    """(loss, objectness_label (B, K) int64, objectness_mask (B, K), object_assignment (B, K) int64)."""
    agg = end_points["aggregated_vote_xyz"]
    gt_center = end_points["center_label"][:, :, 0:3]
    diff = agg.unsqueeze(2) - gt_center.unsqueeze(1)
    d2 = (diff ** 2).sum(-1)
    if "box_label_mask" in end_points:
        d2 = d2.masked_fill(end_points["box_label_mask"].unsqueeze(1) < 0.5, 1e8)
    dist1, ind1 = d2.min(dim=2)
    eu = torch.sqrt(dist1 + 1e-6)
    label = (eu < NEAR_THRESHOLD).long()
    mask = ((eu < NEAR_THRESHOLD) | (eu > FAR_THRESHOLD)).float()
    w = torch.tensor(OBJECTNESS_CLS_WEIGHTS, dtype=agg.dtype, device=agg.device)
    loss = F.cross_entropy(end_points["objectness_scores"].transpose(2, 1), label, weight=w, reduction="none")
    loss = (loss * mask).sum() / (mask.sum() + 1e-6)
    return loss, label, mask, ind1


def compute_box_and_sem_cls_loss(end_points: dict, config) -> tuple:
    """(center, heading_cls, heading_reg, size_cls, size_reg, sem_cls) losses (reference definitions)."""
    nh, ns = config.num_heading_bin, config.num_size_cluster
    assign = end_points["object_assignment"]
    b, k = assign.shape
    pred_center = end_points["center"]
    gt_center = end_points["center_label"][:, :, 0:3]
    dist1, _, dist2, _ = nn_distance(pred_center, gt_center)
    box_mask = end_points["box_label_mask"].float()
    obj = end_points["objectness_label"].float()
    norm = obj.sum() + 1e-6
    center_loss = (dist1 * obj).sum() / norm + (dist2 * box_mask).sum() / (box_mask.sum() + 1e-6)

    hcl = torch.gather(end_points["heading_class_label"], 1, assign)
    heading_cls = (F.cross_entropy(end_points["heading_scores"].transpose(2, 1), hcl, reduction="none") * obj).sum() / norm
    hrl = torch.gather(end_points["heading_residual_label"], 1, assign) / (np.pi / nh)
    onehot = F.one_hot(hcl, nh).to(pred_center.dtype)
    heading_reg = huber_loss((end_points["heading_residuals_normalized"] * onehot).sum(-1) - hrl, 1.0)
    heading_reg = (heading_reg * obj).sum() / norm

    scl = torch.gather(end_points["size_class_label"], 1, assign)
    size_cls = (F.cross_entropy(end_points["size_scores"].transpose(2, 1), scl, reduction="none") * obj).sum() / norm
    srl = torch.gather(end_points["size_residual_label"], 1, assign.unsqueeze(-1).expand(-1, -1, 3))
    oh = F.one_hot(scl, ns).to(pred_center.dtype).unsqueeze(-1)  # (B, K, NS, 1)
    pred_sr = (end_points["size_residuals_normalized"] * oh).sum(2)
    mean = torch.as_tensor(config.mean_size_arr, dtype=pred_center.dtype, device=pred_center.device)
    mean_label = (oh * mean[None, None]).sum(2)
    size_reg = huber_loss(pred_sr - srl / mean_label, 1.0).mean(-1)
    size_reg = (size_reg * obj).sum() / norm

    sem = torch.gather(end_points["sem_cls_label"], 1, assign)
    sem_loss = (F.cross_entropy(end_points["sem_cls_scores"].transpose(2, 1), sem, reduction="none") * obj).sum() / norm
    return center_loss, heading_cls, heading_reg, size_cls, size_reg, sem_loss


def get_loss(end_points: dict, config) -> tuple[torch.Tensor, dict]:
    """Total loss and the end points extended with every term (``vote_loss``, ``objectness_loss``,
    ``center_loss``, ..., ``box_loss``, ``sem_cls_loss``, ``loss``, ``obj_acc``, ``pos_ratio``)."""
    vote_loss = compute_vote_loss(end_points)
    obj_loss, obj_label, obj_mask, assign = compute_objectness_loss(end_points)
    end_points.update(vote_loss=vote_loss, objectness_loss=obj_loss, objectness_label=obj_label,
                      objectness_mask=obj_mask, object_assignment=assign)
    total = obj_label.numel()
    end_points["pos_ratio"] = obj_label.float().sum() / float(total)
    end_points["neg_ratio"] = obj_mask.sum() / float(total) - end_points["pos_ratio"]
    c, hc, hr, sc, sr, sem = compute_box_and_sem_cls_loss(end_points, config)
    end_points.update(center_loss=c, heading_cls_loss=hc, heading_reg_loss=hr, size_cls_loss=sc,
                      size_reg_loss=sr, sem_cls_loss=sem)
    box_loss = c + 0.1 * hc + hr + 0.1 * sc + sr
    end_points["box_loss"] = box_loss
    loss = (vote_loss + 0.5 * obj_loss + box_loss + 0.1 * sem) * 10
    end_points["loss"] = loss
    pred = end_points["objectness_scores"].argmax(2)
    end_points["obj_acc"] = ((pred == obj_label).float() * obj_mask).sum() / (obj_mask.sum() + 1e-6)
    return loss, end_points
