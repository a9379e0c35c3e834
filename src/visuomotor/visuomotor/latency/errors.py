"""Errors of ``visuomotor.latency``, under the root ``VisuomotorError``."""

from __future__ import annotations

from visuomotor.errors import VisuomotorError

__all__ = ["LatencyError"]


class LatencyError(VisuomotorError, ValueError):
    """A stage timing, trail or latency sample is inconsistent; the message names the fix."""
