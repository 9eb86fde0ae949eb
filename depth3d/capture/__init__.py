"""depth3d.capture: choosing a source from a spec (``source.open_source``), live RealSense cameras, librealsense
recordings (``record``, ``playback``), TUM RGB-D folders and the streaming pipeline. The source interface itself
is :mod:`depth3d.core.source`."""
