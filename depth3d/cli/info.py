"""``depth3d info``: what a file holds."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="describe what a file holds",
                       description="Describe clouds (.ply/.pcd/.npz/.npy, VoteNet _pc.npz, ScanNet _vert.npy), meshes "
                       "(.off/.obj/.stl/.gltf/.glb), depth/colour images (SUN RGB-D and NYU encodings detected), "
                       "intrinsics (depth3d/Open3D/librealsense/OpenCV) and stereo calibration files "
                       "(.json/.yaml/.xml), boxes (.json), librealsense recordings (.db3/.bag), checkpoints (.pt) and "
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
    if path.is_dir():
        return {"kind": "folder", "entries": len(list(path.iterdir()))}
    if path.stat().st_size == 0:
        raise ValueError(f"{path}: empty file (0 bytes)")
    from depth3d.io.meshes import is_mesh_file

    if suffix != ".mat" and is_mesh_file(path):
        from depth3d.io.meshes import read_mesh

        m = read_mesh(path)
        return {"kind": "triangle mesh", "vertices": len(m.vertices), "faces": len(m.faces),
                "watertight": bool(m.is_watertight), "bounds": _bounds(np.asarray(m.vertices)),
                "detect": "readable (surface sampled to a cloud)"}
    if suffix in (".ply", ".pcd", ".npz", ".npy"):
        from depth3d.io.clouds import read_cloud

        c = read_cloud(path)
        d = {"kind": "point cloud", "points": len(c), "colors": c.colors is not None,
             "normals": c.normals is not None, "bounds": _bounds(np.asarray(c.points))}
        if path.name.endswith("_pc.npz"):
            d.update(kind="VoteNet scan (pc: x, y, z [, r, g, b], upright frame)")
        elif path.name.endswith("_vert.npy"):
            d.update(kind="ScanNet VoteNet vertices (x, y, z, r, g, b)")
        elif suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                if "pc" in z:
                    d.update(kind="VoteNet scan (pc, upright frame)")
        d["detect"] = "readable"
        return d
    if suffix in (".png", ".jpg", ".jpeg", ".pgm", ".ppm", ".bmp", ".tif", ".tiff"):
        from depth3d.io.depth_png import imread

        img = imread(path)
        d = {"kind": "image", "width": img.shape[1], "height": img.shape[0], "dtype": str(img.dtype),
             "channels": 1 if img.ndim == 2 else img.shape[2]}
        if img.dtype == np.uint16 and img.ndim == 2:
            from depth3d.io.depth_png import read_depth

            try:
                depth, scale, fmt = read_depth(path)
            except ValueError:
                depth, scale, fmt = img, None, "unknown"
            valid = img > 0
            d.update(kind="depth image (16-bit)", valid_fraction=round(float(valid.mean()), 4),
                     raw_range=[int(img[valid].min()), int(img[valid].max())] if valid.any() else None,
                     encoding={"raw": "plain units (millimetres unless told otherwise: --depth-format)",
                               "sunrgbd": "SUN RGB-D bit-rotated millimetres",
                               "nyu": "NYU Depth v2 raw Kinect disparity"}.get(fmt, fmt))
            if scale is not None and (depth > 0).any():
                m = depth[depth > 0].astype(np.float64) * scale
                d["depth_m"] = [round(float(m.min()), 3), round(float(np.median(m)), 3), round(float(m.max()), 3)]
        return d
    if suffix in (".db3", ".bag"):
        try:
            from depth3d.capture.playback import describe_recording
        except ImportError:
            return {"kind": "librealsense recording", "bytes": path.stat().st_size}
        return describe_recording(path)
    if suffix == ".mat":
        from depth3d.io.sunrgbd import read_mat

        mat = read_mat(path)
        return {"kind": "MATLAB file", "variables": {k: list(np.shape(v)) for k, v in mat.items()
                                                     if not k.startswith("__")}}
    if suffix in (".json", ".yaml", ".yml", ".xml"):
        return _describe_structured(path)
    if suffix in (".pt", ".pth", ".tar"):
        return _describe_checkpoint(path)
    return {"kind": "unknown", "bytes": path.stat().st_size}


def _describe_structured(path: Path) -> dict:
    """JSON/YAML/XML: boxes, camera intrinsics (depth3d/Open3D/librealsense/OpenCV layouts) or a stereo
    calibration (OpenCV FileStorage YAML or its JSON twin)."""
    from depth3d.core.intrinsics import intrinsics_from_mapping, read_mapping

    data = read_mapping(path)
    if isinstance(data, dict) and "boxes" in data:
        classes: dict[str, int] = {}
        for b in data["boxes"] if isinstance(data["boxes"], list) else []:
            name = str(b.get("class", "?")) if isinstance(b, dict) else "?"
            classes[name] = classes.get(name, 0) + 1
        return {"kind": "3D boxes", "count": len(data["boxes"]), "classes": classes}
    if isinstance(data, dict) and any(k in data for k in ("K1", "M1", "cameraMatrix1")):
        from depth3d.stereo.calibration import load_calibration

        cal = load_calibration(path)
        d = {"kind": "stereo calibration", "size": f"{cal.image_size[0]}x{cal.image_size[1]}",
             "baseline": round(float(cal.baseline), 6), "focal_px": round(float(cal.focal), 3)}
        for key in ("rms", "rms_left", "rms_right"):
            if isinstance(data.get(key), (int, float)):
                d[key] = round(float(data[key]), 4)
        return d
    try:
        intr = intrinsics_from_mapping(data, str(path))
    except ValueError:
        looks = isinstance(data, dict) and any(k in data for k in ("fx", "K", "camera_matrix", "cameraMatrix",
                                                                    "intrinsic_matrix", "ppx"))
        if looks:  # camera intrinsics that do not hold up: say why instead of listing the keys
            raise
        intr = None
    if intr is not None:
        return {"kind": "camera intrinsics", **intr.to_dict()}
    return {"kind": "structured file", "keys": sorted(map(str, data)) if isinstance(data, dict)
            else type(data).__name__}


def _describe_checkpoint(path: Path) -> dict:
    """A depth3d training checkpoint (``depth3d train``), a VoteNet checkpoint or any torch state dict."""
    from depth3d.core.safe_load import load_torch_file

    ck = load_torch_file(path)  # weights only: a file that needs code to load is refused, unread
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
            msg = " ".join(str(exc).split())
            results[f] = {"error": msg if f in msg else f"{f}: {msg}"}
            status = 1
        except Exception as exc:  # a reader we call failed in its own way: report it and go on
            if getattr(args, "debug", False):
                raise
            results[f] = {"error": f"{f}: could not be read ({type(exc).__name__}: {str(exc)[:200]})"}
            status = 1
    for d in results.values():
        if "error" in d:
            print(f"depth3d info: error: {d['error']}", file=sys.stderr)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for f, d in results.items():
            print(f"{f}:")
            for k, v in d.items():
                print(f"  {k}: {v}")
    return status
