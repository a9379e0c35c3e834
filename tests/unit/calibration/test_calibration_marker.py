"""The checkerboard: validation, corner order and sub-pixel accuracy on synthetic perspective images."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from visuomotor.calibration import Checkerboard, detect_checkerboard, estimate_board_pose
from visuomotor.errors import ConfigError
from visuomotor.geometry import CameraIntrinsics

BOARD = Checkerboard(8, 7, 0.04)
K = CameraIntrinsics.from_fovy(640, 480, math.radians(60.0))
_PX_PER_SQUARE = 40


def _texture(board: Checkerboard) -> np.ndarray:
    """The printed board with a one-square white border; square (0, 0) black; (rows, cols) = (y, x)."""
    s = _PX_PER_SQUARE
    img = np.full(((board.squares_y + 2) * s, (board.squares_x + 2) * s), 230, np.uint8)
    for j in range(board.squares_y):
        for i in range(board.squares_x):
            if (i + j) % 2 == 0:
                img[(j + 1) * s : (j + 2) * s, (i + 1) * s : (i + 2) * s] = 20
    return img


def _image(T_camera_marker: np.ndarray, board: Checkerboard = BOARD) -> np.ndarray:
    """A perspective view of the board, anti-aliased: warped at 4× size, then block-averaged down."""
    s, sq, n = _PX_PER_SQUARE, board.square_size_m, 4
    # Texture pixel centres (col, row) → marker (x, y) metres.
    A = np.array(
        [
            [sq / s, 0.0, 0.5 * sq / s - (board.squares_x / 2 + 1) * sq],
            [0.0, sq / s, 0.5 * sq / s - (board.squares_y / 2 + 1) * sq],
            [0.0, 0.0, 1.0],
        ]
    )
    # n× image: pixel x of the final image covers n·x … n·x + n − 1, whose centre is n·x + (n − 1)/2.
    K_n = np.diag([n, n, 1.0]) @ K.K
    K_n[:2, 2] += (n - 1) / 2
    H = K_n @ np.column_stack([T_camera_marker[:3, 0], T_camera_marker[:3, 1], T_camera_marker[:3, 3]]) @ A
    size = (K.width_px * n, K.height_px * n)
    big = cv2.warpPerspective(_texture(board), H, size, flags=cv2.INTER_LINEAR, borderValue=120)
    grey = cv2.resize(big, (K.width_px, K.height_px), interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(grey, cv2.COLOR_GRAY2RGB)


def _pose(rotvec: tuple[float, float, float], t: tuple[float, float, float]) -> np.ndarray:
    T = np.eye(4)
    T[:3, :3] = Rotation.from_rotvec(rotvec).as_matrix()
    T[:3, 3] = t
    return T


def _true_corners(T_camera_marker: np.ndarray) -> np.ndarray:
    p = BOARD.object_points() @ T_camera_marker[:3, :3].T + T_camera_marker[:3, 3]
    return K.project(p)


def test_object_points_are_centred_row_major_on_the_board_plane() -> None:
    obj = BOARD.object_points()
    assert obj.shape == (42, 3)
    assert BOARD.pattern_size == (7, 6)
    np.testing.assert_allclose(obj[0], [-0.12, -0.10, 0.0])
    np.testing.assert_allclose(obj[1] - obj[0], [0.04, 0.0, 0.0])  # x runs fastest
    np.testing.assert_allclose(obj[7] - obj[0], [0.0, 0.04, 0.0])
    np.testing.assert_allclose(obj.mean(axis=0), 0.0, atol=1e-15)


@pytest.mark.parametrize("roll_deg", [0.0, 90.0, 180.0, 270.0, 33.0])
def test_corners_come_in_board_order_whatever_the_board_roll(roll_deg: float) -> None:
    # Facing the camera, tilted 25° about a skew axis, turned by roll_deg about its normal.
    tilt = Rotation.from_rotvec(math.radians(25.0) * np.array([0.6, 0.8, 0.0]))
    roll = Rotation.from_rotvec([0.0, 0.0, math.radians(roll_deg)])
    T = np.eye(4)
    T[:3, :3] = (tilt * roll).as_matrix()
    T[:3, 3] = (0.02, -0.01, 0.9)
    corners = detect_checkerboard(_image(T), BOARD)
    assert corners is not None
    err = np.linalg.norm(corners - _true_corners(T), axis=1)
    assert err.max() < 0.15, err.max()  # sub-pixel, and every corner matched to its own object point
    pose = estimate_board_pose(corners, BOARD, K)
    assert np.linalg.norm(pose.T_camera_marker[:3, 3] - T[:3, 3]) < 1e-3
    assert pose.reprojection_rms_px < 0.2


def test_a_board_that_is_not_fully_visible_or_is_washed_out_is_not_found() -> None:
    T = _pose((0.0, 0.0, 0.0), (0.0, 0.0, 0.9))
    image = _image(T)
    assert detect_checkerboard(image, BOARD) is not None
    half = image.copy()
    half[:, : K.width_px // 2] = 120  # the left half of the board hidden
    assert detect_checkerboard(half, BOARD) is None
    assert detect_checkerboard(np.full_like(image, 128), BOARD) is None
    faint = (120 + (image.astype(np.int16) - 120) // 12).astype(np.uint8)  # ~18 grey levels of contrast
    assert detect_checkerboard(faint, BOARD) is None
    # The wrong board size is simply not found.
    assert detect_checkerboard(image, Checkerboard(6, 5, 0.04)) is None


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((8, 8, 0.04), r"squares_x \+ squares_y must be odd"),
        ((2, 7, 0.04), r"squares_x must be an integer in \[3, 40\]"),
        ((8, 7, 0.0), r"square_size_m must be in"),
        ((8, 7, float("nan")), r"square_size_m must be in"),
    ],
)
def test_bad_boards_are_refused_with_the_fix(args: tuple[int, int, float], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        Checkerboard(*args)


def test_pose_needs_one_corner_per_object_point() -> None:
    with pytest.raises(ConfigError, match=r"expected 42 finite corners"):
        estimate_board_pose(np.zeros((41, 2)), BOARD, K)
