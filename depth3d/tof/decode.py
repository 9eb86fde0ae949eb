"""Decoding of amplitude-modulated continuous-wave (AMCW) time-of-flight correlation frames.

Signal model (per pixel, per modulation frequency ``f``, ``N`` equally spaced phase steps
``theta_k = 2*pi*k/N``)::

    C_k = B + A * cos(phi + theta_k),        phi = 4*pi*f*r / c  (mod 2*pi)

with ``B`` the intensity (ambient + DC part of the return), ``A`` the amplitude of the modulated return and
``r`` the radial distance (metres, along the pixel's ray). The N-step estimator is::

    I = sum_k C_k cos(theta_k) = N/2 A cos(phi)      Q = -sum_k C_k sin(theta_k) = N/2 A sin(phi)
    phi = atan2(Q, I)     A = 2/N * hypot(I, Q)      B = mean_k C_k

One frequency measures range only modulo ``c / (2 f)`` (1.87 m at 80 MHz). Two frequencies ``f1 > f2``
measure it modulo ``c / (2 gcd(f1, f2))``: 7.49 m for 100/80 MHz (the default of the simulator) and
9.37 m for 80/16 MHz. :func:`unwrap_dual` finds the wrap counts with
a closed-form Chinese-remainder lookup (see its docstring).

Everything is vectorised numpy on float32 (a 640x480 frame with 2 frequencies x 4 steps decodes in a few
milliseconds; see ``benchmarks/bench_tof.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from math import gcd

import numpy as np

from depth3d.core.intrinsics import Intrinsics

C_LIGHT = 299_792_458.0  # m/s


def unambiguous_range(frequencies_hz) -> float:
    """Unambiguous radial range in metres of one or more modulation frequencies: ``c / (2 gcd(f...))``.

    Frequencies may be non-integer Hz; the gcd is taken over exact rationals."""
    fr = [Fraction(float(f)).limit_denominator(1000) for f in np.atleast_1d(frequencies_hz)]
    if not fr or any(f <= 0 for f in fr):
        raise ValueError(f"modulation frequencies must be positive, got {list(np.atleast_1d(frequencies_hz))}")
    num = 0
    den = 1
    for f in fr:
        den = den * f.denominator // gcd(den, f.denominator)
    for f in fr:
        num = gcd(num, int(f * den))
    g = num / den
    return C_LIGHT / (2.0 * g)


def decode_phase(frames: np.ndarray, phase_offsets: np.ndarray | None = None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Phase, amplitude and intensity from the N correlation frames of one frequency.

    Args:
        frames: (N, H, W) correlation samples (any real dtype, e.g. uint16 raw counts), N >= 3.
        phase_offsets: (N,) phase offsets in radians of the steps (default ``2*pi*k/N``).

    Returns:
        phase (H, W) float32 in [0, 2*pi), amplitude (H, W) float32 (counts), intensity (H, W) float32 (counts).
    """
    frames = np.asarray(frames)
    if frames.ndim != 3 or frames.shape[0] < 3:
        raise ValueError(f"decode_phase: frames must be (N >= 3, H, W), got shape {frames.shape}")
    n = frames.shape[0]
    th = 2 * np.pi * np.arange(n) / n if phase_offsets is None else np.asarray(phase_offsets, np.float64)
    if th.shape != (n,):
        raise ValueError(f"decode_phase: {n} frames but {th.size} phase offsets")
    if n == 4 and phase_offsets is None:  # the common case: cos = 1,0,-1,0 ; sin = 0,1,0,-1
        if frames.dtype == np.uint16:  # exact integer differences, one conversion each
            f0, f1, f2, f3 = (frames[k].astype(np.int32) for k in range(4))
            i = np.subtract(f0, f2, dtype=np.float32)
            q = np.subtract(f3, f1, dtype=np.float32)
            f0 += f1
            f0 += f2
            f0 += f3
            b = f0.astype(np.float32)
            b *= np.float32(0.25)
        else:
            f = frames.astype(np.float32, copy=False)
            i = f[0] - f[2]
            q = f[3] - f[1]
            b = (f[0] + f[1] + f[2] + f[3]) * np.float32(0.25)
    else:
        f = frames.astype(np.float32, copy=False)
        c = np.cos(th).astype(np.float32)
        s = np.sin(th).astype(np.float32)
        i = np.tensordot(c, f, axes=1)
        q = -np.tensordot(s, f, axes=1)
        b = f.mean(axis=0)
    phase = np.arctan2(q, i)
    phase += np.float32(2 * np.pi) * (phase < 0)
    amp = np.hypot(i, q)
    amp *= np.float32(2.0 / n)
    return phase.astype(np.float32, copy=False), amp.astype(np.float32, copy=False), b.astype(np.float32, copy=False)


