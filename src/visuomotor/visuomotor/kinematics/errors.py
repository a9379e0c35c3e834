"""Errors of ``visuomotor.kinematics``, under the root ``VisuomotorError``."""

from __future__ import annotations

from visuomotor.errors import KinematicsError

__all__ = ["IkJumpError", "KinematicsInputError"]


class KinematicsInputError(KinematicsError, ValueError):
    """A pose or joint vector handed to the kinematics is malformed (shape, NaN/inf, not a rotation)."""


class IkJumpError(KinematicsError):
    """The nearest IK solution moves some joint further than the allowed jump from the reference joints."""
