"""Old home of the atomic writers, which now live in :mod:`depth3d.core.atomic` (import them from there).

Kept only while modules outside this change (training, VoteNet, detection, stereo calibration, the
VoteNet-layout dataset) still import ``depth3d.io.atomic``; delete it once they import ``depth3d.core.atomic``.
"""

from depth3d.core.atomic import atomic_path, atomic_write

__all__ = ["atomic_path", "atomic_write"]
