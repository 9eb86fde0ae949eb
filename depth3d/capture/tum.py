"""TUM RGB-D folders: ``rgb.txt`` / ``depth.txt`` lists of ``timestamp path``, 16-bit depth PNGs with a
depth factor of 5000 units per metre (``depth_scale = 1/5000 = 0.0002`` m/unit), colour PNGs.

Reading associates every depth image with the colour image of nearest timestamp (within ``max_dt``
seconds, like TUM's ``associate.py``); writing produces a folder the TUM tools and :func:`open_tum` read.
Intrinsics: the folder's ``intrinsics.json`` if present (written by :class:`TumWriter`), otherwise the
TUM default for the named camera (``freiburg1/2/3`` in the folder name) or the ROS default (525, 319.5,
239.5), all at 640x480.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from depth3d.core.frame import RGBDFrame
from depth3d.core.intrinsics import Intrinsics
from depth3d.core.pose import Pose
from depth3d.core.source import Source

TUM_DEPTH_SCALE = 1.0 / 5000.0
#: TUM's published colour intrinsics (the depth images are registered to colour)
TUM_INTRINSICS = {
    "freiburg1": Intrinsics(640, 480, 517.3, 516.5, 318.6, 255.3, "brown_conrady",
                            (0.2624, -0.9531, -0.0054, 0.0026, 1.1633)),
    "freiburg2": Intrinsics(640, 480, 520.9, 521.0, 325.1, 249.7, "brown_conrady",
                            (0.2312, -0.7849, -0.0033, -0.0001, 0.9172)),
    "freiburg3": Intrinsics(640, 480, 535.4, 539.2, 320.1, 247.6),
    "default": Intrinsics(640, 480, 525.0, 525.0, 319.5, 239.5),
}


def read_list(path: Path) -> list[tuple[float, str]]:
    """Parse a TUM list file (``# comments``, then ``timestamp filename`` lines)."""
    out = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) < 2:
            raise ValueError(f"{path}:{n}: expected 'timestamp filename', got {line!r}")
        try:
            out.append((float(parts[0]), parts[1]))
        except ValueError:
            raise ValueError(f"{path}:{n}: timestamp {parts[0]!r} is not a number") from None
    return out


def associate(depth: list[tuple[float, str]], rgb: list[tuple[float, str]], max_dt: float = 0.02,
              ) -> list[tuple[tuple[float, str], tuple[float, str] | None]]:
    """Pair each depth entry with the rgb entry nearest in time (``|dt| <= max_dt`` s), one-to-one,
    greedily by smallest difference like TUM's associate.py. Depth entries without a partner get None."""
    if not rgb:
        return [(d, None) for d in depth]
    rt = np.array([t for t, _ in rgb])
    cands = []
    for i, (t, _) in enumerate(depth):
        j = int(np.searchsorted(rt, t))
        for k in (j - 1, j):
            if 0 <= k < len(rt) and abs(rt[k] - t) <= max_dt:
                cands.append((abs(rt[k] - t), i, k))
    cands.sort()
    used_d: dict[int, int] = {}
    used_r: set[int] = set()
    for _, i, k in cands:
        if i not in used_d and k not in used_r:
            used_d[i] = k
            used_r.add(k)
    return [(d, rgb[used_d[i]] if i in used_d else None) for i, d in enumerate(depth)]


