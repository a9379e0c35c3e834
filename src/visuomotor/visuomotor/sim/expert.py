"""Scripted pick-and-place expert: top-down grasp of a cube, carry to the bin, release.

The expert plans in Cartesian space (base_link) and converts every waypoint to joints once, with the
closed-form IK nearest the previous waypoint (IK per command, never per physics step). Procedure measured in
this sim: close only after the arm has settled (≈ 0.3 s after the descent) — closing while the
servo still lags pressed cubes into the table and they jumped on lift.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from visuomotor.errors import ConfigError
from visuomotor.kinematics import UR10E_JOINT_NAMES, Ur10eKinematics
from visuomotor.sim.jtc import JointTrajectoryCommand
from visuomotor.sim.world import SimWorld, top_down_tcp_pose

__all__ = [
    "PhaseCommand",
    "PickParams",
    "PickPlayback",
    "PickWaypoint",
    "ScriptedPick",
    "execute_waypoints",
    "to_phase_commands",
    "to_trajectory",
]


@dataclass(frozen=True, slots=True)
class PickWaypoint:
    """One phase of the pick: move the arm to ``q_rad`` while commanding ``gripper``.

    Attributes:
        phase: name (``approach``, ``descend``, ``settle``, ``close``, ``lift``, ``carry``, ``release``).
        q_rad: (6,) joint target at the end of the phase, radians, UR10E_JOINT_NAMES order.
        gripper: closure commanded from the start of the phase, 0 open … 1 closed.
        duration_s: time to reach ``q_rad`` (and to let the gripper act), seconds.
        T_base_link_tcp: (4, 4) the Cartesian target the joints came from.
    """

    phase: str
    q_rad: np.ndarray
    gripper: float
    duration_s: float
    T_base_link_tcp: np.ndarray


@dataclass(frozen=True, slots=True)
class PickParams:
    """Tuning of the scripted pick (metres, seconds, rad/s).

    Attributes:
        approach_height_m: TCP height above the cube centre before and after the grasp.
        grasp_depth_m: TCP offset below the cube centre at the grasp (0 = pads centred on the cube).
        lift_height_m: TCP height above the cube centre after the lift.
        release_clearance_m: cube bottom height above the bin rim when released.
        max_joint_speed_rad_s: the slowest joint sets each phase's duration (UR10e limits: 2.09 / 3.14).
        min_move_s: shortest arm move.
        settle_s: wait after the descent before closing.
        close_s, open_s: time for the fingers to close / open.
    """

    approach_height_m: float = 0.15
    grasp_depth_m: float = 0.0
    lift_height_m: float = 0.15
    release_clearance_m: float = 0.08
    max_joint_speed_rad_s: float = 0.8
    min_move_s: float = 0.8
    settle_s: float = 0.3
    close_s: float = 0.6
    open_s: float = 0.5

    def __post_init__(self) -> None:
        for name in (
            "approach_height_m",
            "lift_height_m",
            "release_clearance_m",
            "max_joint_speed_rad_s",
            "min_move_s",
            "close_s",
            "open_s",
        ):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ConfigError(f"PickParams.{name} must be a positive number, got {value}")
        for name in ("grasp_depth_m", "settle_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ConfigError(f"PickParams.{name} must be ≥ 0, got {value}")


class ScriptedPick:
    """Plans a top-down pick of one cube and a drop into the bin.

    Args:
        kinematics: IK with the world's tool transform; None builds
            ``Ur10eKinematics(T_flange_tcp=SimWorld.T_FLANGE_TCP)``.
        params: timing and heights.
    """

    def __init__(self, kinematics: Ur10eKinematics | None = None, params: PickParams | None = None) -> None:
        self.kinematics = (
            kinematics if kinematics is not None else Ur10eKinematics(T_flange_tcp=SimWorld.T_FLANGE_TCP)
        )
        self.params = params if params is not None else PickParams()

    def plan(
        self,
        p_base_link_cube: np.ndarray,
        cube_yaw_rad: float,
        p_base_link_bin: np.ndarray,
        q_now_rad: np.ndarray,
        *,
        bin_height_m: float = 0.1,
        cube_size_m: float = 0.05,
    ) -> list[PickWaypoint]:
        """Waypoints from the current joints to a released cube above the bin.

        Args:
            p_base_link_cube: (3,) cube centre in base_link, metres.
            cube_yaw_rad: cube yaw about base_link z (any multiple of 90° describes the same cube).
            p_base_link_bin: (3,) centre of the bin's bounding box in base_link, metres.
            q_now_rad: (6,) current joints, radians.
            bin_height_m: height of the bin walls (its bounding box).
            cube_size_m: cube edge.

        Returns:
            approach, descend, settle, close, lift, carry, release — each with joints from IK.

        Raises:
            IkUnreachableError: a waypoint has no IK solution.
        """
        p = self.params
        cube = np.asarray(p_base_link_cube, dtype=np.float64)
        q_now = np.asarray(q_now_rad, dtype=np.float64)
        yaw = self._grasp_yaw(cube, cube_yaw_rad, q_now)
        grasp = cube - np.array([0.0, 0.0, p.grasp_depth_m])
        above = cube + np.array([0.0, 0.0, p.approach_height_m])
        lifted = cube + np.array([0.0, 0.0, p.lift_height_m])
        bin_c = np.asarray(p_base_link_bin, dtype=np.float64)
        # Release: cube bottom `release_clearance_m` above the rim; keep the grasp yaw (no wrist spin).
        release_z = bin_c[2] + bin_height_m / 2 + p.release_clearance_m + cube_size_m / 2
        release = np.array([bin_c[0], bin_c[1], release_z])

        waypoints: list[PickWaypoint] = []
        q = q_now
        for phase, target, gripper in (
            ("approach", above, 0.0),
            ("descend", grasp, 0.0),
            ("settle", grasp, 0.0),
            ("close", grasp, 1.0),
            ("lift", lifted, 1.0),
            ("carry", release, 1.0),
            ("release", release, 0.0),
        ):
            T = top_down_tcp_pose(target, yaw)
            q_next = self.kinematics.nearest(T, q)
            move = float(np.max(np.abs(q_next - q)))
            if phase == "settle":
                duration = p.settle_s
            elif phase == "close":
                duration = p.close_s
            elif phase == "release":
                duration = p.open_s
            else:
                duration = max(p.min_move_s, move / p.max_joint_speed_rad_s)
            q_next.setflags(write=False)
            T.setflags(write=False)
            waypoints.append(PickWaypoint(phase, q_next, gripper, duration, T))
            q = q_next
        return waypoints

    def _grasp_yaw(self, cube: np.ndarray, cube_yaw_rad: float, q_now: np.ndarray) -> float:
        """The cube yaw + k·90° whose top-down IK solution is nearest the current joints."""
        best_yaw, best_cost = cube_yaw_rad, math.inf
        above = cube + np.array([0.0, 0.0, self.params.approach_height_m])
        for k in range(4):
            yaw = cube_yaw_rad + k * math.pi / 2
            q = self.kinematics.nearest(top_down_tcp_pose(above, yaw), q_now)
            cost = float(np.max(np.abs(q - q_now)))
            if cost < best_cost - 1e-9:
                best_yaw, best_cost = yaw, cost
        return best_yaw


@dataclass(frozen=True, slots=True)
class PhaseCommand:
    """One phase as commands for the driver: set the gripper, send the trajectory, wait ``duration_s``."""

    phase: str
    trajectory: JointTrajectoryCommand
    gripper: float
    duration_s: float


def _segment(q_targets: Sequence[np.ndarray], durations: Sequence[float]) -> JointTrajectoryCommand:
    times = np.cumsum(durations)
    positions = np.stack(q_targets)
    # Zero velocity at every point: cubic Hermite becomes a smooth stop-and-go profile.
    return JointTrajectoryCommand(UR10E_JOINT_NAMES, times, positions, np.zeros_like(positions))


def to_phase_commands(waypoints: Sequence[PickWaypoint]) -> list[PhaseCommand]:
    """One single-point trajectory per waypoint, with its gripper command."""
    return [
        PhaseCommand(w.phase, _segment([w.q_rad], [w.duration_s]), w.gripper, w.duration_s) for w in waypoints
    ]


def to_trajectory(waypoints: Sequence[PickWaypoint]) -> JointTrajectoryCommand:
    """All waypoints as one arm trajectory (the gripper commands are not part of it)."""
    return _segment([w.q_rad for w in waypoints], [w.duration_s for w in waypoints])


def execute_waypoints(world: SimWorld, waypoints: Sequence[PickWaypoint]) -> None:
    """Run waypoints in the world phase by phase (gripper, then arm trajectory, then wait)."""
    for cmd in to_phase_commands(waypoints):
        world.set_gripper(cmd.gripper)
        world.follow_trajectory(cmd.trajectory)
        world.step(round(cmd.duration_s / world.model.opt.timestep))


class PickPlayback:
    """The scripted pick of a world's first cube, played phase by phase while the caller steps the world.

    For recordings and benchmarks that need the arm moving (approach, occlusion by the fingers, carry):
    call :meth:`advance` before each stretch of ``world.step``; it starts the next phase when the last one's
    duration has passed and does nothing once the pick is over.
    """

    def __init__(self, world: SimWorld, expert: ScriptedPick | None = None) -> None:
        objects = world.objects()
        cube = objects[0]
        bin_ = next(o for o in objects if o.class_name == "bin")
        expert = expert if expert is not None else ScriptedPick()
        self.world = world
        self.phases = to_phase_commands(expert.plan(
            cube.position_m, 0.0, bin_.position_m, world.joint_positions(),
            bin_height_m=float(bin_.extent_m[2]), cube_size_m=cube.size_m))
        self._next = 0
        self._phase_end_s = world.time_s

    @property
    def done(self) -> bool:
        """Every phase has started and the last one's time is over."""
        return self._next >= len(self.phases) and self.world.time_s >= self._phase_end_s

    def advance(self) -> None:
        """Start the next phase if the current one is over."""
        if self._next < len(self.phases) and self.world.time_s >= self._phase_end_s:
            cmd = self.phases[self._next]
            self.world.set_gripper(cmd.gripper)
            self.world.follow_trajectory(cmd.trajectory)
            self._phase_end_s = self.world.time_s + cmd.duration_s
            self._next += 1

