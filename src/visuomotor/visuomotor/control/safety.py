"""The safety guard: every joint command is checked here before anything may publish it.

:class:`SafetyGuard` checks a whole trajectory from the current joints the way the controller will
execute it (cubic Hermite with velocities, linear without): joint positions, velocities and accelerations
exactly per segment, and the TCP/flange along densely sampled points of the path (workspace box, table
plane), and on the same samples the whole arm as capsules plus the tool box (``control.collision``):
every link above the table plane, the tool's axis (flange to tip) inside the workspace box, every part
out of the keep-out boxes, non-adjacent parts clear of each other. It also owns the e-stop latch, input
staleness and IK-jump rejection, and counts rejections per reason. A failed check raises a
:class:`SafetyViolation` subclass whose ``reason`` is a stable code (for counters and logs) and whose
message names the limit, the joint or axis, the value and the fix.
"""

from __future__ import annotations

import logging
from typing import NoReturn

import numpy as np

from visuomotor.control.collision import Aabb, CollisionChecker, CollisionHit, CollisionModel, ToolBox
from visuomotor.control.config import SafetyConfig
from visuomotor.control.trajectory import (
    HermiteSegments,
    knots_with_start,
    linear_knot_accelerations,
    sample_path,
)
from visuomotor.control.violations import (
    CollisionKeepoutViolation,
    CollisionTableViolation,
    CollisionWorkspaceViolation,
    EstopActive,
    IkJumpViolation,
    JointAccelerationViolation,
    JointPositionViolation,
    JointVelocityViolation,
    MalformedCommand,
    NonFiniteValue,
    SelfCollisionViolation,
    StaleJointStates,
    StalePerception,
    TablePlaneViolation,
    TrackingErrorViolation,
    WorkspaceViolation,
)
from visuomotor.errors import SafetyViolation
from visuomotor.kinematics import UR10E_JOINT_NAMES
from visuomotor.kinematics.ur10e import link_frames_batch

__all__ = ["SafetyGuard"]

_LOG = logging.getLogger(__name__)
_N = len(UR10E_JOINT_NAMES)


