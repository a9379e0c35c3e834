"""Forward-position streaming: one joint target per control tick from the last accepted chunk.

The ``forward_position_controller`` takes a position per tick and interpolates nothing, so the limits must
hold tick to tick: the target follows the accepted chunk trajectory (:class:`Commander`), rate-limited by
the velocity and acceleration limits, and every target passes the guard before it is returned — including
the distance to the MEASURED joints (``max_tracking_error_rad``): a target that runs away from an arm that
does not follow (blocked, controller off) is a HOLD at the measured joints.
"""

from __future__ import annotations

import numpy as np

from visuomotor.control.commander import TARGET, Commander, JointCommand, readonly
from visuomotor.control.trajectory import HermiteSegments, knots_with_start
from visuomotor.errors import ConfigError, SafetyViolation
from visuomotor.kinematics import UR10E_JOINT_NAMES

__all__ = ["StreamingCommander"]

_N = len(UR10E_JOINT_NAMES)


class StreamingCommander:
    """Forward-position streaming: the accepted chunk trajectory sampled once per tick, rate-limited.

    Per tick the target moves from the previous target towards the trajectory's sample at the current
    time, scaled uniformly so no joint exceeds its velocity limit, and each joint's velocity change is
    clipped to its acceleration limit; the result is checked by the guard (limits, box, table, e-stop,
    staleness, tracking error against the measured joints) before it is returned. Any rejection → HOLD at
    the measured joints (a STOP with no points if those are not trustworthy), and the plan is dropped until
    the next accepted chunk.

    Args:
        commander: plans chunks and owns the guard.
        tick_s: control period of the forward-position controller, seconds (e.g. 0.008 at 125 Hz).

    Raises:
        ConfigError: ``tick_s`` is not in (0, 1] s.
    """

    def __init__(self, commander: Commander, tick_s: float) -> None:
        if not (np.isfinite(tick_s) and 0.0 < tick_s <= 1.0):
            raise ConfigError(f"commander: tick_s must be in (0, 1] s, got {tick_s}")
        self._cmd = commander
        self._tick_s = float(tick_s)
        self._plan: HermiteSegments | None = None
        self._plan_start_ns = 0
        self._q_prev: np.ndarray | None = None
        self._v_prev = np.zeros(_N)

    @property
    def commander(self) -> Commander:
        return self._cmd

    def reset(self) -> None:
        """Drop the plan and the rate limiter's state (the commander is not reset)."""
        self._plan = None
        self._q_prev = None
        self._v_prev = np.zeros(_N)

    def set_chunk(
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
        """Plan a chunk (see ``Commander.plan``); an accepted plan is streamed from ``now_ns`` on."""
        plan = self._cmd.plan(
            T_base_link_tcp,
            gripper,
            step_s,
            q_current_rad,
            now_ns=now_ns,
            perception_stamp_ns=perception_stamp_ns,
            joints_stamp_ns=joints_stamp_ns,
            qd_current_rad_s=qd_current_rad_s,
            qdd_current_rad_s2=qdd_current_rad_s2,
        )
        if plan.accepted:  # stream from the state it was planned from (the predicted joints)
            q0, qd0 = plan.start_positions, plan.start_velocities
            knots = knots_with_start(q0, plan.times_s, plan.positions, plan.velocities, qd0)
            self._plan = HermiteSegments.build(*knots)
            self._plan_start_ns = int(now_ns)
        else:
            self._plan = None
        return plan

    def tick(
        self,
        now_ns: int,
        q_current_rad: np.ndarray,
        *,
        perception_stamp_ns: int | None,
        joints_stamp_ns: int | None,
    ) -> JointCommand:
        """The next joint target, or a HOLD at the current joints with the reason.

        Args:
            now_ns: current time, ns, on the clock of the stamps and of ``set_chunk``'s ``now_ns``.
            q_current_rad: (6,) measured joints, radians.
            perception_stamp_ns: source camera stamp of the newest perception, ns (None = none yet).
            joints_stamp_ns: stamp of ``q_current_rad``, ns.

        Returns:
            ``kind == "target"``: one point (the position to send this tick, and its velocity); with no
            accepted chunk yet (or after a hold) the target stays where the last one was, at rest, as long
            as that is within ``max_tracking_error_rad`` of the measured joints.
            ``kind == "hold"``: a rejection; the plan is dropped until the next accepted chunk.
        """
        cmd = self._cmd
        try:
            q_meas = cmd._current_joints(q_current_rad)
            cmd.guard.check_estop()
            cmd.guard.check_inputs_fresh(now_ns, perception_stamp_ns, joints_stamp_ns)
            q_prev = q_meas if self._q_prev is None else self._q_prev
            if self._plan is None:
                cmd.guard.check_tracking_error(q_prev, q_meas)
                raise _NoPlan
            desired = self._plan.state_at((now_ns - self._plan_start_ns) * 1e-9 + self._tick_s)[0]
            q_next, v_next = self._rate_limit(q_prev, desired)
            cmd.guard.check_trajectory(
                q_prev, np.array([self._tick_s]), q_next[None], None, qd_start_rad_s=self._v_prev
            )
            cmd.guard.check_tracking_error(q_next, q_meas)
        except _NoPlan:
            # Nothing accepted to follow yet: hold quietly where the last target was (no rejection).
            q_hold = q_prev
            self._v_prev = np.zeros(_N)
            self._q_prev = q_hold
            return JointCommand(
                TARGET,
                readonly([self._tick_s]),
                readonly(q_hold[None]),
                readonly(np.zeros((1, _N))),
                None,
                publish=not cmd.config.dry_run,
            )
        except SafetyViolation as violation:
            self.reset()
            return cmd._hold(q_current_rad, violation)  # in place: the stream has no braking ticks
        self._q_prev, self._v_prev = q_next, v_next
        return JointCommand(
            TARGET,
            readonly([self._tick_s]),
            readonly(q_next[None]),
            readonly(v_next[None]),
            None,
            publish=not cmd.config.dry_run,
        )

    def _rate_limit(self, q_prev: np.ndarray, desired: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Uniform velocity scaling (keeps the joint-space direction), then per-joint acceleration clip."""
        c = self._cmd.config
        vmax = c.velocity_limits_rad_s() * 0.999  # stay strictly inside; the guard checks with the full limit
        dt = self._tick_s
        v = (desired - q_prev) / dt
        v = v * min(1.0, float(np.min(vmax / np.maximum(np.abs(v), 1e-12))))
        if c.enabled:
            dv = c.acceleration_limits_rad_s2() * 0.999 * dt
            v = self._v_prev + np.clip(v - self._v_prev, -dv, dv)
        return q_prev + v * dt, v


class _NoPlan(Exception):
    """Internal: no accepted plan to stream."""
