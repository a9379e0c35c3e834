"""The calibration target: a checkerboard, its corner detection and its pose in the camera.

Marker frame (OpenCV's board convention, and ``visuomotor.sim.scene.T_FLANGE_MARKER`` in the sim): origin
at the centre of the printed checkerboard, on its surface; x along the ``squares_x`` squares, y along the
``squares_y`` squares, z into the board. Square (0, 0), at the (−x, −y) corner, is black. A camera facing
the printed side therefore sees the marker z axis pointing away from it.

The board must have ``squares_x + squares_y`` odd: a half turn then swaps black and white, so the corner
order found by OpenCV can be made unique (first corner next to the black (0, 0) square, x then y) and the
pose never flips by 180°.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from visuomotor.calibration.errors import CalibrationError
from visuomotor.errors import ConfigError
from visuomotor.geometry import CameraIntrinsics

__all__ = ["BoardPose", "Checkerboard", "detect_checkerboard", "estimate_board_pose"]

#: Minimum grey-level difference between a black and a white square for the colour test that fixes the
#: corner order; a board this washed out is reported as not found rather than guessed.
_MIN_CONTRAST = 20.0
_SUBPIX_CRITERIA = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_COUNT, 100, 1e-4)


@dataclass(frozen=True, slots=True)
class Checkerboard:
    """A printed checkerboard.

    Attributes:
        squares_x, squares_y: squares along the marker x / y axes (inner corners: one fewer each); their
            sum must be odd (see the module doc).
        square_size_m: edge of one square as printed (measure it: the scale of every translation
            follows it), metres.
    """

    squares_x: int
    squares_y: int
    square_size_m: float

    def __post_init__(self) -> None:
        for key in ("squares_x", "squares_y"):
            value = getattr(self, key)
            if not (isinstance(value, int) and 3 <= value <= 40):
                raise ConfigError(f"checkerboard {key} must be an integer in [3, 40], got {value!r}")
        if (self.squares_x + self.squares_y) % 2 == 0:
            raise ConfigError(
                f"checkerboard squares_x + squares_y must be odd, got {self.squares_x} + {self.squares_y}: "
                "a board symmetric under a half turn gives ambiguous poses; use e.g. 8 × 7 squares"
            )
        if not (math.isfinite(self.square_size_m) and 0.001 <= self.square_size_m <= 0.5):
            raise ConfigError(
                f"checkerboard square_size_m must be in [0.001, 0.5] m, got {self.square_size_m}"
            )

    @property
    def pattern_size(self) -> tuple[int, int]:
        """Inner corners (per row along x, rows along y): OpenCV's ``patternSize``."""
        return self.squares_x - 1, self.squares_y - 1

    def object_points(self) -> np.ndarray:
        """(N, 3) inner corners in the marker frame, metres, row-major (x fastest), z = 0."""
        cols, rows = self.pattern_size
        s = self.square_size_m
        x = (np.arange(cols) + 1.0) * s - self.squares_x * s / 2
        y = (np.arange(rows) + 1.0) * s - self.squares_y * s / 2
        xx, yy = np.meshgrid(x, y)
        return np.stack([xx.ravel(), yy.ravel(), np.zeros(xx.size)], axis=1)


@dataclass(frozen=True, slots=True)
class BoardPose:
    """The board seen in one image.

    Attributes:
        T_camera_marker: (4, 4) pose of the marker frame in the camera optical frame, metres.
        reprojection_rms_px: RMS distance between the detected corners and the board projected with
            this pose (the detection noise and any lens model error), pixels.
    """

    T_camera_marker: np.ndarray
    reprojection_rms_px: float


