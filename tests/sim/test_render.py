"""Ray-cast rendering: exact depth against analytic geometry, ids, colour, cached renderer."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from depth3d.core.intrinsics import Intrinsics
from depth3d.core.pose import Pose
from depth3d.sim.render import SceneRenderer, raycast
from depth3d.sim.scene import STUFF_IDS, generate_room
from depth3d.sim.trajectory import look_at, orbit

INTR = Intrinsics(160, 120, 110.0, 112.0, 79.3, 60.1)


def _plane(n, c, half=50.0):
    """A big square (2 triangles) on the plane n.x = c."""
    n = np.asarray(n, float) / np.linalg.norm(n)
    a = np.cross(n, [0, 0, 1] if abs(n[2]) < 0.9 else [1, 0, 0])
    a /= np.linalg.norm(a)
    b = np.cross(n, a)
    o = n * c
    v = np.array([o + half * (sa * a + sb * b) for sa, sb in ((-1, -1), (1, -1), (1, 1), (-1, 1))])
    return trimesh.Trimesh(vertices=v, faces=[[0, 1, 2], [0, 2, 3]], process=False)


@pytest.mark.parametrize("intr", [INTR, Intrinsics(160, 120, 100.0, 100.0, 80.0, 60.0, model="brown_conrady",
                                                   coeffs=(0.1, -0.05, 0.001, 0.0, 0.0))])
def test_plane_depth_matches_analytic(intr):
    # camera at the origin, tilted plane n.x = 2 in the camera frame (world = camera here)
    n = np.array([0.2, -0.1, 1.0])
    n /= np.linalg.norm(n)
    res = raycast([_plane(n, 2.0)], intr)
    rays = res.rays.astype(np.float64)
    t = 2.0 / (rays @ n)
    z = t * rays[..., 2]
    assert res.hit.all()
    np.testing.assert_allclose(res.range, t, rtol=2e-6)
    np.testing.assert_allclose(res.depth, z, rtol=2e-6)
    np.testing.assert_allclose(res.normals, np.broadcast_to(-n, res.normals.shape), atol=1e-6)
    np.testing.assert_allclose(res.points, rays * t[..., None], rtol=2e-6, atol=1e-6)


def test_plane_depth_with_camera_pose():
    # world plane z = 0 (floor), camera 1.5 m above looking at it from an angle
    pose = look_at([0.3, -2.0, 1.5], [0.0, 0.0, 0.0])
    res = SceneRenderer([_plane([0, 0, 1], 0.0)]).render(INTR, pose)
    rays_w = res.rays.astype(np.float64) @ pose.R.T
    t = -pose.t[2] / rays_w[..., 2]
    hit = t > 0
    assert hit.any() and np.array_equal(res.hit, hit)
    np.testing.assert_allclose(res.range[hit], t[hit], rtol=3e-6)
    np.testing.assert_allclose(res.depth[hit], (t * res.rays[..., 2])[hit], rtol=3e-6)
    assert np.all(res.depth[~hit] == 0) and np.all(res.instance[~hit] == -1)


def _moller_trumbore(o, d, tri):
    """float64 ray/triangle distances for rays d (N, 3) from o (3,) and triangles (N, 3, 3)."""
    e1, e2 = tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]
    p = np.cross(d, e2)
    det = np.einsum("ij,ij->i", e1, p)
    s = o - tri[:, 0]
    q = np.cross(s, e1)
    return np.einsum("ij,ij->i", e2, q) / det


def test_sphere_depth_matches_analytic():
    r, c = 0.5, np.array([0.1, -0.05, 2.0])
    sphere = trimesh.creation.icosphere(subdivisions=6, radius=r)
    sphere.apply_translation(c)
    rend = SceneRenderer([sphere])
    res = rend.render(INTR)
    rays = res.rays.astype(np.float64)
    # analytic sphere: |t d - c| = r, nearest root
    b = rays @ c
    disc = b ** 2 - (c @ c - r * r)
    inside = disc > 1e-4  # away from the silhouette, where the tessellation decides hit/miss
    t_sphere = b - np.sqrt(np.maximum(disc, 0))
    assert np.all(res.hit[inside])
    # 1) exact: the hit of each pixel equals the analytic intersection with the hit triangle (float precision)
    o = np.zeros(3)
    d = rays[res.hit]
    ans = rend.cast(np.zeros((len(d), 3), np.float32), d.astype(np.float32))
    tri = np.asarray(sphere.vertices)[np.asarray(sphere.faces)[ans["primitive_ids"].astype(np.int64)]]
    t_tri = _moller_trumbore(o, d, tri)
    np.testing.assert_allclose(res.range[res.hit], t_tri, rtol=2e-6)
    # 2) the sphere: within the tessellation's sagitta (edge ~ 0.5 * 2*pi/ (5 * 2**6) of r)
    edge = np.max(sphere.edges_unique_length)
    sagitta = r - np.sqrt(r * r - (edge / np.sqrt(3)) ** 2)
    radial = np.linalg.norm(res.points[res.hit].astype(np.float64) - c, axis=1) - r
    assert radial.max() <= 2e-6 and radial.min() >= -sagitta * 1.01 - 2e-6  # chords lie inside the sphere
    assert sagitta < 5e-5
    # face-on, the ray distance equals the analytic sphere's to within the sagitta
    centre_px = inside & (disc > 0.5 * r * r)
    np.testing.assert_allclose(res.range[centre_px], t_sphere[centre_px], atol=2 * sagitta)
    # depth is planar z
    np.testing.assert_allclose(res.depth[res.hit], (res.range * res.rays[..., 2])[res.hit], rtol=1e-6)


def test_room_render_ids_colour_and_cache():
    scene = generate_room(3)
    rend = SceneRenderer(scene)
    poses = orbit(scene, 4)
    a = rend.render(INTR, poses[0])
    b = rend.render(INTR, poses[0])
    np.testing.assert_array_equal(a.depth, b.depth)
    np.testing.assert_array_equal(a.color, b.color)
    assert a.hit.all()  # closed room: every ray hits something
    assert a.color.dtype == np.uint8 and a.color.shape == (120, 160, 3)
    np.testing.assert_array_equal(a.class_id, scene.class_ids[a.instance])
    assert STUFF_IDS["floor"] in a.class_id and STUFF_IDS["wall"] in a.class_id
    # albedo is each hit face's colour; colour is darker than albedo at most by the shading
    assert np.all(a.albedo >= 0) and np.all(a.albedo <= 1)
    # one-shot raycast gives the same geometry
    c = raycast(scene.meshes, INTR, poses[0])
    np.testing.assert_array_equal(c.depth, a.depth)
    np.testing.assert_array_equal(c.instance, a.instance)
    # objects seen somewhere along the orbit
    seen = set()
    for p in poses:
        seen |= set(np.unique(rend.render(INTR, p, color=False).class_id).tolist())
    assert seen & set(range(10))