def phase_to_range(phase: np.ndarray, frequency_hz: float) -> np.ndarray:
    """Wrapped radial range (metres, in [0, c/(2f))) of a phase (radians) at modulation frequency ``f``."""
    return (np.asarray(phase, np.float32) * np.float32(C_LIGHT / (4 * np.pi * frequency_hz))).astype(np.float32)


def _ratio(f1: float, f2: float) -> tuple[int, int]:
    """Coprime integers (M1, M2) with f1 / f2 = M1 / M2 (f = M * gcd)."""
    fr = Fraction(float(f1)).limit_denominator(1000) / Fraction(float(f2)).limit_denominator(1000)
    fr = fr.limit_denominator(64)
    if abs(float(fr) - f1 / f2) > 1e-6 * (f1 / f2):
        raise ValueError(f"unwrap_dual: frequencies {f1:g} and {f2:g} Hz have no small integer ratio "
                         "(M1/M2 with M <= 64); pick frequencies with a common divisor, e.g. 100/80 MHz")
    return fr.numerator, fr.denominator


_LUT_CACHE: dict = {}


def _wrap_lut(m1: int, m2: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Lookup tables k -> (n1, n2) of the wrap counts, indexed by ``k + offset`` with
    ``k = M1 n2 - M2 n1`` (unique for coprime M1, M2 over one unambiguous interval)."""
    key = (m1, m2)
    if key not in _LUT_CACHE:
        x = (np.arange(m1 * m2 * 16) + 0.5) / (m1 * m2 * 16)
        n1 = np.floor(m1 * x).astype(np.int64)
        n2 = np.floor(m2 * x).astype(np.int64)
        k = m1 * n2 - m2 * n1
        off = m1 + 1
        size = m1 + m2 + 3
        t1 = np.zeros(size, np.float32)
        t2 = np.zeros(size, np.float32)
        for kk, a, b in zip(k, n1, n2):
            t1[kk + off] = a
            t2[kk + off] = b
        _LUT_CACHE[key] = (t1, t2, off)
    return _LUT_CACHE[key]


def unwrap_dual(phase1: np.ndarray, phase2: np.ndarray, f1: float, f2: float,
                amp1: np.ndarray | None = None, amp2: np.ndarray | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
    """Dual-frequency phase unwrapping (closed form, Chinese-remainder lookup).

    With ``f1 = M1 g`` and ``f2 = M2 g`` (``g = gcd``, M1, M2 coprime) and ``x = r / r_max`` in [0, 1)
    (``r_max = c / (2 g)``), the phases in cycles are ``p1 = M1 x - n1`` and ``p2 = M2 x - n2`` with wrap
    counts n1, n2. Then ``M2 p1 - M1 p2 = M1 n2 - M2 n1`` is an integer k, found by rounding; a lookup
    table maps k to (n1, n2). Phase noise up to ``1 / (2 (M1 + M2))`` cycles is tolerated.

    Args:
        phase1, phase2: (H, W) wrapped phases in radians at frequencies f1, f2 (Hz).
        amp1, amp2: optional amplitudes; they weight the fused range (inverse variance, the range variance
            being ~ 1/(f A)^2). Without them the weights are f^2.

    Returns:
        range (H, W) float32 metres within the unambiguous range ``c/(2 gcd(f1, f2))``, and residual (H, W)
        float32 metres: the disagreement of the two unwrapped estimates (large where unwrapping is unsure).
    """
    m1, m2 = _ratio(f1, f2)
    r_max = np.float32(unambiguous_range([f1, f2]))
    t1, t2, off = _wrap_lut(m1, m2)
    inv2pi = np.float32(1 / (2 * np.pi))
    p1 = np.asarray(phase1, np.float32) * inv2pi
    p2 = np.asarray(phase2, np.float32) * inv2pi
    e = np.float32(m2) * p1 - np.float32(m1) * p2
    k = np.rint(e).astype(np.int32)
    k += off
    np.clip(k, 0, len(t1) - 1, out=k)
    x1 = (p1 + t1[k]) * np.float32(1.0 / m1)
    x2 = (p2 + t2[k]) * np.float32(1.0 / m2)
    d = x2 - x1
    d -= np.rint(d)  # the two estimates may sit on either side of the wrap point x = 0 = 1
    if amp1 is not None and amp2 is not None:
        a1 = (np.float32(f1) * amp1) ** 2
        a2 = (np.float32(f2) * amp2) ** 2
        wsum = a1 + a2
        wb = np.where(wsum > 0, a2 / np.maximum(wsum, np.float32(1e-30)), np.float32(0.5))
    else:
        wb = np.float32(f2 * f2 / (f1 * f1 + f2 * f2))
    x = x1 + wb * d
    x -= np.floor(x)
    return (x * r_max).astype(np.float32), (np.abs(d) * r_max).astype(np.float32)


def radial_to_planar(range_m: np.ndarray, intrinsics: Intrinsics) -> np.ndarray:
    """Planar depth z (H, W) float32 metres from radial range (H, W) metres along each pixel's ray
    (lens distortion honoured through the intrinsics' ray map): ``z = r / |(x, y, 1)|``."""
    rng = np.asarray(range_m, np.float32)
    if rng.shape != (intrinsics.height, intrinsics.width):
        raise ValueError(f"range image is {rng.shape[1]}x{rng.shape[0]} but intrinsics say "
                         f"{intrinsics.width}x{intrinsics.height}")
    return rng * _inv_ray_norm(intrinsics)


_INV_NORM_CACHE: dict = {}


def _inv_ray_norm(intr: Intrinsics) -> np.ndarray:
    key = intr
    out = _INV_NORM_CACHE.get(key)
    if out is None:
        xy = intr.ray_map()
        out = (1.0 / np.sqrt(1.0 + xy[..., 0] ** 2 + xy[..., 1] ** 2)).astype(np.float32)
        if len(_INV_NORM_CACHE) > 8:
            _INV_NORM_CACHE.clear()
        _INV_NORM_CACHE[key] = out
    return out


def flying_pixel_mask(depth: np.ndarray, rel_threshold: float = 0.03, abs_threshold: float = 0.02,
                      noise_sigma: np.ndarray | None = None, noise_factor: float = 4.0) -> np.ndarray:
    """(H, W) bool: flying (mixed) pixels of a depth image.

    A pixel is flying when, along one of the four directions (horizontal, vertical, two diagonals), BOTH
    its neighbours differ from it by more than ``max(abs_threshold, rel_threshold * depth)`` metres: a mixed
    foreground/background return lies between the two surfaces, away from both, whereas the true edge
    pixels of either surface have a neighbour on their own surface. Isolated spikes are caught too.
    Pixels with depth 0 (invalid) count as far away from everything; border pixels are tested on the
    directions that fit in the image. With ``noise_sigma`` ((H, W) metres, the expected depth noise, e.g.
    from :func:`depth_noise_sigma`) the threshold is at least ``noise_factor * noise_sigma`` so that noise
    alone does not trigger it.
    """
    d = np.asarray(depth, np.float32)
    t = np.maximum(np.float32(abs_threshold), np.float32(rel_threshold) * d)
    if noise_sigma is not None:
        t = np.maximum(t, np.float32(noise_factor) * np.asarray(noise_sigma, np.float32))
    big = np.float32(1e9)
    dd = np.where(d > 0, d, big)
    h, w = d.shape
    out = np.zeros(d.shape, bool)
    # one absolute difference per neighbour pair and direction, shared by the two pixels of the pair
    for dy, dx in ((0, 1), (1, 0), (1, 1), (1, -1)):
        y0, y1 = 0, h - dy
        x0, x1 = (0, w - dx) if dx >= 0 else (-dx, w)
        diff = np.abs(dd[y0 + dy:y1 + dy, x0 + dx:x1 + dx] - dd[y0:y1, x0:x1])  # pair (p, p + (dy, dx))
        # interior pixels c = p + (dy, dx) whose both pairs (c - s, c) and (c, c + s) exist
        ca = diff[:-dy or None, :] if dy else diff
        cb = diff[dy:, :] if dy else diff
        if dx > 0:
            ca, cb = ca[:, :-dx], cb[:, dx:]
        elif dx < 0:
            ca, cb = ca[:, -dx:], cb[:, :dx]
        cy0, cx0 = dy, abs(dx)
        hh, ww = ca.shape
        tc = t[cy0:cy0 + hh, cx0:cx0 + ww]
        out[cy0:cy0 + hh, cx0:cx0 + ww] |= (ca > tc) & (cb > tc)
    return out & (d > 0)


def depth_noise_sigma(amplitude: np.ndarray, intensity: np.ndarray, frequencies_hz, steps: int) -> np.ndarray:
    """(H, W) float32 expected range noise (metres, one sigma) of the shot-noise limited N-step estimator:
    ``sigma_phi = sqrt(2 B / N) / A`` per frequency, range sigma ``c / (4 pi f) sigma_phi``, combined over the
    frequencies by inverse variance (amplitude and intensity of the highest frequency stand for all)."""
    sphi = np.sqrt(np.float32(2.0 / steps) * np.maximum(intensity, np.float32(1))) / np.maximum(amplitude, np.float32(1e-3))
    inv = sum((4 * np.pi * float(f) / C_LIGHT) ** 2 for f in np.atleast_1d(frequencies_hz))
    return (sphi * np.float32(1.0 / np.sqrt(inv))).astype(np.float32)


@dataclass
class ToFResult:
    """Decoded ToF frame (H, W arrays, camera frame of the ToF sensor).

    depth: float32 planar depth z in metres, 0 where invalid (filtered).
    range: float32 radial range in metres (unfiltered).
    amplitude: float32 modulated amplitude (counts) of the highest frequency.
    intensity: float32 mean correlation value (counts) = ambient + DC return (an infrared image).
    confidence: float32 in [0, 1): ``snr / (snr + 10)`` with ``snr = A / sqrt(B)`` (shot-noise limited
        phase SNR proxy) of the highest frequency.
    valid: bool: kept after the low-amplitude and flying-pixel filters (and unwrapping residual test).
    flying: bool: pixels removed by the flying-pixel filter.
    residual: float32 metres: dual-frequency disagreement (zeros for one frequency).
    unambiguous_range: float metres.
    """

    depth: np.ndarray
    range: np.ndarray
    amplitude: np.ndarray
    intensity: np.ndarray
    confidence: np.ndarray
    valid: np.ndarray
    flying: np.ndarray
    residual: np.ndarray
    unambiguous_range: float
    extras: dict = field(default_factory=dict)


def decode_tof(frames: np.ndarray, frequencies_hz, intrinsics: Intrinsics, *,
               phase_offsets: np.ndarray | None = None, min_amplitude: float = 20.0,
               flying_filter: bool = True, flying_rel: float = 0.03, flying_abs: float = 0.02,
               max_residual: float | None = None, range_offset: float = 0.0,
               saturation: int | None = 65535, threads: int = 1) -> ToFResult:
    """Decode one raw AMCW ToF frame to depth.

    Args:
        frames: (F, N, H, W) correlation samples for F modulation frequencies (1 or 2) x N phase steps
            (any real dtype, e.g. uint16).
        frequencies_hz: F modulation frequencies in Hz (for 2, any order; the higher is the fine one).
        intrinsics: the sensor's intrinsics (H, W), for radial -> planar depth.
        phase_offsets: (N,) step offsets in radians (default ``2*pi*k/N``).
        min_amplitude: low-amplitude filter: pixels whose amplitude (counts, highest frequency) is below it
            are invalid.
        flying_filter: remove flying pixels (:func:`flying_pixel_mask`) with ``flying_rel``/``flying_abs``.
        max_residual: with two frequencies, invalidate pixels whose two unwrapped ranges disagree by more
            than this many metres (default: a quarter of the fine wavelength's wrap length).
        range_offset: constant range calibration offset subtracted (metres).
        saturation: uint16 frames: pixels with any sample at or above this count are invalid (None: off).
        threads: decode this many horizontal bands in parallel threads (numpy releases the GIL; bands
            overlap by one row so the flying-pixel filter sees every neighbour). 1 = single-threaded.

    Returns:
        :class:`ToFResult`.
    """
    frames = np.asarray(frames)
    freqs = [float(f) for f in np.atleast_1d(frequencies_hz)]
    if frames.ndim != 4:
        raise ValueError(f"decode_tof: frames must be (F, N, H, W), got shape {frames.shape}")
    if frames.shape[0] != len(freqs):
        raise ValueError(f"decode_tof: frames hold {frames.shape[0]} frequencies but {len(freqs)} were given")
    if len(freqs) not in (1, 2):
        raise ValueError(f"decode_tof: 1 or 2 modulation frequencies are supported, got {len(freqs)}")
    if frames.shape[2:] != (intrinsics.height, intrinsics.width):
        raise ValueError(f"decode_tof: frames are {frames.shape[3]}x{frames.shape[2]} but intrinsics say "
                         f"{intrinsics.width}x{intrinsics.height}")
    h = frames.shape[2]
    if threads > 1 and h >= 64:
        return _decode_bands(frames, freqs, intrinsics, int(threads), dict(
            phase_offsets=phase_offsets, min_amplitude=min_amplitude, flying_filter=flying_filter,
            flying_rel=flying_rel, flying_abs=flying_abs, max_residual=max_residual, range_offset=range_offset,
            saturation=saturation))
    return _decode_block(frames, freqs, _inv_ray_norm(intrinsics), phase_offsets=phase_offsets,
                         min_amplitude=min_amplitude, flying_filter=flying_filter, flying_rel=flying_rel,
                         flying_abs=flying_abs, max_residual=max_residual, range_offset=range_offset,
                         saturation=saturation)


_POOL = None


def _pool(n: int):
    global _POOL
    from concurrent.futures import ThreadPoolExecutor

    if _POOL is None or _POOL._max_workers < n:
        _POOL = ThreadPoolExecutor(max_workers=n, thread_name_prefix="depth3d-tof")
    return _POOL


def _decode_bands(frames, freqs, intrinsics, threads, kw) -> ToFResult:
    h = frames.shape[2]
    inv = _inv_ray_norm(intrinsics)
    edges = np.linspace(0, h, threads + 1).round().astype(int)
    jobs = []
    for a, b in zip(edges[:-1], edges[1:]):
        a0, b0 = max(0, a - 1), min(h, b + 1)  # one halo row each side
        jobs.append((a, b, a0, _pool(threads).submit(_decode_block, frames[:, :, a0:b0], freqs, inv[a0:b0], **kw)))
    parts = [(a, b, a0, j.result()) for a, b, a0, j in jobs]
    out = {}
    for name in ("depth", "range", "amplitude", "intensity", "confidence", "valid", "flying", "residual"):
        out[name] = np.concatenate([getattr(r, name)[a - a0:b - a0] for a, b, a0, r in parts], axis=0)
    return ToFResult(**out, unambiguous_range=parts[0][3].unambiguous_range)


def _decode_block(frames, freqs, inv_norm, *, phase_offsets, min_amplitude, flying_filter, flying_rel,
                  flying_abs, max_residual, range_offset, saturation) -> ToFResult:
    order = np.argsort(freqs)[::-1]
    decoded = [decode_phase(frames[j], phase_offsets) for j in order]
    fs = [freqs[j] for j in order]
    phase1, amp1, b1 = decoded[0]
    if len(fs) == 2:
        phase2, amp2, _ = decoded[1]
        rng, residual = unwrap_dual(phase1, phase2, fs[0], fs[1], amp1, amp2)
        r_max = unambiguous_range(fs)
        if max_residual is None:
            max_residual = 0.25 * C_LIGHT / (2 * fs[0])
    else:
        rng = phase_to_range(phase1, fs[0])
        residual = np.zeros_like(rng)
        r_max = unambiguous_range(fs)
    if range_offset:
        rng = rng - np.float32(range_offset)
    valid = amp1 >= np.float32(min_amplitude)
    if saturation is not None and frames.dtype == np.uint16:
        peak = np.maximum.reduce(frames.reshape(-1, *frames.shape[2:]), axis=0)
        valid &= peak < saturation
    if max_residual is not None and len(fs) == 2:
        valid &= residual <= np.float32(max_residual)
    depth = rng * inv_norm
    depth *= valid
    snr = amp1 / np.sqrt(np.maximum(b1, np.float32(1)))
    if flying_filter:
        # depth_noise_sigma(amp1, b1, ...) rewritten with the shared snr: sqrt(2/N) / snr * c / (4 pi |f|)
        inv = sum((4 * np.pi * float(f) / C_LIGHT) ** 2 for f in fs)
        k = np.float32(np.sqrt(2.0 / frames.shape[1]) / np.sqrt(inv))
        sigma = k / np.maximum(snr, np.float32(1e-6))
        flying = flying_pixel_mask(depth, flying_rel, flying_abs, noise_sigma=sigma)
        depth[flying] = 0
        valid &= ~flying
    else:
        flying = np.zeros(depth.shape, bool)
    conf = snr / (snr + np.float32(10))
    return ToFResult(depth=depth.astype(np.float32), range=rng.astype(np.float32), amplitude=amp1,
                     intensity=b1, confidence=conf.astype(np.float32), valid=valid, flying=flying,
                     residual=residual, unambiguous_range=r_max)
