"""Safety layer and commander core: action chunk of TCP poses → IK → checked joint commands.

:class:`SafetyConfig` holds every limit (``config/safety.yaml``); :class:`SafetyGuard` checks whole
trajectories (joint position/velocity/acceleration exactly per segment, TCP workspace box and table plane
along the sampled path, NaN/inf, IK jumps), owns the latched e-stop and input staleness, and counts
rejections per reason. :class:`Commander` turns a chunk into one trajectory for the scaled JTC,
:class:`StreamingCommander` into per-tick targets for the forward-position controller; both return a
HOLD with the reason on any rejection. No ROS here: the ``commander`` node wraps this API.
"""

from visuomotor.control.commander import (
    HOLD,
    TARGET,
    TRAJECTORY,
    Commander,
    JointCommand,
)
from visuomotor.control.config import UR10E_MAX_JOINT_SPEED_RAD_S, SafetyConfig
from visuomotor.control.monitor import StateMonitor, StateViolation
from visuomotor.control.safety import SafetyGuard
from visuomotor.control.streaming import StreamingCommander
from visuomotor.control.violations import (
    COLLISION_REJECTION_REASONS,
    REJECTION_REASONS,
    CollisionKeepoutViolation,
    CollisionTableViolation,
    CollisionWorkspaceViolation,
    EstopActive,
    IkJumpViolation,
    IkUnreachableViolation,
    JointAccelerationViolation,
    JointPositionViolation,
    JointVelocityViolation,
    MalformedCommand,
    NonFiniteValue,
    SelfCollisionViolation,
    StaleJointStates,
    StalePerception,
    TablePlaneViolation,
    WorkspaceViolation,
)

__all__ = [
    "COLLISION_REJECTION_REASONS",
    "HOLD",
    "REJECTION_REASONS",
    "TARGET",
    "TRAJECTORY",
    "UR10E_MAX_JOINT_SPEED_RAD_S",
    "CollisionKeepoutViolation",
    "CollisionTableViolation",
    "CollisionWorkspaceViolation",
    "Commander",
    "EstopActive",
    "IkJumpViolation",
    "IkUnreachableViolation",
    "JointAccelerationViolation",
    "JointCommand",
    "JointPositionViolation",
    "JointVelocityViolation",
    "MalformedCommand",
    "NonFiniteValue",
    "SafetyConfig",
    "SafetyGuard",
    "SelfCollisionViolation",
    "StaleJointStates",
    "StalePerception",
    "StateMonitor",
    "StateViolation",
    "StreamingCommander",
    "TablePlaneViolation",
    "WorkspaceViolation",
]
