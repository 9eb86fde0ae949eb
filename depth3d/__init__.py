"""depth3d: a toolkit for 3D vision and depth sensing.

Layers (one folder each): ``core`` (intrinsics, poses, frames, clouds), ``geometry`` (depth <-> cloud <->
voxels), ``io`` (files), ``capture`` (cameras and recordings), ``sim`` (simulated scenes and sensors),
``stereo``, ``tof``, ``structured_light`` (depth from raw sensor data), ``ops`` (C++/CUDA neighbour
search), ``models`` (point networks, VoteNet), ``datasets``, ``detection`` (boxes, NMS, evaluation),
``train``, ``viz`` (Open3D viewer) and ``cli``.

Importing :mod:`depth3d` is cheap: heavy dependencies (open3d, pyrealsense2, OpenCV) load on first use.
"""

__version__ = "0.1.0"
