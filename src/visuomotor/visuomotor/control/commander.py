"""The commander core: an action chunk of TCP poses → IK → checked joint commands, or a HOLD.

Two outputs for the two UR controllers (ur_robot_driver's controllers):

- :class:`Commander` (``scaled_joint_trajectory_controller``): one trajectory per chunk, a point per chunk
  step at ``time_from_start = (i + 1) · step_s``, velocities by central differences and zero at the last
  point (so the arm stops there if no newer chunk replaces it).
- ``StreamingCommander`` (``forward_position_controller``, module ``streaming``): one joint target per
  control tick, sampled from the last accepted trajectory, rate-limited by the velocity and acceleration
  limits.

Every command passes :class:`~visuomotor.control.SafetyGuard` as a whole; on any rejection the output is a
HOLD from the measured state plus the reason — never a partly checked command, never a remembered target.
A HOLD is, in order of preference: a braking stop within the limits (velocity known), an in-place hold at
the measured joints (checked from the measured state), or — when the joint state is not trustworthy
(stale, invalid) or neither passes — a HOLD with no points: "stop where you are" by the controller's own
stop semantics (the node sends an empty ``JointTrajectory``). A chunk is planned only from a known joint
velocity (measured, or estimated by ``control.state.JointStateFilter``); unknown → refused.
"""

from __future__ import annotations

import contextlib
import logging
import math
from dataclasses import dataclass, field

import numpy as np

from visuomotor.control.config import SafetyConfig
from visuomotor.control.safety import SafetyGuard
from visuomotor.control.trajectory import (
    HermiteSegments,
    finite_difference_velocities,
    knots_with_start,
    required_time_scale,
)
from visuomotor.control.violations import (
    IkUnreachableViolation,
    InvalidJointState,
    MalformedCommand,
    StaleJointStates,
    UnknownJointVelocity,
)
from visuomotor.errors import IkUnreachableError, KinematicsError, SafetyViolation
from visuomotor.kinematics import UR10E_JOINT_NAMES, Ur10eKinematics
from visuomotor.latency import LatencyRecorder

__all__ = ["HOLD", "TARGET", "TRAJECTORY", "ChunkInput", "Commander", "JointCommand"]

_LOG = logging.getLogger(__name__)
_N = len(UR10E_JOINT_NAMES)

#: ``JointCommand.kind`` values.
TRAJECTORY = "trajectory"
TARGET = "target"
HOLD = "hold"

#: A chunk's gripper value at or above this closes the gripper, below it opens (the policy's
#: ``gripper_command`` threshold, repeated here so the control core does not import the policy).
GRIPPER_CLOSE_AT = 0.5
#: Rounds of per-segment stretching before time scaling gives up (each round fixes the worst segments).
_TIME_SCALE_ROUNDS = 12
#: Margin so a stretched chunk lands just inside the limits, not on them (rounding).
_SCALE_MARGIN = 1.001


def readonly(a: object) -> np.ndarray:
    """A read-only float64 copy (command arrays are shared with the node; nobody may edit them)."""
    out = np.array(a, dtype=np.float64)
    out.setflags(write=False)
    return out


@dataclass(frozen=True, slots=True)
class ChunkInput:
    """An action chunk as it arrives, checked for shape at the boundary (values are the guard's business).

    Attributes:
        stamp_ns: source camera stamp of the observation the chunk was computed from, ns.
        T_base_link_tcp: (k, 4, 4) TCP poses in ``base_link``, metres (may hold NaN: refused by the guard).
        gripper: (k,) closure per step, 0 open … 1 closed.
        step_s: time between steps, seconds.
    """

    stamp_ns: int
    T_base_link_tcp: np.ndarray
    gripper: np.ndarray
    step_s: float


