"""ToF decoding: analytic phase/amplitude, unwrapping beyond one frequency's range, flying pixels, raw folders."""

from __future__ import annotations

import json

import numpy as np
import pytest

from depth3d.core.intrinsics import Intrinsics
from depth3d.tof.decode import (C_LIGHT, decode_phase, decode_tof, flying_pixel_mask, radial_to_planar,
                                unambiguous_range, unwrap_dual)
from depth3d.tof.raw import ToFRawFolder, frame_name, write_tof_folder


def _synth(rng_m: np.ndarray, freqs, steps=4, amp=1000.0, offset=2000.0):
    th = 2 * np.pi * np.arange(steps) / steps
    out = []
    for f in freqs:
        phi = 4 * np.pi * f * rng_m / C_LIGHT
        out.append([offset + amp * np.cos(phi + t) for t in th])
    return np.asarray(out)


def test_unambiguous_range_values():
    assert unambiguous_range([80e6]) == pytest.approx(C_LIGHT / 160e6)
    assert unambiguous_range([100e6, 80e6]) == pytest.approx(C_LIGHT / (2 * 20e6))  # 7.49 m
    assert unambiguous_range([80e6, 16e6]) == pytest.approx(9.3685, abs=1e-3)


@pytest.mark.parametrize("steps", [3, 4, 5, 8])
def test_decode_phase_exact(steps):
    r = np.linspace(0.1, 1.8, 200).reshape(10, 20)
    f = 80e6
    frames = _synth(r, [f], steps, amp=700.0, offset=1500.0)[0]
    phase, amp, inten = decode_phase(frames)
    np.testing.assert_allclose(phase, (4 * np.pi * f * r / C_LIGHT) % (2 * np.pi), atol=1e-4)
    np.testing.assert_allclose(amp, 700.0, rtol=1e-4)
    np.testing.assert_allclose(inten, 1500.0, rtol=1e-5)


@pytest.mark.parametrize("freqs", [(100e6, 80e6), (80e6, 16e6), (80e6, 60e6)])
def test_unwrap_beyond_single_frequency_range(freqs):
    rmax = unambiguous_range(freqs)
    r = np.linspace(0.05, rmax - 0.05, 4000).reshape(40, 100)
    frames = _synth(r, freqs)
    p1, a1, _ = decode_phase(frames[0])
    p2, a2, _ = decode_phase(frames[1])
    single = C_LIGHT / (2 * freqs[0])
    assert r.max() > 2.5 * single  # well beyond the fine frequency's range
    u, res = unwrap_dual(p1, p2, *freqs, a1, a2)
    np.testing.assert_allclose(u, r, atol=2e-3)
    assert res.max() < 2e-3


def test_unwrap_with_phase_noise():
    rng = np.random.default_rng(0)
    freqs = (100e6, 80e6)
    r = rng.uniform(0.2, 7.3, (100, 100))
    p = [(4 * np.pi * f * r / C_LIGHT + rng.normal(0, 0.05, r.shape)) % (2 * np.pi) for f in freqs]
    u, _ = unwrap_dual(p[0].astype(np.float32), p[1].astype(np.float32), *freqs)
    err = np.abs(u - r)
    err = np.minimum(err, unambiguous_range(freqs) - err)
    assert np.mean(err < 0.05) > 0.999


def test_radial_to_planar():
    intr = Intrinsics(8, 6, 5.0, 5.0, 3.5, 2.5)
    rng_img = np.full((6, 8), 2.0, np.float32)
    z = radial_to_planar(rng_img, intr)
    xy = intr.ray_map()
    np.testing.assert_allclose(z * np.sqrt(1 + xy[..., 0] ** 2 + xy[..., 1] ** 2), 2.0, rtol=1e-6)
    assert z[2, 3] < 2.0 and z.max() <= 2.0


def test_flying_pixel_mask_keeps_edges_removes_mixed():
    d = np.full((5, 9), 1.0, np.float32)
    d[:, 5:] = 3.0
    d[:, 4] = 2.0  # mixed column between the surfaces
    m = flying_pixel_mask(d)
    assert m[:, 4].all()
    assert not m[:, 3].any() and not m[:, 5].any()  # true edge pixels of both surfaces are kept


def test_simulated_tof_accuracy_unwrapping_and_flying():
    from depth3d.sim.scene import demo_scene
    from depth3d.sim.tof_sensor import ToFSensor, flying_truth, tof_intrinsics

    sensor = ToFSensor.with_noise("low", intrinsics=tof_intrinsics(160, 120))
    out = sensor.render(demo_scene(0), rng=np.random.default_rng(1))
    assert out["frames"].shape == (2, 4, 120, 160) and out["frames"].dtype == np.uint16
    res = decode_tof(out["frames"], out["frequencies_hz"], sensor.intrinsics, min_amplitude=5)
    gt = out["gt_depth"]
    good = res.valid & (gt > 0) & ~out["mixed"]
    assert good.mean() > 0.85
    err = np.abs(res.depth - gt)[good]
    assert np.median(err) < 0.02 and np.percentile(err, 90) < 0.06
    far = good & (out["gt_range"] > 1.1 * C_LIGHT / (2 * 80e6))  # beyond both single-frequency ranges
    assert far.sum() > 1000
    assert np.median(np.abs(res.depth - gt)[far]) < 0.03
    raw = decode_tof(out["frames"], out["frequencies_hz"], sensor.intrinsics, min_amplitude=5, flying_filter=False)
    before = int((flying_truth(raw.depth, out["sub_depth"]) & out["mixed"]).sum())
    after = int((flying_truth(res.depth, out["sub_depth"]) & out["mixed"]).sum())
    assert before >= 10 and after <= 0.3 * before


