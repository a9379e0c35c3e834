"""Calibration in the sim: a plan of arm poses that show the flange board to the camera, and its capture.

The plan is what an operator does by hand on the real robot: hold the board in front of the camera at
many positions, tilted about different axes. It uses the camera's rough pose to choose views (the sim's
true one here; on a robot, eyeballing does) — the solve never sees it: it gets only the images and
the joint positions, exactly like ``--images`` on captured data.

Every pose puts the whole board (with its white border) inside the image, 0.75–1.15 m from the camera,
tilted 15–40° away from facing the camera about a random axis and turned ±90° about its normal, and is
reached by the analytic IK nearest to the previous pose. Poses closer than 8° in orientation to an
accepted one are redrawn, so the rotations spread. The capture renders each pose and, as an operator
watching the live image would, passes over poses where the arm's own links hide part of the board.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator

import numpy as np
from scipy.spatial.transform import Rotation

from visuomotor.calibration.errors import CalibrationError
from visuomotor.calibration.marker import Checkerboard, detect_checkerboard
from visuomotor.calibration.views import CalibrationView
from visuomotor.errors import ConfigError, KinematicsError
from visuomotor.geometry import CameraIntrinsics
from visuomotor.kinematics import Ur10eKinematics
from visuomotor.sim import SimConfig, SimWorld
from visuomotor.sim.config import CalibrationMarkerConfig
from visuomotor.sim.scene import T_FLANGE_MARKER

__all__ = ["SimCapture", "board_of", "capture_sim_views", "iter_board_poses", "with_marker"]

_DISTANCE_M = (0.75, 1.15)
_TILT_DEG = (15.0, 40.0)
_ROLL_DEG = 90.0
_MIN_SEPARATION_DEG = 8.0
#: The board's centre is aimed at the central part of the image (fraction of width/height kept).
_AIM_FRACTION = 0.6
_IMAGE_MARGIN_PX = 8.0
#: Planned poses per wanted view that may show a hidden board before the capture gives up.
_MAX_PASSED_OVER = 3
_MIN_FLANGE_HEIGHT_M = 0.15
#: Consecutive rejected draws after which the planner gives up.
_MAX_MISSES = 5000


@dataclasses.dataclass(frozen=True, slots=True)
class SimCapture:
    """Views captured in the sim, with what the calibration needs and the ground truth to check it.

    Attributes:
        views: the rendered views with their joint positions.
        board: the flange board as configured.
        intrinsics: the colour camera's intrinsics.
        T_base_link_camera_true: (4, 4) the sim camera's true pose (for checking only).
        passed_over: planned poses skipped because the image did not show the whole board.
    """

    views: tuple[CalibrationView, ...]
    board: Checkerboard
    intrinsics: CameraIntrinsics
    T_base_link_camera_true: np.ndarray
    passed_over: int


def with_marker(config: SimConfig, render_scale: int = 1) -> SimConfig:
    """``config`` with the calibration board enabled (kept if already configured) and the image scaled.

    A higher resolution with the same field of view leaves the camera pose unchanged and sharpens the
    corners; the calibrated extrinsics hold for any resolution of that camera.
    """
    if not 1 <= render_scale <= 4:
        raise ConfigError(f"render_scale must be 1–4, got {render_scale}")
    cam = config.camera
    marker = dataclasses.replace(config.calibration_marker, enabled=True)
    camera = dataclasses.replace(
        cam, width_px=cam.width_px * render_scale, height_px=cam.height_px * render_scale
    )
    return dataclasses.replace(config, calibration_marker=marker, camera=camera)


def board_of(marker: CalibrationMarkerConfig) -> Checkerboard:
    """The :class:`Checkerboard` that the sim's flange board shows."""
    return Checkerboard(marker.squares_x, marker.squares_y, marker.square_size_m)


def _angle_deg(R: np.ndarray) -> float:
    return math.degrees(float(np.linalg.norm(Rotation.from_matrix(R).as_rotvec())))


def _in_view(points_base: np.ndarray, T_base_camera: np.ndarray, k: CameraIntrinsics) -> bool:
    p = (points_base - T_base_camera[:3, 3]) @ T_base_camera[:3, :3]  # into the camera frame
    if (p[:, 2] <= _DISTANCE_M[0] / 2).any():  # behind or right in front of the lens
        return False
    uv = k.project(p)
    m = _IMAGE_MARGIN_PX
    return bool(
        (uv[:, 0] >= m).all()
        and (uv[:, 0] <= k.width_px - 1 - m).all()
        and (uv[:, 1] >= m).all()
        and (uv[:, 1] <= k.height_px - 1 - m).all()
    )


