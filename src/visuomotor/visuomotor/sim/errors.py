"""Errors of ``visuomotor.sim``, under the root ``VisuomotorError``."""

from __future__ import annotations

from visuomotor.errors import SimError

__all__ = ["GripperCommandError"]


class GripperCommandError(SimError, ValueError):
    """A gripper command was not a finite closure in [0, 1]; the gripper keeps its last command."""
