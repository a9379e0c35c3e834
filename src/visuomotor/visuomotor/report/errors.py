"""Errors of ``visuomotor.report``, under the root ``VisuomotorError``."""

from __future__ import annotations

from visuomotor.errors import VisuomotorError

__all__ = ["ReportError"]


class ReportError(VisuomotorError):
    """A replay's files are missing or malformed, or the report cannot be written; names file and fix."""
