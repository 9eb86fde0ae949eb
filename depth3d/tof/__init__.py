"""depth3d.tof: amplitude-modulated continuous-wave time of flight: raw-frame folders (``raw``), decoding to
depth (``decode``) and the ``tof:FOLDER`` source (``source``). Simulated ToF: :mod:`depth3d.sim`."""
