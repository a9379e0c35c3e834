"""Perception: one RGB-D frame through detect → localise → track in this process, timed and counted.

The one in-process chain used by the ``perception`` node, offline replay, the closed-loop evaluation and
the benchmarks.
"""

from visuomotor.perception.pipeline import (
    STAGES,
    PerceptionFrame,
    PerceptionPipeline,
    PerceptionResult,
    localiser_depth,
)

__all__ = ["STAGES", "PerceptionFrame", "PerceptionPipeline", "PerceptionResult", "localiser_depth"]
