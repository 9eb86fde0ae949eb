"""``depth3d view``: clouds, meshes and 3D boxes in the Open3D viewer, or rendered to a PNG."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("view", help="show clouds, meshes and boxes in the Open3D viewer",
                       description="Open the Open3D viewer on clouds (.ply/.pcd/.npz), meshes (.obj/.stl/.off/"
                       ".glb or PLY with faces) and 3D boxes (.json from 'depth3d detect'). With --screenshot the "
                       "view is rendered to a PNG without a screen (Xvfb is started when DISPLAY is unset).")
    p.add_argument("files", nargs="+", help="files to show together")
    p.add_argument("--screenshot", metavar="PNG", help="render to this PNG instead of opening a window")
    p.add_argument("--width", type=int, default=1280)
    p.add_argument("--height", type=int, default=960)
    p.add_argument("--point-size", type=float, default=2.0)
    p.add_argument("--front", type=float, nargs=3, metavar=("X", "Y", "Z"),
                   help="view direction (Open3D front vector); default suits camera-frame clouds")
    p.add_argument("--up", type=float, nargs=3, metavar=("X", "Y", "Z"), help="up vector of the view")
    p.add_argument("--zoom", type=float)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from depth3d.viz.viewer import load_geometry, show

    geoms = []
    for f in args.files:
        geoms.extend(load_geometry(f))
    show(geoms, screenshot=args.screenshot, width=args.width, height=args.height, point_size=args.point_size,
         front=args.front, up=args.up, zoom=args.zoom)
    if args.screenshot:
        print(f"wrote {args.screenshot}")
    return 0
