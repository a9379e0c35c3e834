"""Per-frame latency: stage timings carried with each camera frame, and exact statistics over them.

Every message of the pipeline carries the source camera stamp and a :class:`FrameTrail` of
:class:`StageTiming` values on the host's ``time.monotonic_ns()``. :class:`StageTimer` produces the
timings; :class:`LatencyRecorder` turns completed trails into per-stage, per-transport and end-to-end
percentiles plus drop and rejection counts (:class:`LatencySummary`: JSON and a text table).
"""

from visuomotor.latency.errors import LatencyError
from visuomotor.latency.recorder import LatencyRecorder, LatencySummary, StageStats, percentile_ms
from visuomotor.latency.trail import TRANSPORT_SEPARATOR, FrameTrail, StageTimer, StageTiming

__all__ = [
    "TRANSPORT_SEPARATOR",
    "FrameTrail",
    "LatencyError",
    "LatencyRecorder",
    "LatencySummary",
    "StageStats",
    "StageTimer",
    "StageTiming",
    "percentile_ms",
]
