"""Errors of ``visuomotor.training``, under the root ``VisuomotorError``."""

from __future__ import annotations

from visuomotor.errors import VisuomotorError

__all__ = ["TrainError"]


class TrainError(VisuomotorError):
    """Training, validation or export failed, or the training extras are missing."""
