"""AX = YB hand-eye solver on synthetic views: exact closed form, refinement under pixel noise, refusals."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from visuomotor.calibration import (
    CalibrationError,
    Checkerboard,
    HandEyeObservation,
    check_rotation_diversity,
    solve_ax_yb_linear,
    solve_eye_to_hand,
)
from visuomotor.geometry import CameraIntrinsics

BOARD = Checkerboard(8, 7, 0.04)
K = CameraIntrinsics.from_fovy(640, 480, math.radians(60.0))


def _pose(R: np.ndarray, t: np.ndarray) -> np.ndarray:
    T = np.eye(4)
    T[:3, :3] = R
    T[:3, 3] = t
    return T


# A camera across the table looking down at the arm, and a board 0.19 m out on the flange.
X_TRUE = _pose(
    Rotation.from_euler("xyz", [-132.0, 0.4, -90.5], degrees=True).as_matrix(), np.array([1.4, 0.02, 1.25])
)
Y_TRUE = _pose(Rotation.from_rotvec([math.pi, 0.0, 0.0]).as_matrix(), np.array([0.003, -0.002, 0.19]))


def _board_poses(n: int, rng: np.random.Generator, max_tilt_deg: float = 40.0) -> list[np.ndarray]:
    """Board poses in the camera: ~1 m ahead, tilted about random axes, turned about the normal."""
    out = []
    for _ in range(n):
        axis = rng.normal(size=3)
        axis[2] = 0.0
        tilt = Rotation.from_rotvec(
            math.radians(rng.uniform(15.0, max_tilt_deg)) * axis / np.linalg.norm(axis)
        )
        roll = Rotation.from_rotvec([0.0, 0.0, rng.uniform(-math.pi / 2, math.pi / 2)])
        out.append(
            _pose((tilt * roll).as_matrix(), np.array([*rng.uniform(-0.15, 0.15, 2), rng.uniform(0.8, 1.1)]))
        )
    return out


def _observations(B: list[np.ndarray], noise_px: float, rng: np.random.Generator) -> list[HandEyeObservation]:
    obs = []
    for i, b in enumerate(B):
        A = X_TRUE @ b @ np.linalg.inv(Y_TRUE)  # the flange pose that puts the board there
        p = BOARD.object_points() @ b[:3, :3].T + b[:3, 3]
        corners = K.project(p) + rng.normal(scale=noise_px, size=(p.shape[0], 2))
        obs.append(HandEyeObservation(f"view_{i}", A, corners))
    return obs


def _errors(T: np.ndarray, T_true: np.ndarray) -> tuple[float, float]:
    dR = Rotation.from_matrix(T_true[:3, :3].T @ T[:3, :3]).magnitude()
    return 1000.0 * float(np.linalg.norm(T[:3, 3] - T_true[:3, 3])), math.degrees(dR)


def test_closed_form_is_exact_on_noise_free_poses() -> None:
    rng = np.random.default_rng(0)
    B = _board_poses(6, rng)
    A = [X_TRUE @ b @ np.linalg.inv(Y_TRUE) for b in B]
    X, Y = solve_ax_yb_linear(A, B)
    np.testing.assert_allclose(X, X_TRUE, atol=1e-9)
    np.testing.assert_allclose(Y, Y_TRUE, atol=1e-9)


def test_refinement_recovers_the_camera_under_pixel_noise_and_reports_residuals() -> None:
    rng = np.random.default_rng(1)
    noise_px = 0.2
    obs = _observations(_board_poses(12, rng), noise_px, rng)
    result = solve_eye_to_hand(obs, BOARD, K)
    mm, deg = _errors(result.T_base_link_camera, X_TRUE)
    assert mm < 1.0 and deg < 0.05, (mm, deg)
    mm_y, deg_y = _errors(result.T_flange_marker, Y_TRUE)
    assert mm_y < 1.0 and deg_y < 0.1, (mm_y, deg_y)
    # The refined solution is at least as good as the closed form it started from.
    assert mm <= _errors(result.T_base_link_camera_closed_form, X_TRUE)[0] + 1e-6
    # Residual RMS ≈ the injected noise (2-D: √2 σ per corner, less the 12 fitted parameters).
    assert result.reprojection_rms_px == pytest.approx(math.sqrt(2) * noise_px, rel=0.15)
    assert [v.name for v in result.views] == [o.name for o in obs]
    for v in result.views:
        assert 0.0 < v.pnp_rms_px <= v.reprojection_rms_px + 1e-9  # its own pose fits at least as well
        assert v.reprojection_max_px >= v.reprojection_rms_px
        # One view's board pose tilts by ~0.5° under this noise, which moves the camera ~1 cm at 1 m.
        assert v.camera_translation_error_mm < 25.0 and v.camera_rotation_error_deg < 1.5
    # The 1σ from the covariance is of the size of the actual error.
    sigma_mm, sigma_deg = (
        float(np.linalg.norm(result.translation_std_mm)),
        float(np.linalg.norm(result.rotation_std_deg)),
    )
    assert 0.1 * sigma_mm < mm < 4.0 * sigma_mm, (mm, result.translation_std_mm)
    assert 0.1 * sigma_deg < deg < 4.0 * sigma_deg, (deg, result.rotation_std_deg)


def test_too_few_views_name_the_fix() -> None:
    rng = np.random.default_rng(2)
    obs = _observations(_board_poses(2, rng), 0.0, rng)
    with pytest.raises(CalibrationError, match=r"only 2 view\(s\) .* at least 3 .*capture more arm poses"):
        solve_eye_to_hand(obs, BOARD, K)


def test_views_with_one_orientation_are_refused() -> None:
    rng = np.random.default_rng(3)
    b0 = _board_poses(1, rng)[0]
    B = [_pose(b0[:3, :3], b0[:3, 3] + rng.uniform(-0.1, 0.1, 3)) for _ in range(8)]  # translations only
    with pytest.raises(CalibrationError, match=r"barely changes .* tilts by 15–40° about at least two"):
        solve_eye_to_hand(_observations(B, 0.05, rng), BOARD, K)


def test_rotations_about_a_single_axis_are_refused() -> None:
    # Only the last wrist joint turns: every relative rotation is about the flange z axis.
    A0 = X_TRUE @ _board_poses(1, np.random.default_rng(4))[0] @ np.linalg.inv(Y_TRUE)
    A = [
        A0 @ _pose(Rotation.from_rotvec([0.0, 0.0, math.radians(a)]).as_matrix(), np.zeros(3))
        for a in range(0, 180, 20)
    ]
    with pytest.raises(
        CalibrationError, match=r"about \(nearly\) one axis .*\[-?0\.00, -?0\.00, -?1\.00\].*second"
    ):
        check_rotation_diversity(A)


def test_a_solution_that_does_not_fit_the_images_is_refused() -> None:
    rng = np.random.default_rng(5)
    obs = _observations(_board_poses(10, rng), 0.1, rng)
    # Joint records shifted by one view against the images: no single camera pose explains them.
    shuffled = [
        HandEyeObservation(o.name, obs[(i + 1) % len(obs)].T_base_link_flange, o.corners_px)
        for i, o in enumerate(obs)
    ]
    with pytest.raises(
        CalibrationError, match=r"does not explain the images: reprojection RMS .* square size"
    ):
        solve_eye_to_hand(shuffled, BOARD, K)
