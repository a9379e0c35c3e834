"""Errors of ``visuomotor.detection``, under the root ``VisuomotorError``."""

from __future__ import annotations

from visuomotor.errors import VisuomotorError

__all__ = ["DetectorError", "InvalidImageError", "ProviderFallbackError"]


class DetectorError(VisuomotorError):
    """The detector model is missing, unreadable or of an unexpected shape; the message names the fix."""


class InvalidImageError(DetectorError, ValueError):
    """An input image has the wrong type, shape, dtype or encoding, or is empty; skip the frame."""


class ProviderFallbackError(DetectorError):
    """The first execution provider asked for is not the one running, and the config says that is an error."""