class TumSource(Source):
    """A TUM RGB-D folder as a :class:`~depth3d.capture.source.Source` (finite, in depth-timestamp order).

    Args:
        folder: holding ``depth.txt`` (and usually ``rgb.txt``).
        intrinsics: override the camera intrinsics.
        max_dt: association tolerance in seconds.
        require_color: skip depth frames without a colour partner (default False: they come without colour).
    """

    kind = "tum"

    def __init__(self, folder: str | Path, *, intrinsics: Intrinsics | None = None, max_dt: float = 0.02,
                 require_color: bool = False, **_: Any) -> None:
        super().__init__()
        self.folder = Path(folder)
        self._intr_override = intrinsics
        self.max_dt = float(max_dt)
        self.require_color = require_color
        self._pairs: list = []
        self._pos = 0
        self.depth_scale = TUM_DEPTH_SCALE

    def _intrinsics(self) -> Intrinsics:
        if self._intr_override is not None:
            return self._intr_override
        f = self.folder / "intrinsics.json"
        if f.is_file():
            return Intrinsics.load(f)
        name = self.folder.resolve().name.lower()
        for key in ("freiburg1", "freiburg2", "freiburg3"):
            if key in name:
                return TUM_INTRINSICS[key]
        return TUM_INTRINSICS["default"]

    def start(self) -> None:
        if not self.folder.is_dir():
            raise FileNotFoundError(f"TUM folder {self.folder} does not exist")
        dlist = self.folder / "depth.txt"
        if not dlist.is_file():
            raise ValueError(f"TUM folder {self.folder} has no depth.txt (expected rgb.txt and depth.txt)")
        depth = read_list(dlist)
        rlist = self.folder / "rgb.txt"
        rgb = read_list(rlist) if rlist.is_file() else []
        pairs = associate(depth, rgb, self.max_dt)
        if self.require_color:
            pairs = [p for p in pairs if p[1] is not None]
        self._pairs = pairs
        self._pos = 0
        meta = self.folder / "depth3d.json"
        self._meta = json.loads(meta.read_text()) if meta.is_file() else {}
        self.depth_scale = float(self._meta.get("depth_scale", TUM_DEPTH_SCALE))
        intr = self._intrinsics()
        self.depth_intrinsics = intr
        self.color_intrinsics = intr if rgb else None
        self.depth_to_color = Pose.identity()

    def stop(self) -> None:
        self._pairs = []

    def read(self, timeout: float = 5.0) -> RGBDFrame | None:
        from depth3d.io.depth_png import read_color, read_depth_png

        if self._pos >= len(self._pairs):
            return None
        (td, dpath), rgb = self._pairs[self._pos]
        index = self._pos
        self._pos += 1
        depth = read_depth_png(self.folder / dpath)
        intr = self.depth_intrinsics
        if (intr.height, intr.width) != depth.shape:
            raise ValueError(f"{self.folder / dpath}: depth is {depth.shape[1]}x{depth.shape[0]} but the "
                             f"intrinsics are {intr.width}x{intr.height} (put an intrinsics.json in the folder)")
        color = read_color(self.folder / rgb[1]) if rgb is not None else None
        return RGBDFrame(depth=depth, depth_intrinsics=intr, color=color, color_intrinsics=None,
                         depth_scale=self.depth_scale, timestamp=td, index=index,
                         sensor=self._meta.get("sensor", "file"),
                         extras={"depth_file": dpath, "rgb_file": rgb[1] if rgb else None,
                                 "rgb_timestamp": rgb[0] if rgb else None})

    def seek_index(self, index: int) -> None:
        """Continue from frame ``index`` (0-based)."""
        if not 0 <= index <= len(self._pairs):
            raise ValueError(f"frame {index} is outside 0..{len(self._pairs)}")
        self._pos = index

    @property
    def frame_count(self) -> int | None:
        return len(self._pairs) if self._pairs or self._started else None

    @property
    def info(self) -> dict[str, Any]:
        return {"kind": self.kind, "path": str(self.folder), "frames": len(self._pairs),
                "depth_scale": self.depth_scale}