def test_raw_folder_roundtrip_and_errors(tmp_path):
    intr = Intrinsics(16, 12, 12.0, 12.0, 7.5, 5.5)
    r = np.linspace(0.5, 6.0, 16 * 12).reshape(12, 16)
    frames = np.clip(_synth(r, (100e6, 80e6)), 0, 65535).astype(np.uint16)
    write_tof_folder(tmp_path / "raw", [frames, frames], (100e6, 80e6), intr)
    folder = ToFRawFolder(tmp_path / "raw")
    assert folder.indices == [0, 1] and folder.intrinsics == intr
    np.testing.assert_array_equal(folder.read(1), frames)
    res = decode_tof(folder.read(0), folder.frequencies_hz, intr, flying_filter=False)
    np.testing.assert_allclose(res.range, r, atol=3e-3)

    (tmp_path / "raw" / frame_name(1, 1, 2)).unlink()  # a missing phase step
    with pytest.raises(ValueError, match=r"frame 1 is incomplete: 000001_f1_s2.png is missing"):
        ToFRawFolder(tmp_path / "raw").check()

    import cv2
    write_tof_folder(tmp_path / "bad", [frames], (100e6, 80e6), intr)
    cv2.imwrite(str(tmp_path / "bad" / frame_name(0, 0, 3)), np.zeros((10, 16), np.uint16))
    with pytest.raises(ValueError, match=r"000000_f0_s3.png: image is 16x10 but meta.json intrinsics say 16x12"):
        ToFRawFolder(tmp_path / "bad").read(0)

    meta = json.loads((tmp_path / "bad" / "meta.json").read_text())
    del meta["phase_steps"]
    (tmp_path / "bad" / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="missing key 'phase_steps'"):
        ToFRawFolder(tmp_path / "bad")
    with pytest.raises(FileNotFoundError, match="no meta.json"):
        ToFRawFolder(tmp_path)


def test_tof_source_folder(tmp_path):
    from depth3d.capture.source import open_source

    intr = Intrinsics(16, 12, 12.0, 12.0, 7.5, 5.5)
    r = np.full((12, 16), 4.0)
    frames = np.clip(_synth(r, (100e6, 80e6)), 0, 65535).astype(np.uint16)
    write_tof_folder(tmp_path / "raw", [frames] * 3, (100e6, 80e6), intr)
    with open_source(f"tof:{tmp_path / 'raw'}") as src:
        got = list(src)
    assert len(got) == 3 and got[0].sensor == "tof" and got[0].depth.dtype == np.float32
    np.testing.assert_allclose(got[0].extras["range"], 4.0, atol=3e-3)
    with pytest.raises(ValueError, match="unknown option"):
        open_source(f"tof:{tmp_path / 'raw'}?bogus=1")


def test_cli_tof_simulate_decode(tmp_path, run_cli):
    run_cli("tof", "simulate", "-o", tmp_path / "raw", "--frames", "1", "--width", "80", "--height", "60",
            check=True)
    run_cli("tof", "decode", tmp_path / "raw", "-o", tmp_path / "out", check=True)
    from depth3d.io.depth_png import read_depth_png

    d = read_depth_png(tmp_path / "out" / "depth_000000.png").astype(np.float32) / 1000
    gt = read_depth_png(tmp_path / "raw" / "gt" / "depth_000000.png").astype(np.float32) / 1000
    m = (d > 0) & (gt > 0)
    assert m.mean() > 0.7 and np.median(np.abs(d - gt)[m]) < 0.03
    (tmp_path / "raw" / "000000_f0_s1.png").unlink()
    p = run_cli("tof", "decode", tmp_path / "raw", "-o", tmp_path / "out2")
    assert p.returncode == 1 and "000000_f0_s1.png is missing" in p.stderr


def test_cli_tof_decode_refuses_non_finite_raw_frames(tmp_path, run_cli):
    """A float (.npy) raw frame holding NaN is refused with one line naming the file, not decoded to zeros."""
    intr = Intrinsics(16, 12, 12.0, 12.0, 7.5, 5.5)
    frames = _synth(np.full((12, 16), 3.0), (100e6, 80e6)).astype(np.float32)
    frames[1, 2, 5, 7] = np.nan
    write_tof_folder(tmp_path / "raw", [frames], (100e6, 80e6), intr, extension=".npy")
    with pytest.raises(ValueError, match=r"000000_f1_s2.npy: raw ToF samples must be finite numbers, found 1 "):
        ToFRawFolder(tmp_path / "raw").read(0)
    p = run_cli("tof", "decode", tmp_path / "raw", "-o", tmp_path / "out")
    assert p.returncode == 1
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "000000_f1_s2.npy" in lines[0] and "finite" in lines[0], p.stderr
