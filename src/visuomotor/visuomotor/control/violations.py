"""Why a command was refused: one :class:`SafetyViolation` subclass per reason, each with a stable code.

``reason`` is what the counters, the logs and ``JointCommand.reason_code`` use; the message names the
limit, the joint or axis, the value and the fix.
"""

from __future__ import annotations

from typing import ClassVar

from visuomotor.errors import SafetyViolation

__all__ = [
    "COLLISION_REJECTION_REASONS",
    "REJECTION_REASONS",
    "CollisionKeepoutViolation",
    "CollisionTableViolation",
    "CollisionWorkspaceViolation",
    "EstopActive",
    "ForeignJointState",
    "IkJumpViolation",
    "IkUnreachableViolation",
    "ImplausibleJointState",
    "InvalidJointState",
    "JointAccelerationViolation",
    "JointPositionViolation",
    "JointVelocityViolation",
    "MalformedCommand",
    "NonFiniteValue",
    "SelfCollisionViolation",
    "StaleJointStates",
    "StalePerception",
    "TablePlaneViolation",
    "TrackingErrorViolation",
    "UnknownJointVelocity",
    "WorkspaceViolation",
]


class _Reasoned(SafetyViolation):
    """A SafetyViolation with a stable reason code."""

    reason: ClassVar[str] = "safety"


class EstopActive(_Reasoned):
    """The e-stop is latched; only ``SafetyGuard.clear_estop()`` releases it."""

    reason = "estop"


class StalePerception(_Reasoned):
    """The newest perception (source camera stamp) is older than ``perception_timeout_s``."""

    reason = "stale_perception"


class StaleJointStates(_Reasoned):
    """The newest joint state is older than ``joint_state_timeout_s``."""

    reason = "stale_joint_states"


class InvalidJointState(_Reasoned):
    """A joint state message that cannot be trusted: wrong lengths, missing or duplicate names, NaN/inf,
    values outside the hardware range, or a jump no UR10e can make; it is dropped at the boundary."""

    reason = "invalid_joint_state"


class ImplausibleJointState(InvalidJointState):
    """A well-formed joint state the stream refuses: an impossible jump, out of order, from a second
    publisher, or the first sample of a stream (``control.state.JointStateFilter``)."""

    reason = "implausible_joint_state"


class ForeignJointState(ImplausibleJointState):
    """A joint state from another publisher than the stream's owner (the driver), or from one the graph
    does not know yet; counted apart so that a second publisher on the topic shows in the diagnostics."""

    reason = "foreign_joint_state"


class UnknownJointVelocity(_Reasoned):
    """The current joint velocity is neither measured nor estimable; a plan from rest would be a guess."""

    reason = "unknown_velocity"


class TrackingErrorViolation(_Reasoned):
    """A streamed target is further than ``max_tracking_error_rad`` from the measured joints."""

    reason = "tracking_error"


class NonFiniteValue(_Reasoned):
    """NaN or inf in a pose, joint vector, time or gripper value."""

    reason = "non_finite"


class MalformedCommand(_Reasoned):
    """Wrong shapes, non-increasing times, or a pose that is not a rigid transform."""

    reason = "malformed"


class JointPositionViolation(_Reasoned):
    """A joint leaves ``joint_lower_rad`` / ``joint_upper_rad`` somewhere along the path."""

    reason = "joint_position_limit"


class JointVelocityViolation(_Reasoned):
    """A joint exceeds ``joint_velocity_limits_rad_s`` somewhere along the path."""

    reason = "joint_velocity_limit"


class JointAccelerationViolation(_Reasoned):
    """A joint exceeds ``joint_acceleration_limits_rad_s2`` somewhere along the path."""

    reason = "joint_acceleration_limit"


class WorkspaceViolation(_Reasoned):
    """The TCP leaves the ``workspace_min_m`` … ``workspace_max_m`` box."""

    reason = "workspace"


class TablePlaneViolation(_Reasoned):
    """The TCP or the flange goes below its minimum height above the table (z = 0 in base_link)."""

    reason = "table_plane"


class IkJumpViolation(_Reasoned):
    """Consecutive IK solutions differ by more than ``max_ik_jump_rad`` (a branch flip)."""

    reason = "ik_jump"


class IkUnreachableViolation(_Reasoned):
    """A target pose has no IK solution inside the joint limits."""

    reason = "ik_unreachable"


class CollisionTableViolation(_Reasoned):
    """Some arm link or the tool comes closer to the table plane than its collision margin."""

    reason = "collision_table"


class CollisionWorkspaceViolation(_Reasoned):
    """The tool's axis (flange face to tip) leaves the workspace box somewhere along the path."""

    reason = "collision_workspace"


class CollisionKeepoutViolation(_Reasoned):
    """Some part of the arm or tool comes within ``collision_keepout_margin_m`` of a keep-out box."""

    reason = "collision_keepout"


class SelfCollisionViolation(_Reasoned):
    """Two non-adjacent parts of the arm (or the tool) come closer than ``collision_self_margin_m``."""

    reason = "self_collision"


#: Every rejection code, in the order checks run.
REJECTION_REASONS: tuple[str, ...] = tuple(
    c.reason
    for c in (
        EstopActive,
        StalePerception,
        StaleJointStates,
        InvalidJointState,
        ImplausibleJointState,
        ForeignJointState,
        UnknownJointVelocity,
        MalformedCommand,
        NonFiniteValue,
        IkUnreachableViolation,
        IkJumpViolation,
        JointPositionViolation,
        JointVelocityViolation,
        JointAccelerationViolation,
        WorkspaceViolation,
        TablePlaneViolation,
        TrackingErrorViolation,
        CollisionTableViolation,
        CollisionWorkspaceViolation,
        CollisionKeepoutViolation,
        SelfCollisionViolation,
    )
)

#: The whole-arm collision codes, in the order they are checked (after ``table_plane`` and ``workspace``).
COLLISION_REJECTION_REASONS: tuple[str, ...] = REJECTION_REASONS[-4:]
