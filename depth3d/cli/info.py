"""``depth3d info``: what a file holds."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="describe what a file holds",
                       description="Describe clouds (.ply/.pcd/.npz), depth/colour images, intrinsics and "
                       "calibration files (.json/.yaml), boxes (.json), librealsense recordings (.db3/.bag), checkpoints (.pt) and "
                       "SUN RGB-D .mat files.")
    p.add_argument("files", nargs="+")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(func=run)


def _bounds(points: np.ndarray) -> dict:
    if len(points) == 0:
        return {}
    return {"min": np.round(points.min(0), 4).tolist(), "max": np.round(points.max(0), 4).tolist()}


def describe(path: Path) -> dict:
    """A dict describing ``path``; raises FileNotFoundError / ValueError for unreadable files."""
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    suffix = path.suffix.lower()
    if suffix in (".ply", ".pcd", ".npz"):
        from depth3d.io.clouds import read_cloud

        c = read_cloud(path)
        return {"kind": "point cloud", "points": len(c), "colors": c.colors is not None,
                "normals": c.normals is not None, "bounds_m": _bounds(np.asarray(c.points))}
    if suffix in (".png", ".jpg", ".jpeg"):
        import cv2

        img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if img is None:
            raise ValueError(f"{path}: not a readable image")
        d = {"kind": "image", "width": img.shape[1], "height": img.shape[0], "dtype": str(img.dtype),
             "channels": 1 if img.ndim == 2 else img.shape[2]}
        if img.dtype == np.uint16 and img.ndim == 2:
            valid = img > 0
            d.update(kind="depth image (16-bit)", valid_fraction=round(float(valid.mean()), 4),
                     raw_range=[int(img[valid].min()), int(img[valid].max())] if valid.any() else None)
        return d
    if suffix in (".db3", ".bag"):
        try:
            from depth3d.capture.playback import describe_recording
        except ImportError:
            return {"kind": "librealsense recording", "bytes": path.stat().st_size}
        return describe_recording(path)
    if suffix == ".mat":
        import scipy.io

        mat = scipy.io.loadmat(str(path))
        return {"kind": "MATLAB file", "variables": {k: list(np.shape(v)) for k, v in mat.items()
                                                     if not k.startswith("__")}}
    if suffix in (".json", ".yaml", ".yml"):
        if suffix == ".json":
            data = json.loads(path.read_text())
        else:
            import yaml

            data = yaml.safe_load(path.read_text())
        if isinstance(data, dict) and "boxes" in data:
            classes: dict[str, int] = {}
            for b in data["boxes"]:
                classes[str(b.get("class", "?"))] = classes.get(str(b.get("class", "?")), 0) + 1
            return {"kind": "3D boxes", "count": len(data["boxes"]), "classes": classes}
        if isinstance(data, dict) and {"fx", "fy"} <= set(data):
            return {"kind": "intrinsics", **data}
        return {"kind": "structured file", "keys": sorted(data) if isinstance(data, dict) else type(data).__name__}
    if suffix in (".pt", ".pth", ".tar"):
        return _describe_checkpoint(path)
    if path.is_dir():
        return {"kind": "folder", "entries": len(list(path.iterdir()))}
    return {"kind": "unknown", "bytes": path.stat().st_size}


def _describe_checkpoint(path: Path) -> dict:
    """A depth3d training checkpoint (``depth3d train``), a VoteNet checkpoint or any torch state dict."""
    import torch

    try:
        ck = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:
        raise ValueError(f"{path}: not a readable torch checkpoint ({exc})") from None
    if not isinstance(ck, dict):
        return {"kind": "torch file", "type": type(ck).__name__}
    sd = ck.get("model") if isinstance(ck.get("model"), dict) else ck.get("model_state_dict")
    # learnable parameters: every tensor but the batch-norm statistics
    params = (int(sum(v.numel() for k, v in sd.items() if hasattr(v, "numel")
                      and not k.endswith(("running_mean", "running_var", "num_batches_tracked"))))
              if isinstance(sd, dict) else None)
    if "task" in ck:
        cfg = ck.get("config", {})
        m = ck.get("metrics", {})
        return {"kind": f"depth3d {ck['task']} training checkpoint", "epoch": ck.get("epoch"),
                "model": cfg.get("model"), "parameters": params, "best": ck.get("best"),
                "metrics": {k: round(v, 4) for k, v in m.items() if k.startswith("val/") and isinstance(v, float)}}
    if "hparams" in ck:
        extra = ck.get("metrics") or {}
        flat = {f"{k}/{k2}": v2 for k, v in extra.items() if isinstance(v, dict) for k2, v2 in v.items()}
        flat.update({k: v for k, v in extra.items() if not isinstance(v, dict)})
        return {"kind": "VoteNet checkpoint", "parameters": params,
                "classes": ck.get("dataset_config", {}).get("classes"), "num_points": ck.get("num_points"),
                "trained_on": ck.get("trained_on"),
                "metrics": {k: round(v, 4) for k, v in flat.items()
                            if ("mAP" in k or "AR" in k) and isinstance(v, float)}}
    return {"kind": "torch checkpoint", "keys": sorted(ck)[:20], "parameters": params}


def run(args: argparse.Namespace) -> int:
    status = 0
    results = {}
    for f in args.files:
        try:
            results[f] = describe(Path(f))
        except (FileNotFoundError, ValueError, OSError) as exc:
            results[f] = {"error": str(exc)}
            status = 1
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for f, d in results.items():
            print(f"{f}:")
            for k, v in d.items():
                print(f"  {k}: {v}")
    return status
