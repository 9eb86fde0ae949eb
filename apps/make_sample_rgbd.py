"""Make data/sample_rgbd/ (a registered RGB-D frame) from SUN RGB-D frame 000001 in ../shared/data.

The SUN RGB-D points (upright frame) are rotated back into the camera frame with Rtilt, rendered into a
16-bit depth image with the frame's K (z-buffer), and saved with the colour image and intrinsics.
Usage: python apps/make_sample_rgbd.py [SUNRGBD_DIR] [OUT_DIR]
"""

import shutil
import sys
from pathlib import Path

from depth3d.geometry import points_to_depth
from depth3d.io import write_depth_png
from depth3d.io.sunrgbd import read_frame

root = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parents[2] / "shared/data/sunrgbd")
out = Path(sys.argv[2] if len(sys.argv) > 2 else Path(__file__).resolve().parents[1] / "data/sample_rgbd")
frame = read_frame(root, 1)
intr = frame.intrinsics()
depth = points_to_depth(frame.camera_points(), intr, depth_scale=0.001)
out.mkdir(parents=True, exist_ok=True)
write_depth_png(out / "depth.png", depth)
shutil.copyfile(root / "image" / "000001.jpg", out / "color.jpg")
intr.save(out / "intrinsics.json")
print(f"wrote {out}: depth {depth.shape[1]}x{depth.shape[0]}, {int((depth > 0).sum())} valid pixels")
