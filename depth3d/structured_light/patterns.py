"""Projector patterns for structured light: binary and Gray code (with inverses), N-step phase shift.

Projector pixel convention: column ``u`` (row ``v``) has its centre at integer ``u``; a continuous projector
coordinate ``u`` lies in pixel ``round(u)``.

Pattern set (what ``depth3d sl generate`` writes, in this order; names are the PNG file stems)::

    white, black                              full on / off (shadow mask and albedo normalisation)
    col_gray_00, col_gray_00_inv, ...         Gray code of the column, most significant bit first
    col_phase_0 .. col_phase_{N-1}            I_k(u) = 0.5 + 0.5 cos(2 pi u / P + 2 pi k / N)
    row_gray_.., row_phase_..                 the same for rows (only with rows=True)

``patterns.json`` beside the images describes the set (see :class:`PatternSet`). With ``code="binary"``
plain binary code replaces the Gray code (names ``col_bin_..``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from depth3d.core.atomic import atomic_write
from depth3d.structured_light._jsonfile import JsonFile

FORMAT = "depth3d.sl_patterns"


def n_bits_for(size: int) -> int:
    """Bits needed to code ``size`` columns/rows: ``ceil(log2(size))``."""
    if size < 2:
        raise ValueError(f"a pattern axis needs at least 2 pixels, got {size}")
    return int(np.ceil(np.log2(size)))


def gray_encode(x: np.ndarray) -> np.ndarray:
    """Gray code of non-negative integers: ``x ^ (x >> 1)``."""
    x = np.asarray(x)
    return x ^ (x >> 1)


def gray_decode_table(n_bits: int) -> np.ndarray:
    """(2**n_bits,) int32 lookup table Gray code -> binary value."""
    v = np.arange(2 ** n_bits, dtype=np.int64)
    table = np.empty_like(v)
    table[gray_encode(v)] = v
    return table.astype(np.int32)


@dataclass
class AxisCode:
    """Coding of one projector axis. code: "gray" or "binary"; bits: code bits (MSB first); steps: phase
    steps (0 = no phase shift); period: phase period in projector pixels (a power of two dividing 2**bits)."""

    code: str = "gray"
    bits: int = 10
    steps: int = 4
    period: int = 16

    def names(self, axis: str) -> list[str]:
        tag = "gray" if self.code == "gray" else "bin"
        out = []
        for b in range(self.bits):
            out += [f"{axis}_{tag}_{b:02d}", f"{axis}_{tag}_{b:02d}_inv"]
        out += [f"{axis}_phase_{k}" for k in range(self.steps)]
        return out


@dataclass
class PatternSet(JsonFile):
    """A projector pattern set: projector size, column (and optional row) coding.

    Attributes:
        width, height: projector resolution in pixels.
        columns: :class:`AxisCode` of the columns.
        rows: :class:`AxisCode` of the rows, or None (column coding is enough to triangulate).
    """

    json_what = "pattern description"
    width: int
    height: int
    columns: AxisCode = field(default_factory=AxisCode)
    rows: AxisCode | None = None

    @classmethod
    def default(cls, width: int = 800, height: int = 600, bits: int | None = None, steps: int = 4,
                period: int = 16, rows: bool = False, code: str = "gray") -> "PatternSet":
        """Gray code with ``ceil(log2(width))`` bits (10 for 513..1024 columns) plus ``steps``-step phase
        shift of period ``period`` pixels; rows coded the same way when ``rows``."""
        if code not in ("gray", "binary"):
            raise ValueError(f"pattern code must be 'gray' or 'binary', got {code!r}")
        cb = bits or n_bits_for(width)
        if 2 ** cb < width:
            raise ValueError(f"{cb} bits code only {2 ** cb} columns but the projector has {width}")
        if steps and (steps < 3 or period < 2):
            raise ValueError(f"phase shift needs >= 3 steps and a period >= 2 pixels, got {steps}, {period}")
        col = AxisCode(code, cb, steps, period)
        row = AxisCode(code, n_bits_for(height), steps, period) if rows else None
        return cls(int(width), int(height), col, row)

    def names(self) -> list[str]:
        """Image names in projection order."""
        out = ["white", "black"] + self.columns.names("col")
        if self.rows is not None:
            out += self.rows.names("row")
        return out

    def to_dict(self) -> dict:
        return {"format": FORMAT, "version": 1, "width": self.width, "height": self.height,
                "columns": asdict(self.columns), "rows": asdict(self.rows) if self.rows else None,
                "images": self.names()}

    @classmethod
    def from_dict(cls, d: dict, source: str = "patterns") -> "PatternSet":
        """The pattern set of a :meth:`to_dict` mapping; ``source`` names it in errors.

        Raises ValueError naming ``source`` and the expected keys for anything else: a missing or unknown
        code, non-integer or out-of-range sizes, bits too few for the axis, 1 or 2 phase steps, a phase
        period under 2 pixels, or another format."""

        def bad(reason: str) -> ValueError:
            return ValueError(f"{source}: not a depth3d pattern description ({reason}); expected keys "
                              "width, height, columns{code, bits, steps, period}, rows")

        def whole(value, what: str, low: int) -> int:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value) \
                    or int(value) < low:
                raise bad(f"{what} must be a whole number >= {low}, got {value!r}")
            return int(value)

        def axis(value, what: str, size: int) -> AxisCode:
            if not isinstance(value, dict):
                raise bad(f"{what} must be a mapping, got {type(value).__name__}")
            unknown = sorted(set(value) - {"code", "bits", "steps", "period"})
            if unknown:
                raise bad(f"unknown {what} keys {unknown}")
            code = AxisCode(**value)
            if code.code not in ("gray", "binary"):
                raise bad(f"{what}.code must be 'gray' or 'binary', got {code.code!r}")
            bits = whole(code.bits, f"{what}.bits", 1)
            if 2 ** bits < size:
                raise bad(f"{what}.bits {bits} code only {2 ** bits} of {size} pixels")
            steps = whole(code.steps, f"{what}.steps", 0)
            if steps in (1, 2):
                raise bad(f"{what}.steps must be 0 (no phase shift) or >= 3, got {steps}")
            period = whole(code.period, f"{what}.period", 2 if steps else 0)
            return AxisCode(code.code, bits, steps, period)

        if not isinstance(d, dict):
            raise bad(f"a {type(d).__name__}, not a mapping")
        if d.get("format", FORMAT) != FORMAT:
            raise bad(f"format {d.get('format')!r}, not {FORMAT!r}")
        missing = [k for k in ("width", "height", "columns") if k not in d]
        if missing:
            raise bad(f"missing {', '.join(missing)}")
        width, height = whole(d["width"], "width", 2), whole(d["height"], "height", 2)
        rows = axis(d["rows"], "rows", height) if d.get("rows") else None
        return cls(width, height, axis(d["columns"], "columns", width), rows)

    # ------------------------------------------------------------------ images
    def axis_profiles(self, axis: str) -> dict[str, np.ndarray]:
        """1-D float32 profiles (values 0..1 along the axis) of every pattern of ``axis`` ("col"/"row")."""
        code = self.columns if axis == "col" else self.rows
        size = self.width if axis == "col" else self.height
        if code is None:
            return {}
        idx = np.arange(size)
        val = gray_encode(idx) if code.code == "gray" else idx
        out: dict[str, np.ndarray] = {}
        names = code.names(axis)
        for b in range(code.bits):
            bit = ((val >> (code.bits - 1 - b)) & 1).astype(np.float32)
            out[names[2 * b]] = bit
            out[names[2 * b + 1]] = 1.0 - bit
        for k in range(code.steps):
            out[f"{axis}_phase_{k}"] = (0.5 + 0.5 * np.cos(2 * np.pi * idx / code.period
                                                           + 2 * np.pi * k / code.steps)).astype(np.float32)
        return out

    def profiles(self) -> dict[str, tuple[str, np.ndarray]]:
        """name -> (axis, 1-D profile 0..1); axis "col", "row" or "all" (white/black: scalar profile)."""
        out: dict[str, tuple[str, np.ndarray]] = {"white": ("all", np.ones(1, np.float32)),
                                                   "black": ("all", np.zeros(1, np.float32))}
        for axis in ("col", "row"):
            for n, p in self.axis_profiles(axis).items():
                out[n] = (axis, p)
        return out

    def image(self, name: str) -> np.ndarray:
        """(height, width) uint8 projector image of one pattern."""
        axis, prof = self.profiles()[name]
        if axis == "all":
            return np.full((self.height, self.width), int(prof[0] * 255), np.uint8)
        p8 = np.rint(prof * 255).astype(np.uint8)
        if axis == "col":
            return np.ascontiguousarray(np.broadcast_to(p8[None, :], (self.height, self.width)))
        return np.ascontiguousarray(np.broadcast_to(p8[:, None], (self.height, self.width)))

    def write(self, folder: str | Path) -> list[Path]:
        """Write every pattern as ``<name>.png`` (8-bit grey) and ``patterns.json`` into ``folder``."""
        import cv2

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for name in self.names():
            ok, buf = cv2.imencode(".png", self.image(name))
            if not ok:
                raise ValueError(f"could not encode pattern {name}")
            path = folder / f"{name}.png"
            with atomic_write(path) as f:
                f.write(buf.tobytes())
            paths.append(path)
        self.save(folder / "patterns.json")
        return paths
