"""A joint-trajectory follower that behaves like ros2_controllers' ``joint_trajectory_controller``.

The follower interpolates from the state it is commanding when a trajectory arrives (open-loop, as the
JTC does with ``open_loop_control``) through the trajectory's points: linearly when the points carry
positions only, with cubic Hermite splines when they carry velocities too. After the last point it holds
that point's position. A new trajectory replaces the active one, starting from the current sample, so
the command stays continuous.

Everything is in joint space (radians, rad/s, seconds since the trajectory started); no MuJoCo here.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from visuomotor.errors import TrajectoryRejected
from visuomotor.kinematics import UR10E_JOINT_LIMITS_RAD, UR10E_JOINT_NAMES

__all__ = [
    "JointTrajectoryCommand",
    "JointTrajectoryFollower",
    "canonical_trajectory",
    "interpolate_trajectory",
]


def _as_readonly(name: str, value: object, ndim: int) -> np.ndarray:
    try:
        arr = np.array(value, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise TrajectoryRejected(f"{name} is not a numeric array: {err}") from err
    if arr.ndim != ndim:
        raise TrajectoryRejected(f"{name} must be {ndim}-D, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise TrajectoryRejected(f"{name} contains NaN or inf")
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True, slots=True)
class JointTrajectoryCommand:
    """A joint trajectory, the dataclass twin of ``trajectory_msgs/JointTrajectory``.

    Construction checks everything that does not depend on the robot (shapes, finiteness, timing,
    duplicate names); :func:`canonical_trajectory` checks names and limits against a robot.

    Attributes:
        joint_names: (J,) names of the columns, any order.
        times_s: (N,) time from start of each point, seconds, strictly increasing and > 0.
        positions: (N, J) joint positions, radians.
        velocities: (N, J) joint velocities, rad/s, or None (then the follower interpolates linearly).

    Raises:
        TrajectoryRejected: empty, non-monotonic or non-positive times, non-finite values, wrong
            lengths, duplicate names; the message gives the reason.
    """

    joint_names: tuple[str, ...]
    times_s: np.ndarray
    positions: np.ndarray
    velocities: np.ndarray | None = None

    def __post_init__(self) -> None:
        names = tuple(self.joint_names)
        if not names or not all(isinstance(n, str) for n in names):
            raise TrajectoryRejected(f"joint_names must be a non-empty list of strings, got {names!r}")
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise TrajectoryRejected(f"duplicate joint names {dupes}")
        object.__setattr__(self, "joint_names", names)
        times = _as_readonly("times_s", self.times_s, 1)
        if times.size == 0:
            raise TrajectoryRejected("empty trajectory: it has no points")
        if times[0] <= 0.0:
            raise TrajectoryRejected(
                f"times_s must be > 0 (time from start of each point), got {times[0]} for point 0"
            )
        if (np.diff(times) <= 0).any():
            k = int(np.argmax(np.diff(times) <= 0)) + 1
            raise TrajectoryRejected(
                f"times_s must increase strictly, but point {k} ({times[k]} s) is not after "
                f"point {k - 1} ({times[k - 1]} s)"
            )
        object.__setattr__(self, "times_s", times)
        expected = (times.size, len(names))
        for field_name in ("positions", "velocities"):
            value = getattr(self, field_name)
            if value is None:
                if field_name == "positions":
                    raise TrajectoryRejected("positions are required")
                continue
            arr = _as_readonly(field_name, value, 2)
            if arr.shape != expected:
                raise TrajectoryRejected(
                    f"{field_name} must have shape {expected} (points × joints), got {arr.shape}"
                )
            object.__setattr__(self, field_name, arr)

    @property
    def duration_s(self) -> float:
        """Time from start of the last point, seconds."""
        return float(self.times_s[-1])


def canonical_trajectory(
    traj: JointTrajectoryCommand,
    joint_names: Sequence[str] = UR10E_JOINT_NAMES,
    limits_rad: np.ndarray = UR10E_JOINT_LIMITS_RAD,
) -> JointTrajectoryCommand:
    """Reorder a trajectory's columns to ``joint_names`` and check them against the joint limits.

    Args:
        traj: the trajectory as received (any column order).
        joint_names: (J,) the robot's joint order.
        limits_rad: (J, 2) [lower, upper] position limits, radians.

    Returns:
        The same trajectory with columns in ``joint_names`` order.

    Raises:
        TrajectoryRejected: a joint is missing or unknown, or a position is outside its limits.
    """
    wanted = tuple(joint_names)
    missing = [n for n in wanted if n not in traj.joint_names]
    unknown = [n for n in traj.joint_names if n not in wanted]
    if missing or unknown:
        raise TrajectoryRejected(
            f"joint names must be exactly {list(wanted)} (any order); missing {missing}, unknown {unknown}"
        )
    order = [traj.joint_names.index(n) for n in wanted]
    positions = traj.positions[:, order]
    velocities = None if traj.velocities is None else traj.velocities[:, order]
    limits = np.asarray(limits_rad, dtype=np.float64)
    outside = (positions < limits[:, 0]) | (positions > limits[:, 1])
    if outside.any():
        k, j = (int(i) for i in np.argwhere(outside)[0])
        raise TrajectoryRejected(
            f"point {k}: {wanted[j]} = {positions[k, j]:.4f} rad is outside its limits "
            f"[{limits[j, 0]:.4f}, {limits[j, 1]:.4f}]"
        )
    return JointTrajectoryCommand(wanted, traj.times_s, positions, velocities)


def interpolate_trajectory(
    t_s: float,
    knots_s: Sequence[float],
    positions: np.ndarray,
    velocities: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Sample a piecewise trajectory whose first knot is the start state.

    Args:
        t_s: time since the start, seconds.
        knots_s: (M,) strictly increasing knot times with knots_s[0] = 0 (the start state).
        positions: (M, J) positions at the knots, radians.
        velocities: (M, J) velocities at the knots (cubic Hermite), or None (linear).

    Returns:
        (q, qd): (J,) desired position (rad) and velocity (rad/s). Before the start: the start state;
        after the last knot: the last position with zero velocity.
    """
    if t_s <= knots_s[0]:
        qd0 = np.zeros(positions.shape[1]) if velocities is None else velocities[0].copy()
        return positions[0].copy(), qd0
    if t_s >= knots_s[-1]:
        return positions[-1].copy(), np.zeros(positions.shape[1])
    k = bisect.bisect_right(knots_s, t_s) - 1
    T = knots_s[k + 1] - knots_s[k]
    s = (t_s - knots_s[k]) / T
    p0, p1 = positions[k], positions[k + 1]
    if velocities is None:
        return p0 + (p1 - p0) * s, (p1 - p0) / T
    v0, v1 = velocities[k] * T, velocities[k + 1] * T  # tangents in s-units
    s2, s3 = s * s, s * s * s
    q = (2 * s3 - 3 * s2 + 1) * p0 + (s3 - 2 * s2 + s) * v0 + (-2 * s3 + 3 * s2) * p1 + (s3 - s2) * v1
    dq_ds = (6 * s2 - 6 * s) * p0 + (3 * s2 - 4 * s + 1) * v0 + (-6 * s2 + 6 * s) * p1 + (3 * s2 - 2 * s) * v1
    return q, dq_ds / T