@dataclass(frozen=True, slots=True)
class JointCommand:
    """What the commander decided: a trajectory, a streamed target, or a HOLD with its reason.

    Attributes:
        kind: ``"trajectory"`` (accepted chunk), ``"target"`` (accepted streaming tick) or ``"hold"``.
        joint_names: (6,) column order, ``UR10E_JOINT_NAMES``.
        times_s: (N,) time_from_start of each point, seconds. N = 0 only for a STOP: a hold without a
            trustworthy joint state, sent as the controller's own stop (an empty ``JointTrajectory``).
        positions: (N, 6) joint positions, radians (a hold: the measured joints, or where a braking stop
            ends; see ``Commander.hold``).
        velocities: (N, 6) joint velocities, rad/s (zero at a trajectory's last point and for a hold).
        gripper: closure to command, 0 open or 1 closed: the chunk's first step thresholded at
            ``GRIPPER_CLOSE_AT`` (a regressed 0.4 must not half-close on a cube); None = leave the gripper
            as it is (every hold: never drop a cube).
        publish: False in ``dry_run`` (compute + log only).
        reason_code: rejection code (``REJECTION_REASONS``), "" when accepted.
        reason: the rejection message (names limit, joint/axis, value and fix), "" when accepted.
        time_scale: total duration ratio applied by time scaling (1.0 = chunk timing kept).
        start_positions, start_velocities: (6,) the state the command was planned from (the arm's, now,
            as predicted): where the controller starts it; None for a STOP.
    """

    kind: str
    times_s: np.ndarray
    positions: np.ndarray
    velocities: np.ndarray
    gripper: float | None
    publish: bool
    reason_code: str = ""
    reason: str = ""
    time_scale: float = 1.0
    joint_names: tuple[str, ...] = field(default=UR10E_JOINT_NAMES)
    start_positions: np.ndarray | None = None
    start_velocities: np.ndarray | None = None

    @property
    def accepted(self) -> bool:
        """True unless this is a HOLD."""
        return self.kind != HOLD

    @property
    def is_stop(self) -> bool:
        """True for a HOLD with no points: stop where you are by the controller's own semantics."""
        return self.kind == HOLD and self.times_s.size == 0


