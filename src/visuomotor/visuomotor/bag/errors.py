"""The one error of the bag package."""

from __future__ import annotations

from visuomotor.errors import VisuomotorError

__all__ = ["BagError"]


class BagError(VisuomotorError):
    """A bag cannot be read or written: missing, truncated, corrupt, or lacking a topic or encoding.

    The message names the bag, the problem and the fix (e.g. the topics the bag does have).
    """