class SafetyGuard:
    """Checks commands against a :class:`SafetyConfig`; holds the e-stop latch and rejection counters.

    Not thread-safe: call it from one thread (the commander's). ``reset()`` clears the counters but never
    the e-stop, which only :meth:`clear_estop` releases.

    Args:
        config: the limits.
        T_flange_tcp: (4, 4) TCP pose in the flange frame, metres (``kinematics.T_FLANGE_TCP`` for the cell
            gripper). Required on purpose: a forgotten tool offset would check the flange, not the
            fingertips, against the table. Pass None only for a bare flange.
    """

    def __init__(self, config: SafetyConfig, *, T_flange_tcp: np.ndarray | None) -> None:
        self._config = config
        self._T_flange_tcp = np.eye(4) if T_flange_tcp is None else np.array(T_flange_tcp, dtype=np.float64)
        self._limits = config.joint_limits_rad()
        self._vmax = config.velocity_limits_rad_s()
        self._amax = config.acceleration_limits_rad_s2()
        self._box_lo = np.array(config.workspace_min_m)
        self._box_hi = np.array(config.workspace_max_m)
        tool = ToolBox.along_tool_axis(
            self._T_flange_tcp, config.tool_half_width_m, config.tool_tip_beyond_tcp_m
        )
        self._collision = CollisionChecker(
            CollisionModel(tool=tool),
            table_margin_m=config.collision_table_margin_m,
            tool_table_margin_m=config.collision_tool_table_margin_m,
            self_margin_m=config.collision_self_margin_m,
            keepout_margin_m=config.collision_keepout_margin_m,
            keepout_boxes=Aabb.from_flat(config.keepout_boxes_m),
            workspace=Aabb(config.workspace_min_m, config.workspace_max_m),
        )
        self._counts: dict[str, int] = {}
        self._estop_reason: str | None = None
        self._silent = False  # True inside stop_path_ok: a probe, not a rejection

    @property
    def config(self) -> SafetyConfig:
        """The limits in force."""
        return self._config

    @property
    def T_flange_tcp(self) -> np.ndarray:  # noqa: N802 - frame names carry their capital T
        """(4, 4) copy of the tool transform used for the Cartesian checks."""
        return self._T_flange_tcp.copy()

    @property
    def collision(self) -> CollisionChecker:
        """The whole-arm collision checker (capsules + tool box) the path checks use."""
        return self._collision

    def reset(self) -> None:
        """Clear the rejection counters (the e-stop stays latched)."""
        self._counts.clear()

    # ------------------------------------------------------------------ rejections and e-stop

    @property
    def rejections(self) -> dict[str, int]:
        """Copy of the rejection counts per reason code (see ``REJECTION_REASONS``)."""
        return dict(self._counts)

    def reject(self, violation: SafetyViolation) -> NoReturn:
        """Count ``violation`` under its reason, log it and raise it."""
        if not self._silent:
            reason = getattr(violation, "reason", "safety")
            self._counts[reason] = self._counts.get(reason, 0) + 1
            _LOG.warning("command rejected [%s]: %s", reason, violation)
        raise violation

    def estop(self, reason: str) -> None:
        """Latch the e-stop: all checks fail until :meth:`clear_estop`; re-latching keeps the first reason."""
        if self._estop_reason is None:
            self._estop_reason = reason or "e-stop requested"
            _LOG.error("E-STOP latched: %s", self._estop_reason)

    def clear_estop(self) -> None:
        """Release the e-stop latch (an explicit operator action; nothing calls this automatically)."""
        if self._estop_reason is not None:
            _LOG.warning("e-stop cleared (was: %s)", self._estop_reason)
        self._estop_reason = None

    @property
    def estopped(self) -> bool:
        """True while the e-stop is latched."""
        return self._estop_reason is not None

    @property
    def estop_reason(self) -> str | None:
        """Why the e-stop was latched, or None."""
        return self._estop_reason

    def check_estop(self) -> None:
        """Raises EstopActive while the e-stop is latched."""
        if self._estop_reason is not None:
            self.reject(
                EstopActive(
                    f"e-stop is latched ({self._estop_reason}); holding. Clear it explicitly "
                    "(SafetyGuard.clear_estop / the estop topic false) once the cell is safe"
                )
            )

    # ------------------------------------------------------------------ staleness

    def inputs_fresh(self, now_ns: int, last_perception_ns: int | None, last_joints_ns: int | None) -> bool:
        """True if both inputs are younger than their timeouts (never counted; see check_inputs_fresh).

        Args:
            now_ns: current time, ns, on the same clock as the two stamps.
            last_perception_ns: source camera stamp of the newest perception, ns; None = never received.
            last_joints_ns: stamp of the newest joint state, ns; None = never received.
        """
        return self._staleness(now_ns, last_perception_ns, last_joints_ns) is None

    def check_inputs_fresh(
        self, now_ns: int, last_perception_ns: int | None, last_joints_ns: int | None
    ) -> None:
        """Raises StalePerception / StaleJointStates (counted) if an input is too old (see inputs_fresh)."""
        stale = self._staleness(now_ns, last_perception_ns, last_joints_ns)
        if stale is not None:
            self.reject(stale)

    def _staleness(
        self, now_ns: int, perception_ns: int | None, joints_ns: int | None
    ) -> SafetyViolation | None:
        if not self._config.enabled:
            return None
        c = self._config
        for cls, stamp, timeout, key, what in (
            (StaleJointStates, joints_ns, c.joint_state_timeout_s, "joint_state_timeout_s", "joint states"),
            (StalePerception, perception_ns, c.perception_timeout_s, "perception_timeout_s", "detections"),
        ):
            if stamp is None:
                return cls(f"no {what} received yet; holding until they arrive")
            age_s = (now_ns - stamp) * 1e-9
            # A stamp far in the future means two clocks are mixed; as untrustworthy as an old one.
            if abs(age_s) > timeout:
                return cls(
                    f"{what} are {age_s * 1e3:.0f} ms old, more than {key} = {timeout * 1e3:.0f} ms; holding "
                    f"until fresh {what} arrive (check the publisher, or raise {key})"
                )
        return None

    # ------------------------------------------------------------------ value checks

    def check_finite(self, name: str, value: np.ndarray) -> None:
        """Raises NonFiniteValue naming ``name`` and the first bad index."""
        arr = np.asarray(value, dtype=np.float64)
        bad = ~np.isfinite(arr)
        if bad.any():
            idx = tuple(int(i) for i in np.argwhere(bad)[0])
            self.reject(
                NonFiniteValue(
                    f"{name}{list(idx)} is {arr[idx]} (NaN/inf); the command is refused and the arm holds — "
                    "check the upstream stage (policy output, joint states) for NaN"
                )
            )

    def check_ik_jump(self, q_from_rad: np.ndarray, q_to_rad: np.ndarray, step: int) -> None:
        """Raises IkJumpViolation if some joint moves more than ``max_ik_jump_rad`` between two IK solutions.

        Args:
            q_from_rad: (6,) previous solution (or the current joints for step 0), radians.
            q_to_rad: (6,) this step's solution, radians.
            step: chunk step index, for the message.
        """
        if not self._config.enabled:
            return
        jump = np.abs(np.asarray(q_to_rad) - np.asarray(q_from_rad))
        j = int(np.argmax(jump))
        if jump[j] > self._config.max_ik_jump_rad:
            self.reject(
                IkJumpViolation(
                    f"IK jump at chunk step {step}: {UR10E_JOINT_NAMES[j]} moves {jump[j]:.3f} rad "
                    f"(from {q_from_rad[j]:.3f} to {q_to_rad[j]:.3f}), more than max_ik_jump_rad = "
                    f"{self._config.max_ik_jump_rad:.3f}; the pose needs another IK branch — send closer "
                    "targets or move the arm to a configuration nearer the target first"
                )
            )

    def check_tracking_error(self, q_target_rad: np.ndarray, q_measured_rad: np.ndarray) -> None:
        """Raises TrackingErrorViolation if a streamed target is too far from the measured joints.

        Checked even with safety disabled: a target running away from the arm is a fault, not a limit.

        Args:
            q_target_rad: (6,) the target about to be sent, radians.
            q_measured_rad: (6,) the measured joints, radians.
        """
        target = np.asarray(q_target_rad, dtype=np.float64)
        error = np.abs(target - np.asarray(q_measured_rad, dtype=np.float64))
        j = int(np.argmax(error))
        limit = self._config.max_tracking_error_rad
        if not error[j] <= limit:
            self.reject(
                TrackingErrorViolation(
                    f"tracking error: the target of {UR10E_JOINT_NAMES[j]} is {error[j]:.3f} rad from the "
                    f"measured joint, more than max_tracking_error_rad = {limit:.3f}; the arm is not "
                    "following (blocked, or its controller is not running): holding at the measured joints"
                )
            )

    # ------------------------------------------------------------------ trajectories

    def check_trajectory(
        self,
        q_start_rad: np.ndarray,
        times_s: np.ndarray,
        positions_rad: np.ndarray,
        velocities_rad_s: np.ndarray | None = None,
        *,
        qd_start_rad_s: np.ndarray | None = None,
    ) -> None:
        """Check a whole trajectory from the current joints, as the controller would execute it.

        With velocities the path is the cubic Hermite spline through (start, points); without, it is
        linear (streamed targets: the terminal stop is the next target's business). Joint position,
        velocity and acceleration are checked exactly on every segment; TCP (box, table), flange (table)
        and the whole arm (link capsules and tool box: table, workspace, keep-out boxes, self-collision)
        on path samples at most ``path_sample_step_rad`` apart, every point included. The first segment
        may not move a joint, the TCP or any part further outside a limit than the start already is, so
        an arm that starts just outside can still be commanded back in.

        Args:
            q_start_rad: (6,) current joints, radians, ``UR10E_JOINT_NAMES`` order.
            times_s: (N,) time from start of each point, seconds, strictly increasing, > 0.
            positions_rad: (N, 6) joint positions, radians.
            velocities_rad_s: (N, 6) joint velocities, rad/s, or None.
            qd_start_rad_s: (6,) current joint velocity, rad/s; None = at rest.

        Raises:
            SafetyViolation: the first violated limit (a subclass per reason), counted.
        """
        self.check_estop()
        self._check_limits(q_start_rad, times_s, positions_rad, velocities_rad_s, qd_start_rad_s)

    def stop_path_ok(
        self, q_start_rad: np.ndarray, t_stop_s: float, q_stop_rad: np.ndarray, qd_start_rad_s: np.ndarray
    ) -> bool:
        """Whether a braking stop (start state → q_stop at rest after t_stop_s) is inside every limit.

        Used to shape a HOLD: ignores the e-stop (braking is what it asks for) and neither counts nor logs.

        Args:
            q_start_rad: (6,) current joints, radians.
            t_stop_s: time to stop, seconds.
            q_stop_rad: (6,) where the arm comes to rest, radians.
            qd_start_rad_s: (6,) current joint velocity, rad/s.
        """
        self._silent = True
        try:
            self._check_limits(q_start_rad, [t_stop_s], [q_stop_rad], np.zeros((1, _N)), qd_start_rad_s)
        except SafetyViolation:
            return False
        finally:
            self._silent = False
        return True

    def _check_limits(
        self,
        q_start_rad: object,
        times_s: object,
        positions_rad: object,
        velocities_rad_s: object | None,
        qd_start_rad_s: object | None,
    ) -> None:
        q0 = self._array("q_start_rad", q_start_rad, (_N,))
        times = self._array("times_s", times_s, (-1,))
        pos = self._array("positions_rad", positions_rad, (times.shape[0], _N))
        vel = (
            None if velocities_rad_s is None else self._array("velocities_rad_s", velocities_rad_s, pos.shape)
        )
        qd0 = None if qd_start_rad_s is None else self._array("qd_start_rad_s", qd_start_rad_s, (_N,))
        if times.size == 0:
            self.reject(MalformedCommand("empty trajectory: it has no points; send at least one point"))
        if times[0] <= 0.0 or (np.diff(times) <= 0.0).any():
            self.reject(
                MalformedCommand(
                    f"times_s must be > 0 and strictly increasing, got {np.round(times, 4).tolist()}; "
                    "build time_from_start as a cumulative sum of positive durations"
                )
            )
        knot_t, knots, knot_v = knots_with_start(q0, times, pos, vel, qd0)
        seg = HermiteSegments.build(knot_t, knots, knot_v)
        self._check_positions(seg, q0, knot_t)
        self._check_velocities(seg, knot_t)
        if self._config.enabled:
            self._check_accelerations(seg, knot_t, knots, qd0)
            self._check_cartesian(seg, q0, knot_t)

    def _array(self, name: str, value: object, shape: tuple[int, ...]) -> np.ndarray:
        try:
            arr = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError) as err:
            self.reject(MalformedCommand(f"{name} is not a numeric array ({err})"))
        if arr.ndim != len(shape) or any(s not in (-1, a) for s, a in zip(shape, arr.shape, strict=True)):
            want = tuple("N" if s == -1 else s for s in shape)
            self.reject(MalformedCommand(f"{name} must have shape {want}, got {arr.shape}"))
        self.check_finite(name, arr)
        return arr

    def _check_positions(self, seg: HermiteSegments, q0: np.ndarray, knot_t: np.ndarray) -> None:
        lo, hi = seg.position_range()
        lower = np.broadcast_to(self._limits[:, 0], lo.shape).copy()
        upper = np.broadcast_to(self._limits[:, 1], hi.shape).copy()
        lower[0] = np.minimum(lower[0], q0)  # no worse than the start (see check_trajectory)
        upper[0] = np.maximum(upper[0], q0)
        bad = (lo < lower - 1e-12) | (hi > upper + 1e-12)
        if bad.any():
            k, j = (int(i) for i in np.argwhere(bad)[0])
            value = lo[k, j] if lo[k, j] < lower[k, j] - 1e-12 else hi[k, j]
            key = (
                "hardware limits (safety disabled)"
                if not self._config.enabled
                else (f"joint_lower_rad[{j}] / joint_upper_rad[{j}]")
            )
            self.reject(
                JointPositionViolation(
                    f"joint position limit: {UR10E_JOINT_NAMES[j]} reaches {value:.4f} rad between "
                    f"t = {knot_t[k]:.3f} s and {knot_t[k + 1]:.3f} s (point {k}), outside "
                    f"[{self._limits[j, 0]:.4f}, {self._limits[j, 1]:.4f}] rad ({key}); choose targets "
                    "inside the limits"
                )
            )

    def _check_velocities(self, seg: HermiteSegments, knot_t: np.ndarray) -> None:
        speed, s_at = seg.peak_speed()
        ratio = speed / self._vmax
        if (ratio > 1.0 + 1e-9).any():
            k, j = self._first(ratio)
            self.reject(
                JointVelocityViolation(
                    f"joint velocity limit: {UR10E_JOINT_NAMES[j]} reaches {speed[k, j]:.3f} rad/s at "
                    f"t = {knot_t[k] + s_at[k, j] * seg.T[k]:.3f} s (segment to point {k}), limit "
                    f"{self._vmax[j]:.3f} rad/s (joint_velocity_limits_rad_s[{j}]); slow the motion down, "
                    "enable time_scaling, or raise the limit"
                )
            )

    def _check_accelerations(
        self, seg: HermiteSegments, knot_t: np.ndarray, knots: np.ndarray, qd0: np.ndarray | None
    ) -> None:
        if seg.cubic:
            acc, s_at = seg.peak_acceleration()
        else:
            acc, s_at = np.abs(linear_knot_accelerations(knot_t, knots, qd0)), np.zeros(seg.p0.shape)
        ratio = acc / self._amax
        if (ratio > 1.0 + 1e-9).any():
            k, j = self._first(ratio)
            self.reject(
                JointAccelerationViolation(
                    f"joint acceleration limit: {UR10E_JOINT_NAMES[j]} reaches {acc[k, j]:.3f} rad/s² at "
                    f"t = {knot_t[k] + s_at[k, j] * seg.T[k]:.3f} s (segment to point {k}), limit "
                    f"{self._amax[j]:.3f} rad/s² (joint_acceleration_limits_rad_s2[{j}]); smooth or slow "
                    "the motion, enable time_scaling, or raise the limit"
                )
            )

    @staticmethod
    def _first(ratio: np.ndarray) -> tuple[int, int]:
        """Earliest offending segment, and its worst joint."""
        k = int(np.argmax((ratio > 1.0 + 1e-9).any(axis=1)))
        return k, int(np.argmax(ratio[k]))

    def _check_cartesian(self, seg: HermiteSegments, q0: np.ndarray, knot_t: np.ndarray) -> None:
        samples, seg_index = sample_path(seg, self._config.path_sample_step_rad)
        # Joint values are inside the limits here (checked first), so FK is well defined on every sample.
        frames = link_frames_batch(samples)  # (n, 7, 4, 4): every link, for the collision checks
        T_flange = frames[:, 6]
        p_tcp = (T_flange @ self._T_flange_tcp)[:, :3, 3]
        z_flange = T_flange[:, 2, 3]
        first = seg_index == 0  # the first segment: no worse than the start state
        box_lo = np.where(first[:, None], np.minimum(self._box_lo, p_tcp[0]), self._box_lo)
        box_hi = np.where(first[:, None], np.maximum(self._box_hi, p_tcp[0]), self._box_hi)
        c = self._config
        tcp_min = np.where(first, min(c.min_tcp_height_m, p_tcp[0, 2]), c.min_tcp_height_m)
        flange_min = np.where(first, min(c.min_flange_height_m, z_flange[0]), c.min_flange_height_m)

        def when(i: int) -> str:
            k = int(seg_index[i])
            return f"between t = {knot_t[k]:.3f} s and {knot_t[k + 1]:.3f} s (segment to point {k})"

        low_tcp = p_tcp[:, 2] < tcp_min - 1e-12
        low_flange = z_flange < flange_min - 1e-12
        if low_tcp.any() or low_flange.any():
            # Report the lowest point (TCP first): it tells how far the path sags, not just that it does.
            if low_tcp.any():
                i = int(np.argmin(np.where(low_tcp, p_tcp[:, 2], np.inf)))
                what, z, key, limit = "TCP", p_tcp[i, 2], "min_tcp_height_m", c.min_tcp_height_m
            else:
                i = int(np.argmin(np.where(low_flange, z_flange, np.inf)))
                what, z, key, limit = "flange", z_flange[i], "min_flange_height_m", c.min_flange_height_m
            self.reject(
                TablePlaneViolation(
                    f"table plane: the {what} goes down to z = {z:.4f} m {when(i)}, below {key} = "
                    f"{limit:.4f} m above the table (base_link z = 0); keep targets and the path between "
                    "them higher (approach from above)"
                )
            )
        out = (p_tcp < box_lo - 1e-12) | (p_tcp > box_hi + 1e-12)
        if out.any():
            i, axis = (int(v) for v in np.argwhere(out)[0])
            side = "workspace_min_m" if p_tcp[i, axis] < box_lo[i, axis] else "workspace_max_m"
            self.reject(
                WorkspaceViolation(
                    f"workspace: the TCP reaches {'xyz'[axis]} = {p_tcp[i, axis]:.4f} m {when(i)}, outside "
                    f"[{self._box_lo[axis]:.4f}, {self._box_hi[axis]:.4f}] m ({side}[{axis}], base_link); "
                    "keep targets inside the workspace box or enlarge it in config/safety.yaml"
                )
            )
        hit = self._collision.first_hit(self._collision.clearances(frames), first)
        if hit is not None:
            self._reject_collision(hit, when(hit.sample))

    def _reject_collision(self, hit: CollisionHit, when: str) -> NoReturn:
        c = self._config
        if hit.kind == "collision_table":
            key = "collision_tool_table_margin_m" if hit.part == "tool" else "collision_table_margin_m"
            self.reject(
                CollisionTableViolation(
                    f"table collision: the {hit.part}'s lowest point is {hit.clearance_m:+.4f} m from the "
                    f"table plane (base_link z = 0; negative = below the table top) {when}, less than "
                    f"{key} = {hit.limit_m:.4f} m; keep the arm higher (approach from above, elbow up)"
                )
            )
        if hit.kind == "collision_workspace":
            what = "tool's axis (flange to tip)" if hit.part == "tool" else hit.part
            self.reject(
                CollisionWorkspaceViolation(
                    f"workspace: the {what} reaches {-hit.clearance_m:.4f} m outside the workspace box "
                    f"{list(c.workspace_min_m)} – {list(c.workspace_max_m)} m (workspace_min_m / "
                    f"workspace_max_m, base_link) {when}; keep the tool further inside the box (tilt it "
                    "less near a wall), or enlarge the box"
                )
            )
        if hit.kind == "collision_keepout":
            self.reject(
                CollisionKeepoutViolation(
                    f"keep-out: the {hit.part} comes within {max(hit.clearance_m, 0.0):.4f} m of {hit.other} "
                    f"(keepout_boxes_m, base_link) {when}, less than collision_keepout_margin_m = "
                    f"{c.collision_keepout_margin_m:.4f} m; route the motion around the box"
                )
            )
        self.reject(
            SelfCollisionViolation(
                f"self-collision: the {hit.part} and the {hit.other} are {hit.clearance_m:+.4f} m apart "
                f"(negative = overlapping) {when}, less than collision_self_margin_m = "
                f"{c.collision_self_margin_m:.4f} m; keep the wrist and tool away from the arm (another IK "
                "branch, or a wider elbow)"
            )
        )