class JointTrajectoryFollower:
    """Turns trajectories into a position command sampled at any time (the sim samples it every step).

    Args:
        joint_names: (J,) the robot's joint order (default: the UR10e's).
        limits_rad: (J, 2) position limits, radians.
    """

    def __init__(
        self,
        joint_names: Sequence[str] = UR10E_JOINT_NAMES,
        limits_rad: np.ndarray = UR10E_JOINT_LIMITS_RAD,
    ) -> None:
        self._names = tuple(joint_names)
        self._limits = np.asarray(limits_rad, dtype=np.float64)
        if self._limits.shape != (len(self._names), 2):
            raise ValueError(f"limits_rad must be ({len(self._names)}, 2), got {self._limits.shape}")
        self._hold = np.zeros(len(self._names))
        self._t0_s = 0.0
        self._knots: list[float] | None = None
        self._positions = np.zeros((1, len(self._names)))
        self._velocities: np.ndarray | None = None

    @property
    def joint_names(self) -> tuple[str, ...]:
        """The joint order of every array this follower returns."""
        return self._names

    def hold(self, q_rad: np.ndarray) -> None:
        """Cancel any trajectory and hold ``q_rad`` (J,), radians.

        Raises:
            TrajectoryRejected: wrong shape, NaN/inf, or outside the joint limits.
        """
        q = np.array(q_rad, dtype=np.float64)
        if q.shape != (len(self._names),):
            raise TrajectoryRejected(f"arm target must have shape ({len(self._names)},), got {q.shape}")
        if not np.isfinite(q).all():
            raise TrajectoryRejected(f"arm target contains NaN or inf: {q.tolist()}")
        outside = (q < self._limits[:, 0]) | (q > self._limits[:, 1])
        if outside.any():
            j = int(np.argmax(outside))
            raise TrajectoryRejected(
                f"arm target {self._names[j]} = {q[j]:.4f} rad is outside its limits "
                f"[{self._limits[j, 0]:.4f}, {self._limits[j, 1]:.4f}]"
            )
        self._hold = q
        self._knots = None

    def start(self, traj: JointTrajectoryCommand, t0_s: float) -> JointTrajectoryCommand:
        """Replace the active trajectory; it starts at ``t0_s`` from the command sampled there.

        Args:
            traj: the new trajectory (any joint order).
            t0_s: the current time, seconds (sim time).

        Returns:
            The trajectory as accepted (columns in this follower's joint order).

        Raises:
            TrajectoryRejected: see :func:`canonical_trajectory`; the previous command stays active.
        """
        canon = canonical_trajectory(traj, self._names, self._limits)
        q0, qd0 = self.sample(t0_s)
        self._t0_s = float(t0_s)
        self._knots = [0.0, *canon.times_s.tolist()]
        self._positions = np.vstack([q0, canon.positions])
        self._velocities = None if canon.velocities is None else np.vstack([qd0, canon.velocities])
        self._hold = canon.positions[-1].copy()
        return canon

    def sample(self, t_s: float) -> tuple[np.ndarray, np.ndarray]:
        """The command at time ``t_s``: (q (J,) rad, qd (J,) rad/s)."""
        if self._knots is None:
            return self._hold.copy(), np.zeros(len(self._names))
        return interpolate_trajectory(t_s - self._t0_s, self._knots, self._positions, self._velocities)

    def is_active(self, t_s: float) -> bool:
        """True while a trajectory is still moving at ``t_s`` (False once it holds its last point)."""
        return self._knots is not None and t_s - self._t0_s < self._knots[-1]
