"""depth3d.structured_light: Gray-code + phase-shift patterns (``patterns``), capture folders (``capture``),
decoding and triangulation (``decode``), calibration (``calibrate``) and the ``sl:FOLDER`` source (``source``).
The simulated rig: :mod:`depth3d.sim`."""
