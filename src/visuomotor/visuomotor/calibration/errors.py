"""The calibration stage's error (a :class:`~visuomotor.errors.VisuomotorError`, like every stage's)."""

from visuomotor.errors import VisuomotorError

__all__ = ["CalibrationError"]


class CalibrationError(VisuomotorError):
    """Hand-eye calibration cannot produce a trustworthy result; the message names the fix."""