class TumWriter:
    """Write RGB-D frames as a TUM RGB-D folder (``rgb/``, ``depth/``, ``rgb.txt``, ``depth.txt``,
    ``associations.txt``, plus ``intrinsics.json``/``depth3d.json`` so nothing is lost).

    Colour must be registered to depth (same camera); depth is written with TUM's factor 5000 unless
    ``keep_units`` is set, in which case uint16 depth is written unchanged and ``depth3d.json`` records the
    scale. Lists are rewritten atomically on :meth:`close`.
    """

    def __init__(self, folder: str | Path, keep_units: bool = False) -> None:
        self.folder = Path(folder)
        (self.folder / "rgb").mkdir(parents=True, exist_ok=True)
        (self.folder / "depth").mkdir(parents=True, exist_ok=True)
        self.keep_units = keep_units
        self._rgb: list[str] = []
        self._depth: list[str] = []
        self._assoc: list[str] = []
        self._intr: Intrinsics | None = None
        self._scale = TUM_DEPTH_SCALE
        self._sensor = "file"

    def add_frame(self, frame: RGBDFrame) -> None:
        """Write one frame's depth (16-bit PNG) and colour (PNG) named by timestamp."""
        from depth3d.io.depth_png import write_color, write_depth_png

        if not frame.registered:
            raise ValueError("TUM folders hold colour registered to depth; register the frame first "
                             "(depth3d.geometry.register_depth_to_color)")
        if self._intr is None:
            self._intr = frame.depth_intrinsics
            self._sensor = frame.sensor
            if self.keep_units and frame.depth.dtype == np.uint16:
                self._scale = frame.depth_scale
        ts = f"{frame.timestamp:.6f}"
        dname = f"depth/{ts}.png"
        if self.keep_units and frame.depth.dtype == np.uint16:
            write_depth_png(self.folder / dname, frame.depth)
        else:
            write_depth_png(self.folder / dname, frame.depth_m(), depth_scale=TUM_DEPTH_SCALE)
        self._depth.append(f"{ts} {dname}")
        if frame.color is not None:
            cname = f"rgb/{ts}.png"
            write_color(self.folder / cname, frame.color)
            self._rgb.append(f"{ts} {cname}")
            self._assoc.append(f"{ts} {dname} {ts} {cname}")

    def close(self) -> None:
        from depth3d.core.atomic import atomic_write

        head = "# written by depth3d\n# timestamp filename\n"
        for name, lines in (("depth.txt", self._depth), ("rgb.txt", self._rgb)):
            with atomic_write(self.folder / name, "w") as f:
                f.write(head + "".join(line + "\n" for line in lines))
        with atomic_write(self.folder / "associations.txt", "w") as f:
            f.write("".join(line + "\n" for line in self._assoc))
        if self._intr is not None:
            self._intr.save(self.folder / "intrinsics.json")
        with atomic_write(self.folder / "depth3d.json", "w") as f:
            json.dump({"depth_scale": self._scale, "sensor": self._sensor}, f)

    def __enter__(self) -> "TumWriter":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def write_tum(frames, folder: str | Path, keep_units: bool = False) -> int:
    """Write an iterable of frames as a TUM folder; returns the number written."""
    n = 0
    with TumWriter(folder, keep_units) as w:
        for f in frames:
            w.add_frame(f)
            n += 1
    return n


def tum_folder_of_pair(color_png: str | Path, depth_png: str | Path, folder: str | Path,
                       timestamp: float = 1.0) -> Path:
    """Lay out one TUM RGB-D image pair (colour PNG, 16-bit depth PNG at 5000 units per metre) as a
    one-frame TUM folder (``rgb/``, ``depth/``, ``rgb.txt``, ``depth.txt``; the files copied byte for byte)
    that every source-taking verb reads; returns the folder. Refuses a folder that already has lists."""
    import shutil

    from depth3d.core.errors import InputError

    root = Path(folder)
    for f in (color_png, depth_png):
        if not Path(f).is_file():
            raise InputError(f"{f}: no such image file")
    if (root / "rgb.txt").exists() or (root / "depth.txt").exists():
        raise InputError(f"{root}: already a TUM folder (rgb.txt/depth.txt exist)")
    (root / "rgb").mkdir(parents=True, exist_ok=True)
    (root / "depth").mkdir(exist_ok=True)
    name = f"{timestamp:.6f}.png"
    shutil.copy(color_png, root / "rgb" / name)
    shutil.copy(depth_png, root / "depth" / name)
    (root / "rgb.txt").write_text(f"# rgb\n{timestamp:.6f} rgb/{name}\n")
    (root / "depth.txt").write_text(f"# depth\n{timestamp:.6f} depth/{name}\n")
    return root


def open_tum(rest: str, **options: Any) -> TumSource:
    """Source for the TUM RGB-D folder ``rest``; options go to :class:`TumSource`."""
    return TumSource(rest, **options)
