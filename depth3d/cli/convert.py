"""``depth3d convert``: depth / RGB-D / cloud files -> clouds or voxels."""

from __future__ import annotations

import argparse
from pathlib import Path

from depth3d.cli import CLIError
from depth3d.cli._common import add_force_arg, check_output_file, positive_float
from depth3d.io.depth_png import DEPTH_FORMATS

CLOUD_OUT = (".ply", ".pcd", ".npz")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("convert", help="depth/RGB-D/cloud -> cloud or voxels",
                       description="Convert a depth image (16-bit PNG or NYU raw PGM; with --intrinsics, optionally "
                       "--color), a cloud (.ply/.pcd/.npz/.npy), a mesh (.off/.obj/.stl/.gltf/.glb; sampled) or a "
                       "SUN RGB-D depth .mat into a cloud (.ply/.pcd/.npz), optionally "
                       "voxel down-sampled, or into an occupancy voxel grid (--voxels: .npz with sparse "
                       "coordinates, or .ply as an Open3D VoxelGrid).")
    p.add_argument("input", help="depth image, cloud, mesh, or SUN RGB-D depth .mat")
    p.add_argument("-o", "--output", required=True, help="output file (.ply/.pcd/.npz)")
    p.add_argument("--intrinsics", help="intrinsics JSON/YAML of the depth image (default: intrinsics.json "
                   "beside it)")
    p.add_argument("--color", help="colour image (registered to the depth image unless colour intrinsics are "
                   "given or found)")
    p.add_argument("--color-intrinsics", metavar="FILE", help="intrinsics of the colour camera (default: "
                   "color_intrinsics.json beside the depth image, as 'play --export' writes)")
    p.add_argument("--depth-to-color", metavar="FILE", help="JSON/YAML with the 4x4 depth->colour transform "
                   "(metres), or a mapping holding it as 'depth_to_color' (default: meta.json beside the depth)")
    p.add_argument("--depth-format", choices=DEPTH_FORMATS, default="auto",
                   help="depth encoding: mm (0.001 m/unit), tum (5000 units/m), sunrgbd (bit-rotated mm), nyu "
                   "(raw Kinect disparity PGM), raw (--depth-scale); auto: meta.json's scale, SUN RGB-D and NYU "
                   "detection, else millimetres")
    p.add_argument("--depth-scale", type=float, help="metres per depth unit (librealsense's convention, "
                   "default 0.001; Open3D's depth_scale 1000 is the inverse)")
    p.add_argument("--mesh-points", type=int, metavar="N",
                   help="points sampled on a mesh input's surface (default 50000)")
    p.add_argument("--min-depth", type=float, help="metres (depth images only; default 0)")
    p.add_argument("--max-depth", type=float, help="metres (depth images only; default no limit)")
    p.add_argument("--voxel", type=positive_float, metavar="SIZE", help="voxel down-sample with this edge (metres)")
    p.add_argument("--voxels", action="store_true", help="write an occupancy voxel grid (needs --voxel)")
    p.add_argument("--normals", type=float, metavar="RADIUS", help="estimate normals within RADIUS metres")
    add_force_arg(p)
    p.set_defaults(func=run)


