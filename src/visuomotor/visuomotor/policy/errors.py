"""Errors of ``visuomotor.policy``, under the root ``VisuomotorError``."""

from __future__ import annotations

from visuomotor.errors import VisuomotorError

__all__ = ["PolicyError"]


class PolicyError(VisuomotorError):
    """The ACT policy cannot run: missing/invalid model, wrong observation shape, non-finite output."""
