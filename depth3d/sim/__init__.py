"""depth3d.sim: a sensor simulator with ground truth.

Modules (import them directly; this package imports nothing heavy):

* :mod:`depth3d.sim.objects`: furniture of the ten SUN RGB-D classes from trimesh primitives
  (``CLASSES``, ``make_object``, ``object_point_cloud``).
* :mod:`depth3d.sim.scene`: procedural rooms with VoteNet-convention boxes (``generate_room``, ``Scene``).
* :mod:`depth3d.sim.render`: exact ray casting with Open3D/Embree (``SceneRenderer``, ``raycast``).
* :mod:`depth3d.sim.realsense_sensor`: a RealSense D435-like depth camera (``RealSenseModel``).
* :mod:`depth3d.sim.trajectory`: camera paths (``orbit``, ``walk``, ``random_view``, ``look_at``).
* :mod:`depth3d.sim.source`: the ``sim:`` capture source (``open_sim_source``).
* :mod:`depth3d.sim.dataset`: single-view scan datasets in VoteNet's SUN RGB-D layout (``write_scans``).
"""
