"""The error hierarchy: one root, one subclass per stage.

Messages name the fix, so a user who reads only the last line of a traceback knows what to do.
"""

__all__ = [
    "CameraError",
    "ConfigError",
    "IkUnreachableError",
    "InvalidDepthError",
    "KinematicsError",
    "MessageError",
    "SafetyViolation",
    "SimError",
    "SingularityError",
    "TrajectoryRejected",
    "VisuomotorError",
]


class VisuomotorError(Exception):
    """Root of every error the core raises on purpose."""


class ConfigError(VisuomotorError, ValueError):
    """A configuration value is missing or out of range; the message names the key."""


class CameraError(VisuomotorError):
    """The camera, its intrinsics or its frames are unusable."""


class InvalidDepthError(CameraError):
    """No valid depth where one was needed (holes, zeros, out of range)."""


class KinematicsError(VisuomotorError):
    """Forward/inverse kinematics failed."""


class IkUnreachableError(KinematicsError):
    """The pose has no inverse-kinematics solution inside the joint limits."""


class SingularityError(KinematicsError):
    """The pose sits on a kinematic singularity where the analytic IK is undefined."""


class TrajectoryRejected(VisuomotorError):
    """A joint trajectory was refused; the arm keeps holding its last target."""


class SimError(VisuomotorError):
    """The simulator could not be built, rendered or stepped."""


class SafetyViolation(VisuomotorError):
    """A command would leave the configured joint, velocity or workspace limits."""


class MessageError(VisuomotorError):
    """A message that cannot be converted (an unknown enum value, NaN where a number must be finite);
    the message names the field and the problem. The receiving node counts it and drops the message."""
