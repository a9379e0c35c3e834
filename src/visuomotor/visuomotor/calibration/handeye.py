"""Eye-to-hand calibration: the fixed camera's pose in ``base_link`` from views of a board on the flange.

For every view i the flange pose ``A_i = T_base_link_flange`` comes from forward kinematics of the
recorded joints and the board pose ``B_i = T_camera_marker`` from the image. Two transforms are unknown
and constant: ``X = T_base_link_camera`` (what we want) and ``Y = T_flange_marker`` (how the board is
mounted). Each view gives ``A_i · Y = X · B_i`` — the AX = YB form of robot-world/hand-eye calibration,
solved on absolute poses rather than on pairs of motions.

1. A closed-form start (Li, Wang & Wu 2010, "Simultaneous robot-world and hand-eye calibration using
   dual-quaternions and Kronecker product"): the rotations satisfy a linear system in vec(R_Y), vec(R_X)
   (Kronecker products), the translations then follow by linear least squares.
2. A joint refinement that minimises the reprojection error of every board corner in every view through
   the whole chain ``K · X⁻¹ · A_i · Y`` (Levenberg–Marquardt, 12 parameters). This uses the measured
   pixels directly, so views seen at a steep angle weigh what their corners are worth.

OpenCV's ``calibrateHandEye`` / ``calibrateRobotWorldHandEye`` would do step 1, but the OpenCV 5.0
Python build in use does not export them (only their ``CALIB_*HAND_EYE*`` constants), hence our own.

The result carries per-view residuals: reprojection RMS through the full chain, the board pose's own PnP
RMS, and the consistency of each view's implied camera pose ``A_i · Y · B_i⁻¹`` with the solution.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares
from scipy.spatial.transform import Rotation

from visuomotor.calibration.errors import CalibrationError
from visuomotor.calibration.marker import Checkerboard, estimate_board_pose
from visuomotor.geometry import CameraIntrinsics

__all__ = [
    "MIN_ROTATION_DEG",
    "MIN_VIEWS",
    "HandEyeObservation",
    "HandEyeResult",
    "ViewResidual",
    "check_rotation_diversity",
    "solve_ax_yb_linear",
    "solve_eye_to_hand",
]

#: Views needed at all: two relative motions about different axes fix X; a third view checks them.
MIN_VIEWS = 3
#: Below this largest rotation between any two views the camera position is unobservable in practice.
MIN_ROTATION_DEG = 10.0
#: Relative rotations smaller than this do not count when judging how many axes the views rotate about.
_AXIS_ROTATION_DEG = 5.0
#: The second-largest singular value of the stacked rotation axes, relative to the largest, below which
#: all rotations are said to share one axis (then the translation along that axis is unobservable).
_MIN_AXIS_SPREAD = 0.2


@dataclass(frozen=True, slots=True)
class HandEyeObservation:
    """One view: where the flange was and where the board's corners appeared.

    Attributes:
        name: the view's name (an image file name), for the report.
        T_base_link_flange: (4, 4) flange pose from forward kinematics, metres.
        corners_px: (N, 2) board corners in ``Checkerboard.object_points()`` order, pixels.
    """

    name: str
    T_base_link_flange: np.ndarray
    corners_px: np.ndarray


@dataclass(frozen=True, slots=True)
class ViewResidual:
    """How well the solution explains one view.

    Attributes:
        name: the view's name.
        reprojection_rms_px: RMS corner error through the full chain ``K · X⁻¹ · A_i · Y``, pixels.
        reprojection_max_px: the largest corner error of that projection, pixels.
        pnp_rms_px: RMS corner error of the view's own board pose (detection noise alone), pixels.
        camera_translation_error_mm: distance between this view's implied camera position
            ``A_i · Y · B_i⁻¹`` and the solution's, millimetres.
        camera_rotation_error_deg: angle between that implied camera orientation and the solution's.
    """

    name: str
    reprojection_rms_px: float
    reprojection_max_px: float
    pnp_rms_px: float
    camera_translation_error_mm: float
    camera_rotation_error_deg: float


@dataclass(frozen=True, slots=True)
class HandEyeResult:
    """The calibration and its residuals.

    Attributes:
        T_base_link_camera: (4, 4) pose of the camera optical frame in base_link (refined), metres.
        T_flange_marker: (4, 4) pose of the marker frame on the flange (refined), metres.
        T_base_link_camera_closed_form: (4, 4) the linear AX = YB solution the refinement started from.
        views: residuals of every view used, in input order.
        reprojection_rms_px: RMS corner error over all views, pixels.
        translation_std_mm: (3,) 1σ of the camera position (x, y, z in base_link) from the refinement's
            covariance, millimetres; a statement about noise, blind to systematic errors (FK, intrinsics).
        rotation_std_deg: (3,) 1σ of the camera orientation about the base_link axes, degrees.
    """

    T_base_link_camera: np.ndarray
    T_flange_marker: np.ndarray
    T_base_link_camera_closed_form: np.ndarray
    views: tuple[ViewResidual, ...]
    reprojection_rms_px: float
    translation_std_mm: np.ndarray
    rotation_std_deg: np.ndarray

    @property
    def max_camera_translation_error_mm(self) -> float:
        """Worst per-view camera position inconsistency, millimetres."""
        return max(v.camera_translation_error_mm for v in self.views)

    @property
    def max_camera_rotation_error_deg(self) -> float:
        """Worst per-view camera orientation inconsistency, degrees."""
        return max(v.camera_rotation_error_deg for v in self.views)


def _inverse(T: np.ndarray) -> np.ndarray:
    out = np.eye(4)
    out[:3, :3] = T[:3, :3].T
    out[:3, 3] = -T[:3, :3].T @ T[:3, 3]
    return out


def _rotation_angle_deg(R: np.ndarray) -> float:
    return math.degrees(float(np.linalg.norm(Rotation.from_matrix(R).as_rotvec())))


def _project_to_so3(M: np.ndarray) -> np.ndarray:
    u, _, vt = np.linalg.svd(M)
    R: np.ndarray = u @ np.diag([1.0, 1.0, np.linalg.det(u @ vt)]) @ vt
    return R


def check_rotation_diversity(T_base_link_flange: Sequence[np.ndarray]) -> None:
    """Refuse flange poses whose orientations cannot pin down the camera.

    The camera position is observable only through rotations of the board: with no rotation between
    views it is not observable at all, and with rotations about a single axis the position along that
    axis is not.

    Args:
        T_base_link_flange: (4, 4) flange poses of the views.

    Raises:
        CalibrationError: the largest rotation between two views is under ``MIN_ROTATION_DEG``, or all
            rotations share (nearly) one axis; the message says how to re-pose the arm.
    """
    R = [np.asarray(T, dtype=np.float64)[:3, :3] for T in T_base_link_flange]
    rotvecs = []
    for i in range(len(R)):
        for j in range(i + 1, len(R)):
            rotvecs.append(Rotation.from_matrix(R[i].T @ R[j]).as_rotvec())  # in flange i's frame
    angles = np.degrees(np.linalg.norm(rotvecs, axis=1)) if rotvecs else np.zeros(0)
    largest = float(angles.max()) if angles.size else 0.0
    if largest < MIN_ROTATION_DEG:
        raise CalibrationError(
            f"the flange orientation barely changes between the {len(R)} views (largest relative rotation "
            f"{largest:.1f}° < {MIN_ROTATION_DEG:.0f}°), so the camera position cannot be recovered; "
            "re-pose the arm so the board tilts by 15–40° about at least two different axes between views"
        )
    axes = np.asarray(rotvecs)[angles >= _AXIS_ROTATION_DEG]
    axes = axes / np.linalg.norm(axes, axis=1, keepdims=True)
    s = np.linalg.svd(axes, compute_uv=False)
    if s.size < 2 or s[1] < _MIN_AXIS_SPREAD * s[0]:
        axis = np.linalg.svd(axes)[2][0]
        raise CalibrationError(
            "every rotation between the views is about (nearly) one axis "
            f"(≈ [{axis[0]:.2f}, {axis[1]:.2f}, {axis[2]:.2f}] in the flange frame), so the camera position "
            "along it cannot be recovered; add views where the board tilts about a second, different axis "
            "(not only turning the last wrist joint)"
        )


def solve_ax_yb_linear(A: Sequence[np.ndarray], B: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Closed-form least-squares solution of ``A_i · Y = X · B_i`` (Li et al. 2010, Kronecker form).

    Rotations: ``R_Ai R_Y = R_X R_Bi`` is linear in (vec R_Y, vec R_X); the right singular vector of the
    smallest singular value gives both up to one scale, fixed by det = 1, then each is projected onto
    SO(3). Translations: ``R_Ai t_Y − t_X = R_X t_Bi − t_Ai``, linear least squares.

    Args:
        A: (4, 4) poses, here T_base_link_flange.
        B: (4, 4) poses, here T_camera_marker.

    Returns:
        (X, Y): (4, 4) each, here T_base_link_camera and T_flange_marker.

    Raises:
        CalibrationError: fewer than ``MIN_VIEWS`` pairs, or the rotation system has no unique solution.
    """
    n = len(A)
    if n != len(B) or n < MIN_VIEWS:
        raise CalibrationError(
            f"solve_ax_yb_linear needs ≥ {MIN_VIEWS} matching (A, B) pairs, got {n}, {len(B)}"
        )
    eye = np.eye(3)
    # Column-major vec: vec(M1 M2 M3) = (M3ᵀ ⊗ M1) vec(M2).
    K = np.vstack(
        [np.hstack([np.kron(eye, a[:3, :3]), -np.kron(b[:3, :3].T, eye)]) for a, b in zip(A, B, strict=True)]
    )
    _, s, vt = np.linalg.svd(K)
    if s[-2] < 1e-6 * s[0]:
        raise CalibrationError(
            "the rotation equations have no unique solution (the views' rotations are degenerate); "
            "tilt the board about at least two different axes between views"
        )
    v = vt[-1]
    RY_raw = v[:9].reshape(3, 3, order="F")
    RX_raw = v[9:].reshape(3, 3, order="F")
    scale = np.cbrt(np.linalg.det(RX_raw))
    RX = _project_to_so3(RX_raw / scale)
    RY = _project_to_so3(RY_raw / scale)
    M = np.vstack([np.hstack([a[:3, :3], -eye]) for a in A])
    rhs = np.concatenate([RX @ b[:3, 3] - a[:3, 3] for a, b in zip(A, B, strict=True)])
    t = np.linalg.lstsq(M, rhs, rcond=None)[0]
    X, Y = np.eye(4), np.eye(4)
    X[:3, :3], X[:3, 3] = RX, t[3:]
    Y[:3, :3], Y[:3, 3] = RY, t[:3]
    return X, Y


