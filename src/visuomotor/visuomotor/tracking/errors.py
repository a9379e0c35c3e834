"""Errors of ``visuomotor.tracking``, under the root ``VisuomotorError``."""

from __future__ import annotations

from visuomotor.errors import VisuomotorError

__all__ = ["TrackingError"]


class TrackingError(VisuomotorError, ValueError):
    """Input the tracker cannot use (a stamp going backwards, a position in the wrong frame)."""