def _grey(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        return np.ascontiguousarray(image, dtype=np.uint8)
    if image.ndim == 3 and image.shape[2] == 3:
        return cv2.cvtColor(np.ascontiguousarray(image, dtype=np.uint8), cv2.COLOR_RGB2GRAY)
    raise ConfigError(f"expected an (H, W) grey or (H, W, 3) RGB uint8 image, got shape {image.shape}")


def _patch_mean(grey: np.ndarray, centre: np.ndarray, radius: int) -> float:
    x, y = round(float(centre[0])), round(float(centre[1]))
    h, w = grey.shape
    x0, x1, y0, y1 = max(x - radius, 0), min(x + radius + 1, w), max(y - radius, 0), min(y + radius + 1, h)
    if x0 >= x1 or y0 >= y1:
        return math.nan
    return float(grey[y0:y1, x0:x1].mean())


def _canonical_order(grid: np.ndarray, grey: np.ndarray) -> np.ndarray | None:
    """Reorder a (rows, cols, 2) corner grid to the board's own order, or None if the colours are unclear.

    OpenCV may return the grid starting from any of its four corners. The right order is the one where
    x (along a row) and y (down the columns) look right-handed in the image — the marker z points away
    from the camera — and the outer square diagonally before corner 0 is black.
    """
    for candidate in (grid, grid[::-1, ::-1], grid[::-1, :], grid[:, ::-1]):
        ex = candidate[0, 1] - candidate[0, 0]
        ey = candidate[1, 0] - candidate[0, 0]
        if ex[0] * ey[1] - ex[1] * ey[0] <= 0:
            continue
        radius = max(1, int(0.2 * min(np.linalg.norm(ex), np.linalg.norm(ey))))
        black = _patch_mean(grey, candidate[0, 0] - 0.5 * ex - 0.5 * ey, radius)  # square (0, 0)
        white = _patch_mean(grey, candidate[0, 0] + 0.5 * ex - 0.5 * ey, radius)  # square (1, 0)
        if math.isfinite(black) and math.isfinite(white) and white - black >= _MIN_CONTRAST:
            return candidate
    return None


def detect_checkerboard(image: np.ndarray, board: Checkerboard) -> np.ndarray | None:
    """Find the board's inner corners with sub-pixel accuracy, in the board's own order.

    OpenCV's quad-based detector finds the grid; ``cornerSubPix`` then moves each corner to the saddle
    point of the grey levels, with a window a little under half the corner spacing (it must not reach
    the next corner).

    Args:
        image: (H, W, 3) RGB or (H, W) grey uint8 image.
        board: the printed board.

    Returns:
        (N, 2) corner pixels (pixel centres at integer coordinates), in ``board.object_points()`` order;
        None when the whole board is not visible or its colours are too washed out to order it.
    """
    grey = _grey(image)
    flags = cv2.CALIB_CB_ADAPTIVE_THRESH | cv2.CALIB_CB_NORMALIZE_IMAGE
    found, corners = cv2.findChessboardCorners(grey, board.pattern_size, flags=flags)
    if not found:
        return None
    cols, rows = board.pattern_size
    grid = corners.reshape(rows, cols, 2).astype(np.float64)
    spacing = min(
        float(np.linalg.norm(np.diff(grid, axis=1), axis=2).min()),
        float(np.linalg.norm(np.diff(grid, axis=0), axis=2).min()),
    )
    half = int(min(max(2, 0.4 * spacing), 15))
    refined = cv2.cornerSubPix(
        grey, grid.reshape(-1, 1, 2).astype(np.float32), (half, half), (-1, -1), _SUBPIX_CRITERIA
    )
    ordered = _canonical_order(refined.reshape(rows, cols, 2).astype(np.float64), grey)
    return None if ordered is None else ordered.reshape(-1, 2)


def estimate_board_pose(
    corners_px: np.ndarray, board: Checkerboard, intrinsics: CameraIntrinsics
) -> BoardPose:
    """Pose of the board from its detected corners (planar PnP, then Levenberg–Marquardt).

    Args:
        corners_px: (N, 2) corners from :func:`detect_checkerboard`.
        board: the printed board.
        intrinsics: the pinhole model of the (rectified, distortion-free) image.

    Returns:
        The marker pose in the camera optical frame and the PnP reprojection RMS.

    Raises:
        ConfigError: ``corners_px`` does not hold one pixel per inner corner.
    """
    obj = board.object_points()
    img = np.asarray(corners_px, dtype=np.float64)
    if img.shape != (obj.shape[0], 2) or not np.isfinite(img).all():
        raise ConfigError(f"expected {obj.shape[0]} finite corners (N, 2), got shape {img.shape}")
    K = intrinsics.K
    dist = np.zeros(5)
    # IPPE is the exact planar solver; LM then minimises the reprojection error proper.
    ok, rvec, tvec = cv2.solvePnP(obj, img, K, dist, flags=cv2.SOLVEPNP_IPPE)
    if not ok:  # IPPE only fails on degenerate input (collinear corners), which detection excludes
        raise CalibrationError("solvePnP failed on the corners: they are degenerate (collinear)")
    rvec, tvec = cv2.solvePnPRefineLM(obj, img, K, dist, rvec, tvec)
    projected, _ = cv2.projectPoints(obj, rvec, tvec, K, dist)
    rms = float(np.sqrt(np.mean(np.sum((projected.reshape(-1, 2) - img) ** 2, axis=1))))
    T = np.eye(4)
    T[:3, :3] = cv2.Rodrigues(rvec)[0]
    T[:3, 3] = tvec.ravel()
    return BoardPose(T, rms)
