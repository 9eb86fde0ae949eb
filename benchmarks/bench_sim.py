"""Simulator speed and sensor-noise accuracy.

    python benchmarks/bench_sim.py [--repeats 20] [--scans 8]

1. Rendering a 640x480 frame of a furnished room (3 rooms, 8 poses each on the orbit), medians of
   interleaved rounds:
   * depth3d full = ``SceneRenderer.render`` (cached Embree scene; depth, range, normals, points, instance
     and class ids, albedo, shaded colour);
   * depth3d geometry = the same without colour;
   * Open3D bare = the peer's minimal path: the same cached ``RaycastingScene``, rays from
     ``create_rays_pinhole``, ``cast_rays``, ``t_hit`` to numpy (range only, no ids/normals/colour);
   * one-shot = ``raycast(meshes, ...)``, which rebuilds the Embree scene every call (the un-cached way);
   * sim frame = one frame of ``open_source("sim:room?...")``: full render + RealSense-like sensor model.
2. RealSense-like noise: RMS depth error vs distance against the stated law
   ``sigma_z = z^2 * subpixel / (f * B)`` (fronto-parallel wall, 640x480, noise + 1 mm quantisation).
3. Scan dataset throughput (``write_scans``, 640x480, 20000 points, 2 workers).

Writes benchmarks/results/sim.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _util import git_rev, interleaved, machine, today  # noqa: E402


def bench_render(repeats: int) -> tuple[list[str], dict]:
    import open3d as o3d

    from depth3d.sim.realsense_sensor import d435_intrinsics
    from depth3d.sim.render import SceneRenderer, raycast
    from depth3d.sim.scene import generate_room
    from depth3d.sim.source import open_sim_source
    from depth3d.sim.trajectory import orbit

    intr = d435_intrinsics(640, 480)
    rows, allt = [], {}
    for seed in (3, 7, 11):
        scene = generate_room(seed)
        t0 = time.perf_counter()
        rend = SceneRenderer(scene)
        build = time.perf_counter() - t0
        poses = orbit(scene, 8)
        src = open_sim_source("room", seed=seed, frames=8, width=640, height=480)
        src.start()
        state = {"i": 0}

        def pose():
            state["i"] = (state["i"] + 1) % len(poses)
            return poses[state["i"]]

        K = o3d.core.Tensor(intr.K)

        def o3d_bare():
            p = pose()
            extr = o3d.core.Tensor(p.inverse().matrix)
            rays = rend._scene.create_rays_pinhole(K, extr, intr.width, intr.height)
            return rend._scene.cast_rays(rays)["t_hit"].numpy()

        funcs = {
            "full": lambda: rend.render(intr, pose()),
            "geometry": lambda: rend.render(intr, pose(), color=False),
            "o3d_bare": o3d_bare,
            "oneshot": lambda: raycast(scene.meshes, intr, pose()),
            "sim_frame": lambda: src.frame(state.__setitem__("i", (state["i"] + 1) % 8) or state["i"]),
        }
        t = interleaved(funcs, repeats=repeats, warmup=2)
        best = []
        c0 = time.process_time()
        for _ in range(repeats):  # best case (least disturbed by other jobs) and CPU time of the full render
            t1 = time.perf_counter()
            funcs["full"]()
            best.append(time.perf_counter() - t1)
        t["full_cpu"] = (time.process_time() - c0) / repeats
        t["full_min"] = min(best)
        faces = sum(len(m.faces) for m in scene.meshes)
        rows.append(f"| {seed} | {len(scene.objects)} | {faces} | {build * 1e3:.0f} | {t['full'] * 1e3:.1f} | "
                    f"{t['full_min'] * 1e3:.1f} | {t['full_cpu'] * 1e3:.1f} | {t['geometry'] * 1e3:.1f} | {t['o3d_bare'] * 1e3:.1f} | {t['oneshot'] * 1e3:.1f} | "
                    f"{t['sim_frame'] * 1e3:.1f} | {t['oneshot'] / t['geometry']:.2f}x | "
                    f"{t['full'] / t['o3d_bare']:.2f} |")
        t["ratio_full"] = t["full"] / t["o3d_bare"]
        t["ratio_geom"] = t["geometry"] / t["o3d_bare"]
        for k, v in t.items():
            allt.setdefault(k, []).append(v)
        src.stop()
    med = {k: float(np.median(v)) for k, v in allt.items()}
    med["ratio_full_range"] = (min(allt["ratio_full"]), max(allt["ratio_full"]))
    med["ratio_geom_range"] = (min(allt["ratio_geom"]), max(allt["ratio_geom"]))
    return rows, med


def bench_noise() -> list[str]:
    import trimesh

    from depth3d.sim.realsense_sensor import RealSenseModel, d435_intrinsics
    from depth3d.sim.render import SceneRenderer

    intr = d435_intrinsics(640, 480)
    model = RealSenseModel(hole_fraction=0, edge_dropout=0, shadow=False)
    rows = []
    zs = np.array([0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0])
    rms_all = []
    for i, z in enumerate(zs):
        wall = trimesh.creation.box(extents=(60, 60, 0.01))
        wall.apply_translation([0, 0, z + 0.005])
        r = SceneRenderer([wall]).render(intr)
        raw, _ = model.apply(r, intr, np.random.default_rng(i))
        v = raw > 0
        err = raw[v] * 0.001 - r.depth[v].astype(np.float64)
        rms = float(np.sqrt(np.mean(err ** 2)))
        rms_all.append(rms)
        stated = float(model.sigma_z(z, intr.fx))
        expect = np.sqrt(stated ** 2 + 1e-6 / 12)
        rows.append(f"| {z:.1f} | {stated * 1e3:.2f} | {expect * 1e3:.2f} | {rms * 1e3:.2f} | {rms / expect:.3f} | "
                    f"{v.sum()} |")
    rms_all = np.array(rms_all)
    a = np.sqrt(np.sum((rms_all ** 2 - 1e-6 / 12) * zs ** 4) / np.sum(zs ** 8))
    stated_a = model.subpixel / (intr.fx * model.baseline)
    slope = np.polyfit(np.log(zs[1:]), np.log(rms_all[1:]), 1)[0]
    rows.append("")
    rows.append(f"Fit `rms^2 - q^2 = a^2 z^4`: a = {a * 1e3:.4f} mm/m^2, stated subpixel/(f B) = "
                f"{stated_a * 1e3:.4f} mm/m^2 (ratio {a / stated_a:.4f}); log-log slope over 1-6 m: {slope:.3f} "
                f"(law: 2).")
    return rows


def bench_scans(n: int) -> str:
    from depth3d.sim.dataset import ScanOptions, write_scans

    with tempfile.TemporaryDirectory() as d:
        t = time.perf_counter()
        meta = write_scans(d, n, seed=0, options=ScanOptions(), workers=2, progress=False)
        dt = time.perf_counter() - t
        boxes = sum(s["boxes"] for s in meta["scans"])
        size = sum(f.stat().st_size for f in Path(d).iterdir())
    return (f"{n} scans (640x480 render, 20000 points each, 2 workers, process start-up included): "
            f"{dt:.1f} s, {n / dt:.2f} scans/s, {boxes} boxes, {size / n / 1e6:.2f} MB per scan on disk.")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--scans", type=int, default=8)
    ap.add_argument("--output", default=str(Path(__file__).resolve().parent / "results" / "sim.md"))
    args = ap.parse_args()
    load0 = os.getloadavg()
    rrows, med = bench_render(args.repeats)
    nrows = bench_noise()
    scans = bench_scans(args.scans) if args.scans > 0 else "(skipped)"
    load1 = os.getloadavg()
    busy = max(load0[0], load1[0]) > 1.5 * (os.cpu_count() or 1) / 2
    load_note = ("machine shared with other jobs; timings are medians of interleaved rounds and still noisy" if busy
                 else "idle machine")
    busy_note = ("The machine was shared with other jobs during this run (load average above), so wall times "
                 "are inflated; the best-case column is the least disturbed single frame." if busy else
                 "The machine was idle during this run.")
    out = [
        "## Simulator (depth3d.sim)",
        "",
        f"- machine: {machine()}",
        f"- date: {today()}, git {git_rev()}",
        f"- command: `python benchmarks/bench_sim.py --repeats {args.repeats} --scans {args.scans}`",
        f"- load average before/after: {load0[0]:.1f} / {load1[0]:.1f} ({load_note})",
        "",
        "### Rendering 640x480 (D435-like intrinsics, fx = 383 px), milliseconds per frame",
        "",
        "full = `SceneRenderer.render` (depth, range, normals, points, instance + class ids, albedo, shaded "
        "colour; Embree scene built once per Scene); geometry = same without colour; Open3D bare = cached "
        "`RaycastingScene` + `create_rays_pinhole` + `cast_rays` + `t_hit` only (the peer's minimum, no ids/"
        "normals/colour); one-shot = `raycast()` rebuilding the scene per call; sim frame = one frame of the "
        "`sim:` source (render + RealSense-like sensor model).",
        "",
        "| room seed | objects | triangles | build ms | full | full, best frame of a 2nd run | full CPU ms (both cores) | geometry | Open3D bare | one-shot | sim frame | "
        "one-shot / geometry | full / Open3D bare |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        *rrows,
        "",
        f"Median over rooms: full render **{med['full'] * 1e3:.1f} ms** (best {med['full_min'] * 1e3:.1f} ms, "
        f"CPU time {med['full_cpu'] * 1e3:.1f} ms summed over both cores; "
        "target: well under 100 ms), geometry "
        f"{med['geometry'] * 1e3:.1f} ms, Open3D bare {med['o3d_bare'] * 1e3:.1f} ms, one-shot "
        f"{med['oneshot'] * 1e3:.1f} ms, sim source frame {med['sim_frame'] * 1e3:.1f} ms "
        f"({1 / med['sim_frame']:.1f} frames/s).",
        "",
        "Reading: Open3D's own ray cast is the floor; the full render (ids, normals, points, shaded colour) "
        f"costs {med['ratio_full_range'][0]:.2f}-{med['ratio_full_range'][1]:.2f}x the bare cast, geometry-only "
        f"{med['ratio_geom_range'][0]:.2f}-{med['ratio_geom_range'][1]:.2f}x. The Embree scene of these rooms "
        "(2.3k triangles) builds in a few ms, so the cached renderer gains little over a one-shot `raycast` "
        "here (one-shot / geometry = same outputs); it matters for bigger meshes and keeps streams steady. "
        "CPU time = process time per full render over all threads (Embree's workers included). " + busy_note,
        "",
        "### RealSense-like depth noise vs distance",
        "",
        "Stated law: sigma_z = z^2 * subpixel / (f * B) with subpixel = 0.08 px, f = 383 px, B = 0.050 m; "
        "measured on a fronto-parallel wall (640x480, edge/hole/shadow dropouts off, 1 mm quantisation on: "
        "expected = sqrt(sigma_z^2 + (1 mm)^2 / 12)).",
        "",
        "| z m | stated sigma_z mm | expected with quantisation mm | measured RMS mm | measured / expected | "
        "valid pixels |",
        "|---|---|---|---|---|---|",
        *nrows,
        "",
        "### Scan dataset",
        "",
        scans,
        "",
    ]
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text("\n".join(out))
    print("\n".join(out))


if __name__ == "__main__":
    main()
