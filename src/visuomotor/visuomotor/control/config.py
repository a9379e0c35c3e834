"""Configuration of the safety layer and the commander (``config/safety.yaml``, section ``commander``).

Every limit the guard enforces lives here, validated once at construction: a bad value raises
:class:`ConfigError` naming the key, so a typo in the params file stops the node before it can move the arm.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from visuomotor.config import (
    config_from_flat,
    config_to_flat,
    is_number,
)
from visuomotor.control.collision import UR10E_CAPSULES, segment_aabb_distance
from visuomotor.errors import ConfigError
from visuomotor.kinematics import UR10E_JOINT_LIMITS_RAD, UR10E_JOINT_NAMES

__all__ = [
    "MAX_LINK_TABLE_MARGIN_M",
    "MAX_SELF_COLLISION_MARGIN_M",
    "UR10E_MAX_JOINT_SPEED_RAD_S",
    "SafetyConfig",
]

_LOG = logging.getLogger(__name__)

#: Hardware maximum joint speeds of the UR10e (data sheet): 2.094 rad/s base/shoulder, 3.14 rad/s the rest.
#: Configured limits must stay at or below these; with safety disabled these are what is left.
UR10E_MAX_JOINT_SPEED_RAD_S: tuple[float, ...] = (2.094, 2.094, 3.14, 3.14, 3.14, 3.14)

#: Largest accepted ``collision_self_margin_m``: the link pairs the model never checks
#: (``collision.NEVER_COLLIDING_LINKS``) stay ≥ 0.0248 m apart by construction, so a margin up to this is
#: honoured by every pair, checked or not.
MAX_SELF_COLLISION_MARGIN_M = 0.02

#: ``collision_table_margin_m`` must stay below this: the shoulder housing (radius 0.075 m around the
#: shoulder axis, d1 = 0.1807 m up) and the upper arm's root hang this far above the table in every pose.
MAX_LINK_TABLE_MARGIN_M = 0.1057

#: Upper bounds of the positive scalar settings, with why: a timeout of 1e12 s would switch the staleness
#: check off without a word, a tracking error of 2 rad would let a streamed target run away.
_UPPER_BOUNDS: dict[str, tuple[float, str]] = {
    "max_ik_jump_rad": (math.pi, "a larger jump is a branch flip by any measure"),
    "perception_timeout_s": (2.0, "older perception is not a basis for motion"),
    "joint_state_timeout_s": (1.0, "the UR driver publishes at 500 Hz, the sim at 100 Hz"),
    "path_sample_step_rad": (0.5, "coarser sampling can step over the table"),
    "hold_time_s": (2.0, "a HOLD is a stop, not a slow move"),
    "max_tracking_error_rad": (0.5, "a streamed target must stay near the measured arm"),
}

Six = tuple[float, float, float, float, float, float]
Three = tuple[float, float, float]


@dataclass(frozen=True, slots=True)
class SafetyConfig:
    """Limits of :class:`~visuomotor.control.SafetyGuard` and :class:`~visuomotor.control.Commander`.

    Joint tuples are in ``UR10E_JOINT_NAMES`` order; Cartesian values are in ``base_link`` (table top at
    z = 0), metres. Keys of the params file = field names.

    Attributes:
        unsafe_disable_safety: True turns the configured limits OFF (the loud name is on purpose: it must
            be written out to happen). What stays on regardless: the e-stop latch, NaN/inf rejection and
            the UR10e's hardware position and speed limits. Off by default; ``enabled`` is its negation.
        dry_run: compute, check and log every command but publish nothing (``JointCommand.publish`` False).
        joint_lower_rad: (6,) lowest allowed joint positions, radians; inside the hardware ±2π (elbow ±π).
        joint_upper_rad: (6,) highest allowed joint positions, radians.
        joint_velocity_limits_rad_s: (6,) |q̇| limits, rad/s, ≤ the hardware 2.094 (base, shoulder) / 3.14.
        joint_acceleration_limits_rad_s2: (6,) |q̈| limits, rad/s².
        workspace_min_m: (3,) lower corner (x, y, z) of the box the TCP must stay in, ``base_link``.
        workspace_max_m: (3,) upper corner of that box; the default covers the cube area (x 0.4–0.9,
            y −0.15–0.5), the bin at (0.55, −0.45) and the home pose with margin.
        min_tcp_height_m: lowest TCP z above the table plane (z = 0); a 5 cm cube is grasped at 0.025 m.
        min_flange_height_m: lowest flange (wrist) z above the table plane; 0 disables this check.
        max_ik_jump_rad: largest per-joint change between consecutive IK solutions of a chunk (and from
            the current joints to the first), radians; larger means an IK branch flip.
        perception_timeout_s: perception older than this (now − source camera stamp) → hold, seconds.
        joint_state_timeout_s: joint states older than this → hold, seconds (the sim publishes at 30 Hz).
        time_scaling: True (default) lets the commander slow a chunk down (stretch its segments) until it
            meets the velocity and acceleration limits; False rejects such a chunk and holds instead. On by
            default: a chunk starting from rest at 0.1 s steps needs ≈ 4·v/0.1 s of acceleration (see
            ``Commander``); the stretched result passes the same guard, only its timing changes.
        max_time_scale: the most a chunk may be stretched in total (duration ratio) when time scaling.
        path_sample_step_rad: the Cartesian checks (workspace, table) sample the interpolated joint path
            so that no joint moves more than this between samples, radians (0.02 rad ≈ 2.6 cm at 1.3 m).
        hold_time_s: time_from_start of the single point of a HOLD trajectory, seconds.
        max_chunk_steps: the most steps an action chunk may have (ACT sends 3–10); a longer one is
            refused as malformed before any IK runs (a huge message must not stall the commander).
        max_tracking_error_rad: streaming (``forward_position_controller``): the largest distance, per
            joint, between a sent target and the measured joints, radians; beyond it the stream holds at
            the measured joints (the arm is not following: blocked, or the controller is off).
        collision_table_margin_m: every arm link (shoulder … wrist 3, as capsules: ``control.collision``)
            keeps this clearance above the table plane (z = 0) along the whole path, metres; the base is
            bolted to the table and exempt. Below 0.1057: the shoulder housing and the upper arm's root
            hang that far above the table by construction; in picking the lowest link, wrist 3, stays
            ≥ 0.17 m up.
        collision_tool_table_margin_m: clearance of the tool box (flange face to ``tool_tip_beyond_tcp_m``
            past the TCP) above the table plane, metres. 0 by default — no corner of the tool below the
            table top — because the finger tips work at the table: ``min_tcp_height_m`` already lets a
            downward tool's tips reach z = 0, and the ACT policy's grasps bring them within 0.4 mm. It still
            catches what the TCP check cannot: a tilted tool's corner or the tips of a tool pointing
            sideways.
        collision_self_margin_m: clearance between non-adjacent parts of the arm (and the tool), metres;
            ≤ ``MAX_SELF_COLLISION_MARGIN_M``.
        collision_keepout_margin_m: clearance of every part from every keep-out box, metres.
        keepout_boxes_m: keep-out boxes no part of the arm or tool may enter, axis-aligned in base_link,
            as a flat list of 6 numbers per box: x_min, y_min, z_min, x_max, y_max, z_max (metres); empty
            by default. A box may not reach the robot's base column (it cannot move away from it).
        tool_half_width_m: (2,) half widths of the tool box across the tool axis, along the flange x and
            y axes, metres (the sim gripper: 0.04 coupling radius, 0.07 palm half-length).
        tool_tip_beyond_tcp_m: how far the tool reaches past the TCP along the tool axis, metres (the sim
            gripper's finger tips: 0.015 below the TCP between the pads).
    """

    unsafe_disable_safety: bool = False
    dry_run: bool = False
    joint_lower_rad: Six = (-6.1, -6.1, -3.0, -6.1, -6.1, -6.1)
    joint_upper_rad: Six = (6.1, 6.1, 3.0, 6.1, 6.1, 6.1)
    joint_velocity_limits_rad_s: Six = (1.0, 1.0, 1.5, 2.0, 2.0, 2.0)
    joint_acceleration_limits_rad_s2: Six = (6.0, 6.0, 8.0, 10.0, 10.0, 10.0)
    workspace_min_m: Three = (0.15, -0.75, 0.0)
    workspace_max_m: Three = (1.05, 0.65, 0.9)
    min_tcp_height_m: float = 0.015
    min_flange_height_m: float = 0.1
    max_ik_jump_rad: float = 0.5
    perception_timeout_s: float = 0.3
    joint_state_timeout_s: float = 0.2
    time_scaling: bool = True
    max_time_scale: float = 4.0
    path_sample_step_rad: float = 0.02
    hold_time_s: float = 0.2
    max_tracking_error_rad: float = 0.15
    max_chunk_steps: int = 50
    collision_table_margin_m: float = 0.05
    collision_tool_table_margin_m: float = 0.0
    collision_self_margin_m: float = 0.01
    collision_keepout_margin_m: float = 0.02
    keepout_boxes_m: tuple[float, ...] = ()
    tool_half_width_m: tuple[float, float] = (0.04, 0.07)
    tool_tip_beyond_tcp_m: float = 0.015

    def __post_init__(self) -> None:
        for key in ("unsafe_disable_safety", "dry_run", "time_scaling"):
            if not isinstance(getattr(self, key), bool):
                raise ConfigError(f"commander: {key} must be true or false, got {getattr(self, key)!r}")
        for key, n in (
            ("joint_lower_rad", 6),
            ("joint_upper_rad", 6),
            ("joint_velocity_limits_rad_s", 6),
            ("joint_acceleration_limits_rad_s2", 6),
            ("workspace_min_m", 3),
            ("workspace_max_m", 3),
        ):
            value = getattr(self, key)
            if len(value) != n or not all(is_number(v) for v in value):
                raise ConfigError(f"commander: {key} must be {n} finite numbers, got {value!r}")
        for j, name in enumerate(UR10E_JOINT_NAMES):
            lo, hi = self.joint_lower_rad[j], self.joint_upper_rad[j]
            hw_lo, hw_hi = UR10E_JOINT_LIMITS_RAD[j]
            if not hw_lo <= lo < hi <= hw_hi:
                raise ConfigError(
                    f"commander: joint_lower_rad[{j}] / joint_upper_rad[{j}] ({name}) must satisfy "
                    f"{hw_lo:.4f} ≤ lower < upper ≤ {hw_hi:.4f} (UR10e hardware), got [{lo}, {hi}]"
                )
            v, v_hw = self.joint_velocity_limits_rad_s[j], UR10E_MAX_JOINT_SPEED_RAD_S[j]
            if not 0.0 < v <= v_hw:
                raise ConfigError(
                    f"commander: joint_velocity_limits_rad_s[{j}] ({name}) must be in (0, {v_hw}] rad/s "
                    f"(UR10e hardware maximum), got {v}"
                )
            if not self.joint_acceleration_limits_rad_s2[j] > 0.0:
                raise ConfigError(
                    f"commander: joint_acceleration_limits_rad_s2[{j}] ({name}) must be > 0, "
                    f"got {self.joint_acceleration_limits_rad_s2[j]}"
                )
        for axis, (lo, hi) in enumerate(zip(self.workspace_min_m, self.workspace_max_m, strict=True)):
            if not lo < hi:
                raise ConfigError(
                    f"commander: workspace_min_m[{axis}] must be < workspace_max_m[{axis}] "
                    f"({'xyz'[axis]} axis), got {lo} ≥ {hi}"
                )
        for key in ("min_tcp_height_m", "min_flange_height_m"):
            value = getattr(self, key)
            if not (is_number(value) and value >= 0.0):
                raise ConfigError(f"commander: {key} must be ≥ 0 (metres above the table), got {value!r}")
        if self.workspace_max_m[2] <= self.min_tcp_height_m:
            raise ConfigError(
                f"commander: workspace_max_m[2] ({self.workspace_max_m[2]}) must be above min_tcp_height_m "
                f"({self.min_tcp_height_m}), or no TCP position is allowed"
            )
        for key, (upper, why) in _UPPER_BOUNDS.items():
            value = getattr(self, key)
            if not (is_number(value) and 0.0 < value <= upper):
                raise ConfigError(f"commander: {key} must be in (0, {upper:g}] ({why}), got {value!r}")
        steps = self.max_chunk_steps
        if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= 1000:
            raise ConfigError(f"commander: max_chunk_steps must be an integer in [1, 1000], got {steps!r}")
        if not (is_number(self.max_time_scale) and 1.0 <= self.max_time_scale <= 100.0):
            raise ConfigError(f"commander: max_time_scale must be in [1, 100], got {self.max_time_scale!r}")
        self._validate_collision()
        if self.unsafe_disable_safety:
            # Loud on purpose: this must never go unnoticed in a log.
            _LOG.warning(
                "SAFETY DISABLED (unsafe_disable_safety: true): only the e-stop, NaN/inf rejection and the "
                "UR10e hardware limits are enforced"
            )

    def _validate_collision(self) -> None:
        for key in (
            "collision_table_margin_m",
            "collision_tool_table_margin_m",
            "collision_self_margin_m",
            "collision_keepout_margin_m",
            "tool_tip_beyond_tcp_m",
        ):
            value = getattr(self, key)
            if not (is_number(value) and 0.0 <= value <= 1.0):
                raise ConfigError(f"commander: {key} must be a number in [0, 1] metres, got {value!r}")
        if self.collision_table_margin_m >= MAX_LINK_TABLE_MARGIN_M:
            raise ConfigError(
                f"commander: collision_table_margin_m must be < {MAX_LINK_TABLE_MARGIN_M} m (the shoulder "
                "housing and the upper arm's root are always that close to the table, so every command "
                f"would be refused), got {self.collision_table_margin_m}"
            )
        if self.collision_self_margin_m > MAX_SELF_COLLISION_MARGIN_M:
            raise ConfigError(
                f"commander: collision_self_margin_m must be ≤ {MAX_SELF_COLLISION_MARGIN_M} m (link pairs "
                f"that are never checked stay only 0.0248 m apart), got {self.collision_self_margin_m}"
            )
        widths = self.tool_half_width_m
        if len(widths) != 2 or not all(is_number(v) and 0.0 < v <= 1.0 for v in widths):
            raise ConfigError(
                f"commander: tool_half_width_m must be 2 numbers in (0, 1] metres, got {widths!r}"
            )
        flat = self.keepout_boxes_m
        if len(flat) % 6 or not all(is_number(v) for v in flat):
            raise ConfigError(
                "commander: keepout_boxes_m must be a flat list of finite numbers, 6 per box "
                f"(x_min, y_min, z_min, x_max, y_max, z_max, ...), got {len(flat)} values: {list(flat)!r}"
            )
        base = UR10E_CAPSULES[0]  # the fixed joint-1 column at the base_link origin
        for k in range(len(flat) // 6):
            lo, hi = np.array(flat[6 * k : 6 * k + 3]), np.array(flat[6 * k + 3 : 6 * k + 6])
            if not (lo < hi).all():
                axis = int(np.argmax(lo >= hi))
                raise ConfigError(
                    f"commander: keepout_boxes_m box {k} (values {6 * k}–{6 * k + 5}): min must be < max on "
                    f"every axis, got {'xyz'[axis]} {lo[axis]} ≥ {hi[axis]}"
                )
            gap = float(segment_aabb_distance(base.p0_m, base.p1_m, lo, hi)) - base.radius_m
            if gap < self.collision_keepout_margin_m:
                raise ConfigError(
                    f"commander: keepout_boxes_m box {k} ({lo.tolist()} – {hi.tolist()} m) comes within "
                    f"{max(gap, 0.0):.3f} m of the robot's base column, less than collision_keepout_margin_m "
                    f"= {self.collision_keepout_margin_m} m: the base cannot move away, so every command "
                    "would be refused; shrink or move the box"
                )

    @property
    def enabled(self) -> bool:
        """True unless ``unsafe_disable_safety`` was set."""
        return not self.unsafe_disable_safety

    def joint_limits_rad(self) -> np.ndarray:
        """(6, 2) [lower, upper] position limits in force, radians (hardware limits when disabled)."""
        if not self.enabled:
            return np.array(UR10E_JOINT_LIMITS_RAD)
        return np.stack([self.joint_lower_rad, self.joint_upper_rad], axis=1).astype(np.float64)

    def velocity_limits_rad_s(self) -> np.ndarray:
        """(6,) speed limits in force, rad/s (hardware maxima when disabled)."""
        return np.array(self.joint_velocity_limits_rad_s if self.enabled else UR10E_MAX_JOINT_SPEED_RAD_S)

    def acceleration_limits_rad_s2(self) -> np.ndarray:
        """(6,) acceleration limits, rad/s² (checked only while enabled)."""
        return np.array(self.joint_acceleration_limits_rad_s2, dtype=np.float64)

    @classmethod
    def from_flat(cls, d: Mapping[str, Any]) -> SafetyConfig:
        """Build from ROS-style parameters (``{"dry_run": True, ...}``); missing keys keep defaults.

        Raises:
            ConfigError: an unknown key, a wrong type or a value out of range; the message names the key.
        """
        return config_from_flat(cls, d, "commander")

    def to_flat_dict(self) -> dict[str, Any]:
        """The inverse of :meth:`from_flat`."""
        return config_to_flat(self)