def iter_board_poses(
    world: SimWorld, seed: int, T_base_link_camera: np.ndarray | None = None
) -> Iterator[np.ndarray]:
    """Joint positions that show the flange board to the camera from diverse orientations (endless).

    Each pose passes the geometric checks of the module doc; whether the arm itself hides part of the
    board is not checked here (the capture looks at the image, as an operator would).

    Args:
        world: a sim world with the calibration board enabled (its config gives board and intrinsics).
        seed: random seed (same seed, same sequence).
        T_base_link_camera: rough camera pose used to aim the board; the world's true one when None.

    Yields:
        (6,) joint vectors, radians, each the IK solution nearest the previous one.

    Raises:
        CalibrationError: the world has no board, or no acceptable pose turns up in many draws (the
            camera looks at a place the arm cannot reach).
    """
    marker = world.config.calibration_marker
    if not marker.enabled:
        raise CalibrationError("the sim has no calibration board: build the world from with_marker(config)")
    T_cam = world.T_base_link_camera if T_base_link_camera is None else np.asarray(T_base_link_camera, float)
    k = world.intrinsics
    kin = Ur10eKinematics()
    rng = np.random.default_rng(seed)
    # The plate's outline (board + one-square border) in the marker frame: all of it must be in view.
    hx = (marker.squares_x / 2 + 1) * marker.square_size_m
    hy = (marker.squares_y / 2 + 1) * marker.square_size_m
    outline = np.array([[-hx, -hy, 0.0], [hx, -hy, 0.0], [hx, hy, 0.0], [-hx, hy, 0.0]])
    T_marker_flange = np.linalg.inv(T_FLANGE_MARKER)
    q_prev = world.joint_positions()
    rotations: list[np.ndarray] = []
    misses = 0
    while True:
        misses += 1
        if misses > _MAX_MISSES:
            raise CalibrationError(
                f"no reachable pose that shows the board to the camera in {_MAX_MISSES} draws after "
                f"{len(rotations)} poses; move the camera nearer the arm's workspace or capture fewer poses"
            )
        u = rng.uniform(0.5 - _AIM_FRACTION / 2, 0.5 + _AIM_FRACTION / 2) * (k.width_px - 1)
        v = rng.uniform(0.5 - _AIM_FRACTION / 2, 0.5 + _AIM_FRACTION / 2) * (k.height_px - 1)
        ray = np.array([(u - k.cx_px) / k.fx_px, (v - k.cy_px) / k.fy_px, 1.0])
        ray = T_cam[:3, :3] @ (ray / np.linalg.norm(ray))
        centre = T_cam[:3, 3] + rng.uniform(*_DISTANCE_M) * ray
        # Marker z points away from the camera when the board faces it; tilt it, then turn about it.
        axis = np.cross(ray, rng.normal(size=3))
        tilt = math.radians(rng.uniform(*_TILT_DEG)) * axis / np.linalg.norm(axis)
        z = Rotation.from_rotvec(tilt).apply(ray)
        x = np.cross(T_cam[:3, 1], z)  # camera "down" × z: the image x direction, in the board plane
        roll = math.radians(rng.uniform(-_ROLL_DEG, _ROLL_DEG)) * z
        x = Rotation.from_rotvec(roll).apply(x / np.linalg.norm(x))
        T_base_marker = np.eye(4)
        T_base_marker[:3, :3] = np.column_stack([x, np.cross(z, x), z])
        T_base_marker[:3, 3] = centre
        if not _in_view(outline @ T_base_marker[:3, :3].T + centre, T_cam, k):
            continue
        T_base_flange = T_base_marker @ T_marker_flange
        if T_base_flange[2, 3] < _MIN_FLANGE_HEIGHT_M:
            continue
        R = T_base_flange[:3, :3]
        if any(_angle_deg(r.T @ R) < _MIN_SEPARATION_DEG for r in rotations):
            continue
        try:
            q = kin.nearest(T_base_flange, q_prev)
        except KinematicsError:
            continue
        rotations.append(R)
        q_prev = q
        misses = 0
        yield q


def capture_sim_views(
    config: SimConfig | None = None, num_poses: int = 15, seed: int = 0, render_scale: int = 1
) -> SimCapture:
    """Move the arm through planned board poses and render the colour image at each.

    Like an operator at the teach pendant, a pose whose image does not show the whole board (the arm's
    own links in front of it) is passed over for the next planned one; ``SimCapture.passed_over``
    counts them.

    Args:
        config: the sim (its camera is the one calibrated); defaults when None. The board is enabled and
            the image scaled by ``render_scale`` for the capture (see :func:`with_marker`).
        num_poses: views to capture.
        seed: plan and scene seed.
        render_scale: image size multiplier for the capture, 1–4.

    Returns:
        The views (named ``view_000.png`` …), the board, the intrinsics and the true camera pose.

    Raises:
        CalibrationError: ``num_poses`` < 1, or too few poses show the board.
    """
    if num_poses < 1:
        raise CalibrationError(f"num_poses must be ≥ 1, got {num_poses}")
    sim_config = with_marker(config if config is not None else SimConfig(), render_scale)
    board = board_of(sim_config.calibration_marker)
    views: list[CalibrationView] = []
    passed_over = 0
    with SimWorld(sim_config) as world:
        world.reset(seed)
        for q in iter_board_poses(world, seed):
            world.teleport_arm(q)
            rgb = world.render().rgb.copy()
            if detect_checkerboard(rgb, board) is None:
                passed_over += 1
                if passed_over > _MAX_PASSED_OVER * num_poses:
                    raise CalibrationError(
                        f"the board was hidden in {passed_over} planned poses; keep the arm from between the "
                        "camera and the board (camera higher or further to the side)"
                    )
                continue
            views.append(CalibrationView(f"view_{len(views):03d}.png", rgb, world.joint_positions()))
            if len(views) == num_poses:
                break
        return SimCapture(
            views=tuple(views),
            board=board,
            intrinsics=world.intrinsics,
            T_base_link_camera_true=world.T_base_link_camera,
            passed_over=passed_over,
        )
