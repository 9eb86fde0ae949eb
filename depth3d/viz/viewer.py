"""The Open3D viewer: clouds, meshes and 3D boxes in a window, or rendered to a PNG without a screen.

``show(...)`` opens a window (or renders off-screen through Xvfb when ``screenshot`` is given);
:class:`LiveViewer` keeps one window open and updates the same geometry in place for streams, the pattern
Open3D documents for non-blocking visualisation (``update_geometry`` + ``poll_events`` +
``update_renderer``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from depth3d.core.cloud import PointCloud

def load_geometry(path: str | Path, classes: Sequence[str] | None = None) -> list:
    """Open3D geometries from a file: a cloud (.ply/.pcd/.npz/.npy), a mesh (.obj/.stl/.off/.gltf/.glb or a
    PLY with faces) or boxes (.json, see :mod:`depth3d.viz.boxes`)."""
    import open3d as o3d

    from depth3d.io.clouds import read_cloud
    from depth3d.io.meshes import is_mesh_file, mesh_to_open3d, read_mesh
    from depth3d.viz.boxes import boxes_to_lineset, read_boxes

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    suffix = path.suffix.lower()
    if suffix == ".json":
        return [boxes_to_lineset(read_boxes(path), classes)]
    if is_mesh_file(path):
        return [mesh_to_open3d(read_mesh(path))]
    cloud = read_cloud(path)
    if len(cloud) == 0:
        raise ValueError(f"{path}: the cloud is empty")
    pcd = cloud.to_open3d()
    if cloud.colors is None:
        z = np.asarray(cloud.points)[:, 2]
        t = (z - z.min()) / max(float(np.ptp(z)), 1e-9)
        pcd.colors = o3d.utility.Vector3dVector(np.stack([t, 0.4 + 0.3 * (1 - t), 1 - t], axis=1))
    return [pcd]


def _as_open3d(g: Any):
    if isinstance(g, PointCloud):
        return g.to_open3d()
    return g


def show(geometries: Sequence[Any], *, screenshot: str | Path | None = None, width: int = 1280,
         height: int = 960, title: str = "depth3d", point_size: float = 2.0,
         front: Sequence[float] | None = None, up: Sequence[float] | None = None, zoom: float | None = None,
         background: Sequence[float] = (1.0, 1.0, 1.0)) -> None:
    """Show geometries (PointCloud or Open3D geometries) in an Open3D window.

    With ``screenshot`` the scene is rendered once to that PNG (atomically) and the window closes; when
    there is no ``DISPLAY`` an Xvfb server is started for it. The camera looks at the geometries' bounding
    box; ``front``/``up``/``zoom`` override the view (Open3D ViewControl semantics). Camera-frame clouds
    (y down, z forward) are shown from behind the camera by default.
    """
    import open3d as o3d

    from depth3d.viz.display import ensure_display

    if screenshot is not None:
        ensure_display()
    geoms = [_as_open3d(g) for g in geometries]
    vis = o3d.visualization.Visualizer()
    if not vis.create_window(window_name=title, width=width, height=height, visible=True):
        raise RuntimeError("Open3D could not create a window (no working OpenGL display?)")
    try:
        for g in geoms:
            vis.add_geometry(g)
        opt = vis.get_render_option()
        opt.point_size = point_size
        opt.background_color = np.asarray(background, dtype=np.float64)
        opt.mesh_show_back_face = True  # flat label text (viz.boxes.boxes_to_labels) from either side
        ctl = vis.get_view_control()
        ctl.set_front(list(front) if front is not None else [0.0, 0.0, -1.0])
        ctl.set_up(list(up) if up is not None else [0.0, -1.0, 0.0])
        if zoom is not None:
            ctl.set_zoom(zoom)
        if screenshot is None:
            vis.run()
            return
        from depth3d.core.atomic import atomic_path

        vis.poll_events()
        vis.update_renderer()
        with atomic_path(screenshot, suffix=".png") as tmp:
            vis.capture_screen_image(str(tmp), do_render=True)
            if not tmp.exists() or tmp.stat().st_size == 0:
                raise RuntimeError(f"Open3D did not write the screenshot {screenshot}")
    finally:
        vis.destroy_window()


class LiveViewer:
    """One Open3D window whose point cloud (and optional boxes) is updated in place, frame after frame.

    Usage::

        with LiveViewer() as viewer:
            for frame in source:
                viewer.update(rgbd_to_cloud(frame))
                if viewer.closed:
                    break
    """

    def __init__(self, title: str = "depth3d live", width: int = 1280, height: int = 960,
                 point_size: float = 2.0, headless: bool = False) -> None:
        import open3d as o3d

        if headless:
            from depth3d.viz.display import ensure_display

            ensure_display()
        self._o3d = o3d
        self.vis = o3d.visualization.Visualizer()
        if not self.vis.create_window(window_name=title, width=width, height=height, visible=True):
            raise RuntimeError("Open3D could not create a window (no working OpenGL display?)")
        self.vis.get_render_option().point_size = point_size
        self.vis.get_render_option().mesh_show_back_face = True
        self.pcd = o3d.geometry.PointCloud()
        self.boxes = o3d.geometry.LineSet()
        self.labels = o3d.geometry.TriangleMesh()  # class names beside the boxes
        self._added = False
        self.closed = False

    def update(self, cloud: PointCloud, boxes: list[dict] | None = None, view: str = "camera") -> bool:
        """Replace the shown points (and boxes) in place and redraw; returns False once the window closed.

        ``view`` (used when the window first shows something): "camera" (points in the camera frame, x right,
        y down, z forward: seen from the camera) or "upright" (x right, y forward, z up: seen from behind
        and above the origin). Boxes are drawn with their class names and scores (3D text above each box,
        facing the viewer of that ``view``); draw the cloud the boxes were detected on, in the same frame."""
        o3d = self._o3d
        c = cloud.to_numpy()
        self.pcd.points = o3d.utility.Vector3dVector(np.asarray(c.points, dtype=np.float64))
        if c.colors is not None:
            self.pcd.colors = o3d.utility.Vector3dVector(np.asarray(c.colors, dtype=np.float64))
        if boxes is not None:
            from depth3d.viz.boxes import boxes_to_lineset

            from depth3d.viz.boxes import boxes_to_labels

            ls = boxes_to_lineset(boxes)
            self.boxes.points, self.boxes.lines, self.boxes.colors = ls.points, ls.lines, ls.colors
            lab = (boxes_to_labels(boxes) if view == "upright" else
                   boxes_to_labels(boxes, up=(0.0, -1.0, 0.0), facing=(0.0, 0.0, -1.0)))
            self.labels.vertices, self.labels.triangles = lab.vertices, lab.triangles
            self.labels.vertex_colors, self.labels.vertex_normals = lab.vertex_colors, lab.vertex_normals
        if not self._added:
            self.vis.add_geometry(self.pcd)
            self.vis.add_geometry(self.boxes)
            self.vis.add_geometry(self.labels, reset_bounding_box=False)
            ctl = self.vis.get_view_control()
            if view == "upright":
                ctl.set_front([0.0, -1.0, 0.6])
                ctl.set_up([0.0, 0.0, 1.0])
            else:
                ctl.set_front([0.0, 0.0, -1.0])
                ctl.set_up([0.0, -1.0, 0.0])
            self._added = True
        else:
            self.vis.update_geometry(self.pcd)
            self.vis.update_geometry(self.boxes)
            self.vis.update_geometry(self.labels)
        return self.poll()

    def poll(self) -> bool:
        """Handle window events and redraw without changing what is shown (keeps the window responsive
        between updates); returns False once the window closed."""
        alive = self.vis.poll_events()
        self.vis.update_renderer()
        self.closed = not alive
        return alive

    def screenshot(self, path: str | Path) -> None:
        """Save what the window shows now as a PNG (atomically)."""
        from depth3d.core.atomic import atomic_path

        with atomic_path(path, suffix=".png") as tmp:
            self.vis.capture_screen_image(str(tmp), do_render=True)

    def close(self) -> None:
        if self.vis is not None:
            self.vis.destroy_window()
            self.vis = None
            self.closed = True

    def __enter__(self) -> "LiveViewer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