def load_any_cloud(args: argparse.Namespace):
    from depth3d.core.cloud import PointCloud
    from depth3d.geometry import rgbd_to_cloud
    from depth3d.io.clouds import READ_SUFFIXES, read_cloud
    from depth3d.io.meshes import DEFAULT_SAMPLES, is_mesh_file

    src = Path(args.input)
    suffix = src.suffix.lower()
    if suffix in (".png", ".pgm"):
        from depth3d.cli._common import load_rgbd

        frame = load_rgbd(src, args.intrinsics, args.color, args.depth_scale, color_intrinsics=args.color_intrinsics,
                          depth_to_color=args.depth_to_color, depth_format=args.depth_format)
        if args.mesh_points is not None:
            raise CLIError(f"{src}: --mesh-points applies to mesh inputs only", code=2)
        return rgbd_to_cloud(frame, min_depth=args.min_depth or 0.0,
                             max_depth=float("inf") if args.max_depth is None else args.max_depth)
    depth_keys = ("intrinsics", "color", "color_intrinsics", "depth_to_color", "depth_scale", "min_depth", "max_depth")
    depth_opts = [f"--{k.replace('_', '-')}" for k in depth_keys if getattr(args, k) is not None]
    if args.depth_format != "auto":
        depth_opts.append("--depth-format")
    if depth_opts:
        raise CLIError(f"{src}: {', '.join(depth_opts)} apply to depth images only, not to a {suffix} input",
                       code=2)
    mesh = suffix != ".mat" and is_mesh_file(src)
    if args.mesh_points is not None and not mesh:
        raise CLIError(f"{src}: --mesh-points applies to mesh inputs only", code=2)
    if mesh:
        return read_cloud(src, mesh_points=args.mesh_points or DEFAULT_SAMPLES)
    if suffix in READ_SUFFIXES:
        return read_cloud(src)
    if suffix == ".mat":
        from depth3d.io.sunrgbd import read_instance_mat

        inst = read_instance_mat(src)
        return PointCloud(inst[:, :3].copy(), inst[:, 3:6].copy())
    raise CLIError(f"{src}: unsupported input {suffix!r}; expected a depth .png/.pgm, a cloud (.ply/.pcd/.npz/"
                   ".npy), a mesh (.off/.obj/.stl/.gltf/.glb) or a SUN RGB-D .mat", code=2)


def run(args: argparse.Namespace) -> int:
    from depth3d.geometry import estimate_normals, voxel_downsample, voxelize
    from depth3d.io.clouds import write_cloud

    if args.voxels and not args.voxel:
        raise CLIError("--voxels needs --voxel SIZE", code=2)
    import math

    for name in ("normals", "depth_scale", "mesh_points", "min_depth", "max_depth"):
        v = getattr(args, name)
        if v is None:
            continue
        low_ok = v >= 0 if name == "min_depth" else v > 0
        if math.isnan(v) or not low_ok or (math.isinf(v) and name != "max_depth"):
            raise CLIError(f"--{name.replace('_', '-')} must be a {'non-negative' if name == 'min_depth' else 'positive'}"
                           f" finite number, got {v}", code=2)
    out = check_output_file(args.output, (".npz", ".ply") if args.voxels else CLOUD_OUT, force=args.force)
    cloud = load_any_cloud(args)
    n_in = len(cloud)
    if args.voxels:
        try:
            grid = voxelize(cloud, args.voxel)
        except ValueError as exc:
            raise CLIError(f"{args.input}: {exc}") from None
        if out.suffix.lower() == ".npz":
            import numpy as np

            from depth3d.core.atomic import atomic_write

            with atomic_write(out) as f:
                np.savez(f, coords=grid.coords, counts=grid.counts, voxel_size=grid.voxel_size, origin=grid.origin,
                         colors=grid.colors if grid.colors is not None else np.zeros((0, 3), np.float32))
        elif out.suffix.lower() == ".ply":
            import open3d as o3d

            from depth3d.core.atomic import atomic_path

            with atomic_path(out) as tmp:
                if not o3d.io.write_voxel_grid(str(tmp), grid.to_open3d()):
                    raise CLIError(f"{out}: Open3D could not write the voxel grid")
        else:  # pragma: no cover - check_output_file allows .npz/.ply only
            raise CLIError(f"{out}: voxel grids are written as .npz or .ply", code=2)
        print(f"{args.input}: {n_in} points -> {len(grid.coords)} occupied voxels of {args.voxel} m -> {out}")
        return 0
    try:
        if args.voxel:
            cloud = voxel_downsample(cloud, args.voxel)
        if args.normals:
            cloud = estimate_normals(cloud, radius=args.normals)
    except ValueError as exc:  # e.g. NaN points: name the input they came from
        raise CLIError(f"{args.input}: {exc}") from None
    write_cloud(out, cloud)
    print(f"{args.input}: {n_in} points -> {len(cloud)} points -> {out}")
    return 0
