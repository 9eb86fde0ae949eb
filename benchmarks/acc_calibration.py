"""Stereo calibration on real chessboard pairs, complete and imperfect, beside plain OpenCV.

    python benchmarks/acc_calibration.py [--data ../shared/data/stereo-chessboard] [--repeat 3]

Three image sets, all from ``stereo-chessboard`` (14 pairs ``leftNN.jpg`` / ``rightNN.jpg``, 320x240, 7x7
inner corners, square size unknown, so square units):

- ``complete``: the folder as it is;
- ``unreadable``: a temporary copy with ``left03.jpg`` and ``right05.jpg`` truncated to 0 bytes;
- ``one-sided``: a temporary copy with ``right07.jpg`` replaced by a flat grey image (board in the left
  image only).

Each set is calibrated by depth3d (:func:`read_image_pairs` + :func:`calibrate_stereo`, what
``depth3d calibrate stereo`` runs) and by the usual plain OpenCV script: ``cv2.imread``, ``cvtColor``,
``findChessboardCorners`` + ``cornerSubPix`` (11x11 window) on both images, keep the pair when both are
found, ``calibrateCamera`` per camera, ``stereoCalibrate`` with ``CALIB_FIX_INTRINSIC`` (the ``Extended``
variant, same solver, for its per-pair errors), ``stereoRectify`` (``CALIB_ZERO_DISPARITY``, alpha 0 like
depth3d's default). On the set with unreadable images the plain script crashes in ``cvtColor``; it is
shown failing and then once more with the unreadable pairs skipped by hand.

Reported per run: pairs used / skipped (reason) / dropped as outliers, stereo RMS (px), the worst pair's
stereo RMS (px, worse of left/right), the mean rectified row error and the time (median of ``--repeat``
interleaved runs, reading the images included). Row error: the board corners of every pair of that set
with the board in both images (found by depth3d's detector, whose corner order is the same in both
cameras) mapped with ``cv2.undistortPoints(K, D, R=R1|R2, P=P1|P2)`` of the calibration under test, mean
of ``|y_left - y_right|`` in rectified pixels. Writes benchmarks/results/calibration.md.
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _util import machine, today  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "stereo-chessboard"
OUT = Path(__file__).resolve().parent / "results" / "calibration.md"
GOAL_PX = 0.5


# ------------------------------------------------------------------------------------------------ sets
def make_sets(src: Path, tmp: Path) -> dict[str, Path]:
    """The three image folders: the original and two damaged temporary copies."""
    import cv2

    sets = {"complete": src}
    for name in ("unreadable", "one-sided"):
        d = tmp / name
        d.mkdir()
        for f in sorted(src.glob("*.jpg")):
            shutil.copy(f, d / f.name)
        sets[name] = d
    (sets["unreadable"] / "left03.jpg").write_bytes(b"")
    (sets["unreadable"] / "right05.jpg").write_bytes(b"")
    cv2.imwrite(str(sets["one-sided"] / "right07.jpg"), np.full((240, 320), 128, np.uint8))
    return sets


# ------------------------------------------------------------------------------------------------ runners
def run_depth3d(folder: Path) -> dict:
    """What ``depth3d calibrate stereo --left 'DIR/left*.jpg' --right 'DIR/right*.jpg'`` computes."""
    from depth3d.stereo.calibration import Board, calibrate_stereo, read_image_pairs

    L, R, names = read_image_pairs(str(folder / "left*.jpg"), str(folder / "right*.jpg"))
    c = calibrate_stereo(L, R, Board(), names=names)
    skipped = [d for d in c.dropped if not d.endswith("outlier)")]
    outliers = [d for d in c.dropped if d.endswith("outlier)")]
    return dict(used=len(c.views), skipped=skipped, outliers=outliers, rms=c.rms,
                worst=float(np.max(c.per_view_rms)), calib=(c.K1, c.D1, c.K2, c.D2, c.R1, c.R2, c.P1, c.P2))


def run_plain(folder: Path, skip_unreadable: bool = False) -> dict:
    """The usual OpenCV stereo calibration script (tutorial style). With ``skip_unreadable`` the
    ``imread`` result is checked by hand and such pairs skipped; without it a None image reaches cvtColor."""
    import cv2

    size = (7, 7)
    objp = np.zeros((size[0] * size[1], 3), np.float32)
    objp[:, :2] = np.mgrid[0:size[0], 0:size[1]].T.reshape(-1, 2)
    crit = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 30, 0.001)
    obj, ptsL, ptsR, skipped, flipped = [], [], [], [], []
    image_size = None
    for lf, rf in zip(sorted(glob.glob(str(folder / "left*.jpg"))), sorted(glob.glob(str(folder / "right*.jpg")))):
        imgL, imgR = cv2.imread(lf), cv2.imread(rf)
        if skip_unreadable and (imgL is None or imgR is None):
            skipped.append(f"{Path(lf).name} (unreadable, skipped by hand)")
            continue
        grayL = cv2.cvtColor(imgL, cv2.COLOR_BGR2GRAY)
        grayR = cv2.cvtColor(imgR, cv2.COLOR_BGR2GRAY)
        image_size = grayL.shape[::-1]
        okL, cL = cv2.findChessboardCorners(grayL, size, None)
        okR, cR = cv2.findChessboardCorners(grayR, size, None)
        if not (okL and okR):
            skipped.append(f"{Path(lf).name} (board not found in both)")
            continue
        obj.append(objp)
        # diagnostic only (not part of the script): does the grid start from the same board corner in both?
        a, b = cL.reshape(7, 7, 2), cR.reshape(7, 7, 2)
        same = all(np.dot(u, v) > 0.5 * np.linalg.norm(u) * np.linalg.norm(v)
                   for u, v in ((a[0, -1] - a[0, 0], b[0, -1] - b[0, 0]), (a[-1, 0] - a[0, 0], b[-1, 0] - b[0, 0])))
        if not same:
            flipped.append(Path(lf).name)
        ptsL.append(cv2.cornerSubPix(grayL, cL, (11, 11), (-1, -1), crit))
        ptsR.append(cv2.cornerSubPix(grayR, cR, (11, 11), (-1, -1), crit))
    _, K1, D1, _, _ = cv2.calibrateCamera(obj, ptsL, image_size, None, None)
    _, K2, D2, _, _ = cv2.calibrateCamera(obj, ptsR, image_size, None, None)
    rms, K1, D1, K2, D2, R, T, _, _, _, _, per_view = cv2.stereoCalibrateExtended(
        obj, ptsL, ptsR, K1, D1, K2, D2, image_size, np.eye(3), np.zeros((3, 1)), flags=cv2.CALIB_FIX_INTRINSIC)
    R1, R2, P1, P2, _, _, _ = cv2.stereoRectify(K1, D1, K2, D2, image_size, R, T, flags=cv2.CALIB_ZERO_DISPARITY,
                                                alpha=0)
    return dict(used=len(obj), skipped=skipped, outliers=[], rms=float(rms), worst=float(np.max(per_view)),
                flipped=flipped, calib=(K1, D1, K2, D2, R1, R2, P1, P2))


def row_error(folder: Path, calib: tuple) -> tuple[float, int]:
    """Mean |y_left - y_right| (rectified px) over the corners of every pair of ``folder`` with the board
    in both images, and the number of such pairs."""
    import cv2

    from depth3d.stereo.calibration import Board, detect_pairs, read_image_pairs

    K1, D1, K2, D2, R1, R2, P1, P2 = calib
    L, R, names = read_image_pairs(str(folder / "left*.jpg"), str(folder / "right*.jpg"))
    views, _, _ = detect_pairs(L, R, Board(), names)
    dy = []
    for v in views:
        yl = cv2.undistortPoints(v.left.astype(np.float64), K1, D1, R=R1, P=P1).reshape(-1, 2)[:, 1]
        yr = cv2.undistortPoints(v.right.astype(np.float64), K2, D2, R=R2, P=P2).reshape(-1, 2)[:, 1]
        dy.append(np.abs(yl - yr))
    return float(np.concatenate(dy).mean()), len(views)


def timed(fn, repeat: int) -> tuple[dict | None, float | None, str | None]:
    """(result, median seconds, failure text) of ``repeat`` calls; the first failure ends the runs."""
    times, res = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        try:
            res = fn()
        except Exception as e:  # noqa: BLE001 - the failure is the measurement
            msg = str(e).strip().splitlines()
            name = type(e).__name__ if type(e).__module__ == "builtins" else f"{type(e).__module__}.{type(e).__name__}"
            return None, None, f"{name}: {msg[-1] if msg else ''}".strip()
        times.append(time.perf_counter() - t)
    return res, statistics.median(times), None


# ------------------------------------------------------------------------------------------------ main
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(DATA), help="folder with leftNN.jpg / rightNN.jpg")
    ap.add_argument("--repeat", type=int, default=3, help="runs per method and set (median time)")
    ap.add_argument("-o", "--output", default=str(OUT))
    args = ap.parse_args()
    src = Path(args.data)
    if not (src.is_dir() and glob.glob(str(src / "left*.jpg"))):
        print(f"skipped: no stereo chessboard images in {src} (the shared data folder is absent)")
        return 0
    import cv2

    load = os.getloadavg()[0]
    rows, flips = [], set()
    with tempfile.TemporaryDirectory() as tmp:
        sets = make_sets(src, Path(tmp))
        for set_name, folder in sets.items():
            runs = [("depth3d", lambda f=folder: run_depth3d(f)), ("plain OpenCV", lambda f=folder: run_plain(f))]
            if set_name == "unreadable":
                runs.append(("plain OpenCV, unreadable pairs skipped by hand",
                             lambda f=folder: run_plain(f, skip_unreadable=True)))
            # interleave the methods: one call of each per round
            results: dict[str, dict] = {}
            for method, fn in runs:
                res, t, fail = timed(fn, 1)  # first round, also catches a crash
                results[method] = dict(res=res, times=[t] if t is not None else [], fail=fail)
            for _ in range(args.repeat - 1):
                for method, fn in runs:
                    if results[method]["fail"] is None:
                        _, t, _ = timed(fn, 1)
                        results[method]["times"].append(t)
            for method, _ in runs:
                r = results[method]
                if r["fail"]:
                    rows.append(f"| {set_name} | {method} | fails: `{r['fail']}` | - | - | - | - | - | - | no |")
                    continue
                res = r["res"]
                dy, n_rows = row_error(folder, res["calib"])
                if res.get("flipped"):
                    flips.add((set_name, ", ".join(res["flipped"]), res["used"]))
                ok = res["rms"] < GOAL_PX and dy < GOAL_PX
                rows.append(f"| {set_name} | {method} | {res['used']} | "
                            f"{len(res['skipped'])}: {', '.join(res['skipped']) or '-'} | "
                            f"{len(res['outliers'])}: {', '.join(res['outliers']) or '-'} | {res['rms']:.3f} | "
                            f"{res['worst']:.3f} | {dy:.3f} ({n_rows} pairs) | "
                            f"{statistics.median(r['times']):.2f} s | {'yes' if ok else 'no'} |")
                print(rows[-1], flush=True)

    lines = ["## Stereo calibration on real chessboard pairs, complete and imperfect sets", "",
             f"- date: {today()}; machine: {machine()}, OpenCV {cv2.__version__}; load average {load:.1f} "
             "when the run started",
             f"- command: `python benchmarks/acc_calibration.py --repeat {args.repeat}`",
             "- data: `../shared/data/stereo-chessboard`, 14 real pairs 320x240, 7x7 inner corners, square units; "
             "`unreadable`: a copy with left03.jpg and right05.jpg truncated to 0 bytes; `one-sided`: a copy with "
             "right07.jpg replaced by a flat grey image",
             "- depth3d: `depth3d calibrate stereo` defaults (`read_image_pairs` + `calibrate_stereo`: outlier "
             "pairs dropped one at a time). Plain OpenCV: the usual script (imread, cvtColor, "
             "findChessboardCorners + cornerSubPix 11x11 on both images, calibrateCamera per camera, "
             "stereoCalibrate with CALIB_FIX_INTRINSIC, stereoRectify with CALIB_ZERO_DISPARITY and alpha 0)",
             "- stereo RMS and worst pair: OpenCV's stereo reprojection errors (worst pair = largest per-pair RMS, "
             "worse of left/right). Row error: mean |y_left - y_right| in rectified pixels of the board corners of "
             "every pair of the set with the board in both images (outliers included), mapped with "
             "cv2.undistortPoints and the calibration's R1/P1, R2/P2. Time: reading + detection + calibration + "
             f"rectification, median of {args.repeat} interleaved runs",
             f"- goal: stereo RMS < {GOAL_PX} px and mean rectified row error < {GOAL_PX} px on every set", "",
             "| set | method | pairs used | skipped (reason) | dropped as outliers | stereo RMS (px) | "
             "worst pair (px) | mean row error (px) | time | goal met |",
             "|---|---|---|---|---|---|---|---|---|---|", *rows, ""]
    if flips:
        lines.append("Why plain OpenCV misses the goal: `findChessboardCorners` may start a square (7x7) board's "
                     "grid from any of its corners, and in " + "; ".join(
                         f"{f.count(',') + 1} of the {n} pairs of `{s}` ({f})" for s, f, n in sorted(flips))
                     + " it starts from a different corner in the left and the right image, so the usual script "
                     "pairs wrong corners and stereoCalibrate fits garbage without any warning. depth3d puts every "
                     "detection in one image-based order (rows left to right, columns top to bottom) before "
                     "pairing, and sizes the cornerSubPix window from the square size (7-25 px squares here; the "
                     "usual 11x11 window spans 23 px).")
        lines.append("")
    text = "\n".join(lines).rstrip() + "\n"
    print(text)
    from depth3d.core.atomic import atomic_write

    with atomic_write(Path(args.output), "w") as f:
        f.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
