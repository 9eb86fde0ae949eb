"""depth3d.sim: a sensor simulator with ground truth.

Modules (import them directly; this package imports nothing heavy):

* :mod:`depth3d.sim.objects`: furniture of the ten SUN RGB-D classes from trimesh primitives
  (``CLASSES``, ``make_object``, ``object_point_cloud``).
* :mod:`depth3d.sim.scene`: procedural rooms with VoteNet-convention boxes (``generate_room``, ``Scene``).
* :mod:`depth3d.sim.render`: exact ray casting with Open3D/Embree (``SceneRenderer``, ``raycast``).
* :mod:`depth3d.sim.realsense_sensor`: a RealSense D435-like depth camera (``RealSenseModel``).
* :mod:`depth3d.sim.trajectory`: camera paths (``orbit``, ``walk``, ``random_view``, ``look_at``).
* :mod:`depth3d.sim.source`: the ``sim:`` capture source (``open_sim_source``).
* :mod:`depth3d.sim.stereo_source`, :mod:`depth3d.sim.tof_source`, :mod:`depth3d.sim.structured_light_source`:
  the simulated ``stereo:sim``, ``tof:sim``/``tof:demo`` and ``sl:sim``/``sl:demo`` sources (the sensor
  packages decode; the simulator, above them, supplies the raw data).
* :mod:`depth3d.sim.sample`: ``synthetic_frames`` and the bundled sample recording (``python -m depth3d.sim.sample``).
* :mod:`depth3d.sim.dataset`: single-view scan datasets in VoteNet's SUN RGB-D layout (``write_scans``).
"""
