"""File I/O: clouds (PLY/PCD/NPZ), 16-bit depth PNG, SUN RGB-D frames (atomic writes: depth3d.core.atomic)."""

from depth3d.core.atomic import atomic_path, atomic_write
from depth3d.io.clouds import read_cloud, write_cloud
from depth3d.io.depth_png import read_color, read_depth_png, write_color, write_depth_png

__all__ = ["atomic_path", "atomic_write", "read_cloud", "write_cloud", "read_color", "read_depth_png",
           "write_color", "write_depth_png"]
