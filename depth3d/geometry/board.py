"""Calibration targets and their detection in images, shared by stereo and structured-light calibration.

:class:`Board` describes a chessboard (inner corners) or ChArUco target; :func:`find_corners` finds it in
one image with sub-pixel accuracy and returns the corners in one canonical order (rows left-to-right and
columns top-to-bottom in the image), so that two cameras seeing a symmetric board agree on which corner
is which (``cv2.findChessboardCorners`` may start from any corner of such a board).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Board", "find_corners"]


@dataclass(frozen=True)
class Board:
    """A calibration target.

    Attributes:
        kind: ``"chessboard"`` or ``"charuco"``.
        cols, rows: chessboard: inner corners per row / per column; ChArUco: squares per row / column.
        square: square size in the unit the calibration should use (1.0 = square units).
        marker: ChArUco marker side (same unit), default 0.75 * square.
        dictionary: ChArUco dictionary name from ``cv2.aruco`` (e.g. ``"DICT_4X4_50"``).
    """

    kind: str = "chessboard"
    cols: int = 7
    rows: int = 7
    square: float = 1.0
    marker: float | None = None
    dictionary: str = "DICT_4X4_50"

    def __post_init__(self) -> None:
        if self.kind not in ("chessboard", "charuco"):
            raise ValueError(f"board kind must be 'chessboard' or 'charuco', got {self.kind!r}")
        if self.cols < 2 or self.rows < 2:
            raise ValueError(f"board needs at least 2x2 corners/squares, got {self.cols}x{self.rows}")
        if not self.square > 0:
            raise ValueError(f"board square size must be positive, got {self.square}")

    def to_dict(self) -> dict[str, Any]:
        d = {"kind": self.kind, "cols": self.cols, "rows": self.rows, "square": self.square}
        if self.kind == "charuco":
            d.update(marker=self.marker_length, dictionary=self.dictionary)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Board":
        return cls(str(d["kind"]), int(d["cols"]), int(d["rows"]), float(d.get("square", 1.0)),
                   None if d.get("marker") is None else float(d["marker"]),
                   str(d.get("dictionary", "DICT_4X4_50")))

    @property
    def marker_length(self) -> float:
        return self.marker if self.marker is not None else 0.75 * self.square

    def charuco(self):
        """The ``cv2.aruco.CharucoBoard`` of a ChArUco board."""
        import cv2

        if not hasattr(cv2.aruco, self.dictionary):
            raise ValueError(f"unknown ArUco dictionary {self.dictionary!r}")
        dic = cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, self.dictionary))
        return cv2.aruco.CharucoBoard((self.cols, self.rows), self.square, self.marker_length, dic)

    def object_points(self) -> np.ndarray:
        """(N, 3) float32 corner positions on the board plane (z = 0), ``square`` units, row-major."""
        if self.kind == "charuco":
            return np.asarray(self.charuco().getChessboardCorners(), np.float32).reshape(-1, 3)
        g = np.zeros((self.rows * self.cols, 3), np.float32)
        g[:, :2] = np.mgrid[0:self.cols, 0:self.rows].T.reshape(-1, 2) * self.square
        return g


def _gray(image: np.ndarray) -> np.ndarray:
    import cv2

    if image.ndim == 3:
        return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    return image


def _canonical_order(corners: np.ndarray, cols: int, rows: int) -> np.ndarray:
    """Reorder chessboard corners so rows run left-to-right and columns top-to-bottom in the image.

    ``findChessboardCorners`` may start from any corner of a symmetric board, so the two cameras can
    disagree on the order; this picks, among the grid's rotations/flips that keep its shape, the one whose
    row direction points most along +u and column direction most along +v.
    """
    g = corners.reshape(rows, cols, 2)
    cands = [g, g[::-1, ::-1]]
    if rows == cols:
        cands += [np.rot90(g, k) for k in (1, 3)]
    best, best_score = g, -np.inf
    for c in cands:
        row_dir = c[0, -1] - c[0, 0]
        col_dir = c[-1, 0] - c[0, 0]
        score = row_dir[0] / (np.linalg.norm(row_dir) + 1e-9) + col_dir[1] / (np.linalg.norm(col_dir) + 1e-9)
        if score > best_score:
            best, best_score = c, score
    return np.ascontiguousarray(best.reshape(-1, 1, 2), dtype=np.float32)


def find_corners(image: np.ndarray, board: Board) -> tuple[np.ndarray, np.ndarray] | None:
    """Detect the board in one image.

    Args:
        image: (H, W) uint8 grey or (H, W, 3) uint8 BGR image.
        board: the target.
    Returns:
        ``(image_points (N, 1, 2) float32 pixels, ids (N,) int32 corner ids)`` with sub-pixel accuracy,
        or None when the board is not found. Ids index :meth:`Board.object_points`.
    """
    import cv2

    gray = _gray(image)
    if board.kind == "chessboard":
        size = (board.cols, board.rows)
        ok, corners = cv2.findChessboardCorners(
            gray, size, cv2.CALIB_CB_ADAPTIVE_THRESH | cv2.CALIB_CB_NORMALIZE_IMAGE)
        if not ok:
            return None
        crit = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 50, 1e-4)
        # window about a third of the square side (in pixels), at least 3
        side = float(np.median(np.linalg.norm(np.diff(corners.reshape(board.rows, board.cols, 2), axis=1),
                                              axis=-1)))
        win = int(np.clip(side / 3, 3, 11))
        corners = cv2.cornerSubPix(gray, corners, (win, win), (-1, -1), crit)
        corners = _canonical_order(corners, board.cols, board.rows)
        return corners, np.arange(len(corners), dtype=np.int32)
    detector = cv2.aruco.CharucoDetector(board.charuco())
    ch_corners, ch_ids, _, _ = detector.detectBoard(gray)
    if ch_ids is None or len(ch_ids) < 6:
        return None
    return np.asarray(ch_corners, np.float32).reshape(-1, 1, 2), np.asarray(ch_ids, np.int32).ravel()
