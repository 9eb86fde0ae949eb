"""depth3d.stereo: depth from calibrated stereo pairs (OpenCV based; cv2 is imported inside functions).

Modules:
    calibration  board detection (chessboard / ChArUco), ``calibrate_stereo``, ``StereoCalibration``
                 (save: OpenCV FileStorage YAML + JSON, atomically), ``load_calibration`` (checked).
    rectify      ``Rectifier`` (fixed-point maps computed once, alpha choice), ``draw_rectification``.
    matching     ``StereoMatcher`` (SGBM / BM, left-right check, speckles, sub-pixel refinement,
                 edge-aware fill); ``from_fixed_point`` is the one place OpenCV's /16 is undone.
    depth        ``disparity_to_depth`` (Z = f B / d), ``reproject_q`` (Q matrix), ``CloudMaker``.
    pipeline     ``StereoPipeline``: rectify -> match -> depth -> cloud.
    source       ``open_stereo_source`` for ``open_source("stereo:...")`` (simulated: depth3d.sim.stereo_source).
    evaluate     accuracy against exact ground truth (simulator).
"""