def _perturbed(T0: np.ndarray, p: np.ndarray) -> np.ndarray:
    """``T0`` with its rotation turned by the rotation vector p[:3] (base axes) and translation p[3:6]."""
    T = np.eye(4)
    T[:3, :3] = Rotation.from_rotvec(p[:3]).as_matrix() @ T0[:3, :3]
    T[:3, 3] = p[3:6]
    return T


def _project(
    T_camera_marker: np.ndarray, points_marker: np.ndarray, intrinsics: CameraIntrinsics
) -> np.ndarray:
    p = points_marker @ T_camera_marker[:3, :3].T + T_camera_marker[:3, 3]
    return intrinsics.project(p)


def solve_eye_to_hand(
    observations: Sequence[HandEyeObservation],
    board: Checkerboard,
    intrinsics: CameraIntrinsics,
    *,
    max_reprojection_rms_px: float = 2.0,
) -> HandEyeResult:
    """Calibrate a fixed camera against a board on the flange.

    Args:
        observations: the views in which the whole board was detected (at least ``MIN_VIEWS``).
        board: the printed board.
        intrinsics: pinhole model of the (rectified) colour image.
        max_reprojection_rms_px: refuse a solution whose overall reprojection RMS exceeds this.

    Returns:
        The refined calibration with per-view residuals.

    Raises:
        CalibrationError: too few views, orientations that cannot determine the camera pose, or a
            solution that does not explain the images (wrong square size, intrinsics or joint records).
    """
    n = len(observations)
    if n < MIN_VIEWS:
        raise CalibrationError(
            f"only {n} view(s) with the whole board detected; hand-eye calibration needs at least "
            f"{MIN_VIEWS} (10–20 recommended): capture more arm poses with the complete board in view"
        )
    A = [np.asarray(o.T_base_link_flange, dtype=np.float64) for o in observations]
    check_rotation_diversity(A)
    obj = board.object_points()
    pixels = [np.asarray(o.corners_px, dtype=np.float64) for o in observations]
    board_poses = [estimate_board_pose(c, board, intrinsics) for c in pixels]
    B = [bp.T_camera_marker for bp in board_poses]
    X0, Y0 = solve_ax_yb_linear(A, B)

    measured = np.concatenate(pixels)  # (n·N, 2)

    # Parameters: a rotation vector turning each start rotation (about the parent's axes, so that its
    # covariance reads directly as "degrees about base_link x, y, z"), and each translation.
    def residuals(p: np.ndarray) -> np.ndarray:
        X_inv = _inverse(_perturbed(X0, p[:6]))
        Y = _perturbed(Y0, p[6:])
        projected = np.concatenate([_project(X_inv @ a @ Y, obj, intrinsics) for a in A])
        return (projected - measured).ravel()

    start = np.concatenate([np.zeros(3), X0[:3, 3], np.zeros(3), Y0[:3, 3]])
    fit = least_squares(residuals, start, method="lm")
    X, Y = _perturbed(X0, fit.x[:6]), _perturbed(Y0, fit.x[6:])
    errors = np.linalg.norm(fit.fun.reshape(-1, 2), axis=1).reshape(n, -1)  # (n, N) pixels
    rms = float(np.sqrt(np.mean(errors**2)))
    # Parameter covariance from the Gauss–Newton normal matrix, scaled by the residual variance.
    sigma2 = float(fit.fun @ fit.fun) / max(fit.fun.size - fit.x.size, 1)
    try:
        cov = np.linalg.inv(fit.jac.T @ fit.jac) * sigma2
    except np.linalg.LinAlgError:
        cov = np.full((12, 12), np.inf)
    std = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    views = []
    for o, bp, a, err in zip(observations, board_poses, A, errors, strict=True):
        X_i = a @ Y @ _inverse(bp.T_camera_marker)
        views.append(
            ViewResidual(
                name=o.name,
                reprojection_rms_px=float(np.sqrt(np.mean(err**2))),
                reprojection_max_px=float(err.max()),
                pnp_rms_px=bp.reprojection_rms_px,
                camera_translation_error_mm=1000.0 * float(np.linalg.norm(X_i[:3, 3] - X[:3, 3])),
                camera_rotation_error_deg=_rotation_angle_deg(X[:3, :3].T @ X_i[:3, :3]),
            )
        )
    result = HandEyeResult(
        T_base_link_camera=X,
        T_flange_marker=Y,
        T_base_link_camera_closed_form=X0,
        views=tuple(views),
        reprojection_rms_px=rms,
        translation_std_mm=1000.0 * std[3:6],
        rotation_std_deg=np.degrees(std[0:3]),
    )
    if not rms <= max_reprojection_rms_px:
        worst = sorted(views, key=lambda v: v.reprojection_rms_px, reverse=True)[:3]
        raise CalibrationError(
            f"the calibration does not explain the images: reprojection RMS {rms:.2f} px > "
            f"{max_reprojection_rms_px} px (worst views: "
            + ", ".join(f"{v.name} {v.reprojection_rms_px:.2f} px" for v in worst)
            + "); check the board's square size and the camera intrinsics, and that each image's joints "
            "were recorded with the arm at rest"
        )
    return result