class Commander:
    """Action chunk → IK (chained ``nearest``) → checked joint trajectory, or a HOLD.

    Velocity/acceleration over the limits: with ``time_scaling: true`` (the default) the offending
    segments are stretched (up to ``max_time_scale`` in total duration) and the stretched trajectory is
    checked again by the guard; with ``time_scaling: false`` such a chunk is rejected (HOLD, reason
    ``joint_velocity_limit`` / ``joint_acceleration_limit``). Time scaling is on by default because a chunk
    that starts from rest or ends (zero final velocity) at chunk-step timing needs ≈ 4·v/step_s of
    acceleration at its ends: 0.25 rad/s at 0.1 s steps is 10 rad/s², over every default limit, so without
    it an ordinary chunk could never start the arm. Only timing changes, never the path, and the result
    passes the same guard. Small and stateful: ``reset()`` forgets the hold state and the guard's counters
    (never the e-stop).

    Args:
        config: limits and switches.
        T_flange_tcp: (4, 4) TCP in the flange frame, metres (``kinematics.T_FLANGE_TCP`` for the cell);
            required so IK and checks use the same tool. None only for a bare flange.
        recorder: if given, every rejection is counted there too (``LatencyRecorder.rejected``), so it
            shows in the latency/health report.
    """

    def __init__(
        self,
        config: SafetyConfig,
        *,
        T_flange_tcp: np.ndarray | None,
        recorder: LatencyRecorder | None = None,
    ) -> None:
        self._config = config
        self._guard = SafetyGuard(config, T_flange_tcp=T_flange_tcp)
        # IK inside the configured limits, so `nearest` picks a representation the guard accepts.
        self._kin = Ur10eKinematics(T_flange_tcp=T_flange_tcp, joint_limits_rad=config.joint_limits_rad())
        self._recorder = recorder
        self._holding = False

    @property
    def config(self) -> SafetyConfig:
        return self._config

    @property
    def guard(self) -> SafetyGuard:
        """The guard (e-stop latch, counters, staleness) this commander checks with."""
        return self._guard

    @property
    def kinematics(self) -> Ur10eKinematics:
        return self._kin

    @property
    def dry_run(self) -> bool:
        """True: commands are computed and checked but ``publish`` is False."""
        return self._config.dry_run

    @property
    def holding(self) -> bool:
        """True after a HOLD until the next accepted command."""
        return self._holding

    def reset(self) -> None:
        """Forget the hold state; clear the guard's counters (not the e-stop)."""
        self._holding = False
        self._guard.reset()

    # ------------------------------------------------------------------ chunk → trajectory

    def plan(
        self,
        T_base_link_tcp: np.ndarray,
        gripper: np.ndarray,
        step_s: float,
        q_current_rad: np.ndarray,
        *,
        now_ns: int,
        perception_stamp_ns: int | None,
        joints_stamp_ns: int | None,
        qd_current_rad_s: np.ndarray | None = None,
        qdd_current_rad_s2: np.ndarray | None = None,
    ) -> JointCommand:
        """Turn an action chunk into a checked trajectory, or a HOLD with the reason.

        Args:
            T_base_link_tcp: (k, 4, 4) TCP poses of the chunk in ``base_link``, metres.
            gripper: (k,) closure per step, 0 open … 1 closed.
            step_s: time between chunk steps, seconds; step i is reached at (i + 1) · step_s.
            q_current_rad: (6,) current joints (``/joint_states``), radians, ``UR10E_JOINT_NAMES`` order.
            now_ns: current time, ns, on the clock of both stamps.
            perception_stamp_ns: source camera stamp of the chunk's observation, ns (None = none yet).
            joints_stamp_ns: stamp of ``q_current_rad``, ns (None = none yet).
            qd_current_rad_s: (6,) current joint velocity, rad/s, measured or estimated
                (``JointStateFilter``); None = unknown, and the chunk is refused (``unknown_velocity``):
                the first segment starts with it, and assuming rest misjudges the start acceleration.
            qdd_current_rad_s2: (6,) current joint acceleration, rad/s², from two measured velocities
                (``JointStateFilter``); None = extrapolate at constant velocity.

        The plan starts where the arm is NOW: the measured joints extrapolated at their velocity from
        ``joints_stamp_ns`` to ``now_ns`` (a joint state may be up to ``joint_state_timeout_s`` old; at
        0.6 rad/s that is 0.12 rad, enough to turn a smooth first segment into 20 rad/s²).

        Returns:
            ``kind == "trajectory"`` with k points, or ``kind == "hold"`` (see :meth:`hold`).
        """
        age_s = self._state_age_s(now_ns, joints_stamp_ns)
        q_current_rad, qd_current_rad_s = self._predicted(
            q_current_rad, qd_current_rad_s, now_ns, joints_stamp_ns, qdd_current_rad_s2
        )
        try:
            q0 = self._current_joints(q_current_rad)
            g = self._guard
            g.check_estop()
            g.check_inputs_fresh(now_ns, perception_stamp_ns, joints_stamp_ns)
            poses = self._checked(T_base_link_tcp, "T_base_link_tcp", 3)
            grip = self._checked(gripper, "gripper", 1)
            if poses.shape[1:] != (4, 4) or grip.shape != (poses.shape[0],) or poses.shape[0] == 0:
                g.reject(
                    MalformedCommand(
                        f"a chunk needs k ≥ 1 poses (k, 4, 4) and k gripper values, got "
                        f"{poses.shape} and {grip.shape}"
                    )
                )
            if poses.shape[0] > self._config.max_chunk_steps:
                g.reject(
                    MalformedCommand(
                        f"a chunk of {poses.shape[0]} steps is longer than max_chunk_steps = "
                        f"{self._config.max_chunk_steps}; send shorter chunks"
                    )
                )
            step = self._checked(step_s, "step_s", 0)
            if not 0.0 < step <= 10.0:
                g.reject(MalformedCommand(f"step_s must be in (0, 10] s, got {float(step)}"))
            if qd_current_rad_s is None:
                g.reject(
                    UnknownJointVelocity(
                        "the current joint velocity is unknown (the joint states carry none and no two "
                        "recent samples give an estimate); a plan from rest could break the acceleration "
                        "limits, so the chunk is refused — publish velocities in /joint_states"
                    )
                )
            qd0 = self._checked(qd_current_rad_s, "qd_current_rad_s", 1)
            if qd0.shape != (_N,):
                g.reject(MalformedCommand(f"qd_current_rad_s must have shape ({_N},), got {qd0.shape}"))
            positions = self._solve_chain(poses, q0)
            times = float(step) * np.arange(1, positions.shape[0] + 1)
            times, velocities, scale = self._timing(q0, times, positions, qd0)
            g.check_trajectory(q0, times, positions, velocities, qd_start_rad_s=qd0)
        except SafetyViolation as violation:
            return self._hold(q_current_rad, violation, qd_current_rad_s, age_s)
        self._holding = False
        return JointCommand(
            TRAJECTORY,
            readonly(times),
            readonly(positions),
            readonly(velocities),
            1.0 if grip[0] >= GRIPPER_CLOSE_AT else 0.0,
            publish=not self._config.dry_run,
            time_scale=scale,
            start_positions=readonly(q0),
            start_velocities=readonly(qd0),
        )

    def watchdog(
        self,
        now_ns: int,
        q_current_rad: np.ndarray,
        *,
        perception_stamp_ns: int | None,
        joints_stamp_ns: int | None,
        qd_current_rad_s: np.ndarray | None = None,
        qdd_current_rad_s2: np.ndarray | None = None,
    ) -> JointCommand | None:
        """Call at the control rate between chunks: a HOLD when the e-stop latches or inputs go stale.

        Returns a HOLD once on the transition into the bad state (the controller then holds by itself);
        None while everything is fine or a hold is already in force. Recovery is the next accepted chunk.
        Arguments as in :meth:`plan`.
        """
        if self._holding:
            return None
        age_s = self._state_age_s(now_ns, joints_stamp_ns)
        q_current_rad, qd_current_rad_s = self._predicted(
            q_current_rad, qd_current_rad_s, now_ns, joints_stamp_ns, qdd_current_rad_s2
        )
        try:
            self._guard.check_estop()
            self._guard.check_inputs_fresh(now_ns, perception_stamp_ns, joints_stamp_ns)
        except SafetyViolation as violation:
            return self._hold(q_current_rad, violation, qd_current_rad_s, age_s)
        return None

    def hold(
        self,
        q_current_rad: np.ndarray,
        reason_code: str,
        reason: str,
        qd_current_rad_s: np.ndarray | None = None,
        *,
        now_ns: int | None = None,
        joints_stamp_ns: int | None = None,
        qdd_current_rad_s2: np.ndarray | None = None,
    ) -> JointCommand:
        """A HOLD for the node's own reasons (counted under ``reason_code`` in the recorder).

        Always from the measured state, never from a remembered target. With the current velocity the
        hold is a braking stop: constant deceleration to q + q̇·T/2 at T = max(hold_time_s, the braking
        time), used only if that stop path passes every limit. The braking time covers what the arm may
        have done since the state was measured: a state ``age`` old is extrapolated to now, and the arm
        may meanwhile have changed speed by up to a_max·age (position by ½·a_max·age²); the controller
        interpolates from where the arm really is, so T is long enough that even then the stop stays
        within a_max (found under 70 % loss: a 0.2 s hold from a 150 ms old state needed 14 rad/s²).
        Otherwise the single point is the measured joints at ``hold_time_s``, if that passes the guard
        from the measured state. Otherwise — or when ``q_current_rad`` is None or not finite — a STOP:
        no points (``JointCommand.is_stop``), sent as the controller's own stop.

        Args:
            q_current_rad: (6,) measured joints, radians; None = no trustworthy joint state.
            reason_code: counter key, e.g. ``"estop"``.
            reason: message for the log.
            qd_current_rad_s: (6,) measured or estimated velocity, rad/s; None = unknown.
            now_ns: current time, ns, on the clock of ``joints_stamp_ns``: with both, the state is
                extrapolated to now and its age lengthens the stop (as in :meth:`plan`).
            joints_stamp_ns: stamp of ``q_current_rad``, ns.
            qdd_current_rad_s2: measured acceleration, as in :meth:`plan`.
        """
        age_s = self._state_age_s(now_ns, joints_stamp_ns)
        if now_ns is not None:
            q_current_rad, qd_current_rad_s = self._predicted(
                q_current_rad, qd_current_rad_s, now_ns, joints_stamp_ns, qdd_current_rad_s2
            )
        return self._make_hold(q_current_rad, reason_code, reason, qd_current_rad_s, age_s)

    def _predicted(
        self,
        q_current_rad: np.ndarray,
        qd_current_rad_s: np.ndarray | None,
        now_ns: int,
        joints_stamp_ns: int | None,
        qdd_current_rad_s2: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """The measured state (q, q̇) carried forward from its stamp to ``now_ns`` (where the arm is now):
        at its measured acceleration when known (clipped to 3× the limits: a noisy difference must not
        fling the estimate), else at constant velocity. Only for a fresh state (0 < age ≤
        ``joint_state_timeout_s``) with a known, finite velocity; otherwise the state as given (a stale or
        invalid one is refused by the checks anyway).

        Found by the fault suite: a plan from a state 35–150 ms old, extrapolated at constant velocity
        while the arm was accelerating, needed 10–24 rad/s² from the true state. Carrying the state along
        the published trajectory instead was tried and measured worse: the controller starts each
        trajectory from its own desired state and the arm lags that.
        """
        q, qd = _vector(q_current_rad), _vector(qd_current_rad_s, max_abs=1e3)
        if q is None or qd is None or joints_stamp_ns is None:
            return q_current_rad, qd_current_rad_s
        age_s = (now_ns - joints_stamp_ns) * 1e-9
        if not 0.0 < age_s <= self._config.joint_state_timeout_s:
            return q_current_rad, qd_current_rad_s
        qdd = _vector(qdd_current_rad_s2, max_abs=1e4)
        if qdd is None:
            return q + qd * age_s, qd
        bound = 3.0 * self._config.acceleration_limits_rad_s2()
        qdd = np.clip(qdd, -bound, bound)
        return q + qd * age_s + 0.5 * qdd * age_s**2, qd + qdd * age_s

    def _state_age_s(self, now_ns: int | None, joints_stamp_ns: int | None) -> float:
        """How old the joint state is, seconds, within [0, joint_state_timeout_s] (0 when not known)."""
        if now_ns is None or joints_stamp_ns is None:
            return 0.0
        return min(max((now_ns - joints_stamp_ns) * 1e-9, 0.0), self._config.joint_state_timeout_s)

    def refuse(
        self,
        violation: SafetyViolation,
        q_current_rad: np.ndarray | None,
        qd_current_rad_s: np.ndarray | None = None,
        *,
        now_ns: int | None = None,
        joints_stamp_ns: int | None = None,
        qdd_current_rad_s2: np.ndarray | None = None,
    ) -> JointCommand:
        """A HOLD for a command refused before planning (e.g. malformed at the boundary), counted by the
        guard under the violation's reason like any other rejection. Arguments as in :meth:`hold`."""
        with contextlib.suppress(SafetyViolation):
            self._guard.reject(violation)
        age_s = self._state_age_s(now_ns, joints_stamp_ns)
        if now_ns is not None:
            q_current_rad, qd_current_rad_s = self._predicted(
                q_current_rad, qd_current_rad_s, now_ns, joints_stamp_ns, qdd_current_rad_s2
            )
        return self._hold(q_current_rad, violation, qd_current_rad_s, age_s)

    # ------------------------------------------------------------------ internals

    def _current_joints(self, q_current_rad: np.ndarray) -> np.ndarray:
        q = self._checked(q_current_rad, "q_current_rad", 1)
        if q.shape != (_N,):
            self._guard.reject(MalformedCommand(f"q_current_rad must have shape ({_N},), got {q.shape}"))
        return q

    def _checked(self, value: object, name: str, ndim: int) -> np.ndarray:
        try:
            arr = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError) as err:
            self._guard.reject(MalformedCommand(f"{name} is not numeric ({err})"))
        if arr.ndim != ndim:
            self._guard.reject(MalformedCommand(f"{name} must be {ndim}-D, got shape {arr.shape}"))
        self._guard.check_finite(name, arr)
        return arr

    def _solve_chain(self, poses: np.ndarray, q0: np.ndarray) -> np.ndarray:
        """(k, 6) IK solutions, each the nearest to the previous step's (the first: to the current joints)."""
        out = np.empty((poses.shape[0], _N))
        q_prev = q0
        for i, T in enumerate(poses):
            try:
                q = self._kin.nearest(T, q_prev)
            except IkUnreachableError as err:
                self._guard.reject(IkUnreachableViolation(f"chunk step {i}: {err}"))
            except KinematicsError as err:  # malformed pose (not a rotation, ...)
                self._guard.reject(MalformedCommand(f"chunk step {i}: {err}"))
            self._guard.check_ik_jump(q_prev, q, i)
            out[i] = q
            q_prev = q
        return out

    def _timing(
        self, q0: np.ndarray, times: np.ndarray, positions: np.ndarray, qd0: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray, float]:
        """Velocities by finite differences; with ``time_scaling`` stretch the segments that break a limit."""
        knot_t = np.concatenate([[0.0], times])
        knots = np.vstack([q0, positions])
        velocities = finite_difference_velocities(knot_t, knots)
        if not self._config.time_scaling or not self._config.enabled:
            return times, velocities, 1.0
        vmax = self._config.velocity_limits_rad_s()
        amax = self._config.acceleration_limits_rad_s2()
        durations = np.diff(knot_t)
        original = float(knot_t[-1])
        for _ in range(_TIME_SCALE_ROUNDS):
            seg = HermiteSegments.build(*knots_with_start(q0, knot_t[1:], positions, velocities, qd0))
            v_ratio = (seg.peak_speed()[0] / vmax).max(axis=1)
            a_ratio = (seg.peak_acceleration()[0] / amax).max(axis=1)
            stretch = np.array([required_time_scale(v, a) for v, a in zip(v_ratio, a_ratio, strict=True)])
            if (stretch <= 1.0).all():
                break
            durations = durations * np.where(stretch > 1.0, stretch * _SCALE_MARGIN, 1.0)
            knot_t = np.concatenate([[0.0], np.cumsum(durations)])
            velocities = finite_difference_velocities(knot_t, knots)
        scale = float(knot_t[-1]) / original
        if scale > self._config.max_time_scale:
            # Let the guard name the limit that forced it: check the unscaled chunk.
            velocities0 = finite_difference_velocities(np.concatenate([[0.0], times]), knots)
            self._guard.check_trajectory(q0, times, positions, velocities0, qd_start_rad_s=qd0)
        return knot_t[1:], velocities, scale

    def _hold(
        self,
        q_current_rad: object,
        violation: SafetyViolation,
        qd_current_rad_s: object = None,
        age_s: float = 0.0,
    ) -> JointCommand:
        reason_code = getattr(violation, "reason", "safety")
        if isinstance(violation, StaleJointStates | InvalidJointState):
            q_current_rad = None  # the joints are not trustworthy: stop where the arm is, not where we think
        return self._make_hold(q_current_rad, reason_code, str(violation), qd_current_rad_s, age_s)

    def _stop(self, reason_code: str, reason: str) -> JointCommand:
        empty = np.zeros((0, _N))
        return JointCommand(
            HOLD,
            readonly(np.zeros(0)),
            readonly(empty),
            readonly(empty),
            None,
            publish=not self._config.dry_run,
            reason_code=reason_code,
            reason=reason,
        )

    def _make_hold(
        self,
        q_current_rad: object,
        reason_code: str,
        reason: str,
        qd_current_rad_s: object = None,
        age_s: float = 0.0,
    ) -> JointCommand:
        if self._recorder is not None:
            self._recorder.rejected(reason_code)
        self._holding = True
        q = _vector(q_current_rad)
        if q is None:
            return self._stop(reason_code, reason)
        qd = _vector(qd_current_rad_s, max_abs=1e3)  # beyond 1000 rad/s it is not a velocity
        t_hold, q_hold = self._config.hold_time_s, q
        moving = qd is not None and (qd.any() or age_s > 0.0)
        braking = self._braking_stop(q, qd, age_s) if moving and self._config.enabled else None
        if braking is not None:
            t_hold, q_hold = braking
        elif not self._guard.stop_path_ok(q, t_hold, q, np.zeros(_N) if qd is None else qd):
            # Neither a braking stop nor the in-place hold passes from the measured state (e.g. braking
            # would cross a limit): leave the stop to the controller rather than send a failing command.
            return self._stop(reason_code, reason)
        return JointCommand(
            HOLD,
            readonly(np.array([t_hold])),
            readonly(q_hold[None]),
            readonly(np.zeros((1, _N))),
            None,
            publish=not self._config.dry_run,
            reason_code=reason_code,
            reason=reason,
            start_positions=readonly(q),
            start_velocities=readonly(np.zeros(_N) if qd is None else qd),
        )

    def _braking_stop(
        self, q: np.ndarray, qd: np.ndarray, age_s: float = 0.0
    ) -> tuple[float, np.ndarray] | None:
        """(T, q_stop) of a constant-deceleration stop, or None if its path would break a limit.

        Hermite from (q, q̇) to (q + q̇·T/2, 0) over T has A = 0, so q̈ = −q̇/T throughout: |q̈| ≤ a_max
        for T ≥ |q̇|/a_max, and the speed falls monotonically. Stopping in place instead would need 4|q̇|/T.
        If the arm is really at (q + e, q̇ + ε) — the state is ``age_s`` old, |ε| ≤ a_max·age, |e| ≤
        ½·a_max·age² — the controller's cubic from there starts with |q̈| ≤ (|q̇| + 4|ε|)/T + 6|e|/T², so
        T solves a_max·T² − (|q̇| + 4|ε|)·T − 6|e| = 0 per joint (``age_s`` = 0: T = |q̇|/a_max).
        """
        amax = self._config.acceleration_limits_rad_s2()
        b = np.abs(qd) + 4.0 * amax * age_s
        c = 6.0 * 0.5 * amax * age_s**2
        t_joint = (b + np.sqrt(b * b + 4.0 * amax * c)) / (2.0 * amax)
        t_stop = max(self._config.hold_time_s, float(np.max(t_joint)))
        q_stop = q + qd * (t_stop / 2.0)
        if self._guard.stop_path_ok(q, t_stop, q_stop, qd):
            return t_stop, q_stop
        return None


def _vector(value: object, max_abs: float = math.inf) -> np.ndarray | None:
    """(6,) finite float64 copy of ``value`` (every |entry| ≤ ``max_abs``), or None if it is not one."""
    if value is None:
        return None
    try:
        v = np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    if v.shape != (_N,) or not np.isfinite(v).all() or (np.abs(v) > max_abs).any():
        return None
    return v
