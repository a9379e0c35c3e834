"""A Chrome / Perfetto trace of a replay (``trace.json``, Trace Event Format): open it in ui.perfetto.dev
or chrome://tracing to see every frame's stages on a timeline.

One complete event (``"ph": "X"``) per stage per frame; ``ts`` and ``dur`` in microseconds; ``args``
hold the frame index (the replay's index offline, the position in ``recorded_trails`` live) and its
stamp. Each source is a process (offline replay, live graph; per run in compare mode) and each stage
a thread of it, so the stages stack as lanes. ``ts`` counts from the source's first stage start: the
offline replay and the recording ran on different clocks, and small numbers keep sub-microsecond
precision in doubles.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from visuomotor.report.latency import LatencySeries
from visuomotor.report.metrics import RunMetrics

__all__ = ["trace_events"]

_NS_PER_US = 1000.0


def _source_events(pid: int, name: str, series: LatencySeries) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = [
        {"ph": "M", "name": "process_name", "pid": pid, "tid": 0, "args": {"name": name}},
        {"ph": "M", "name": "process_sort_index", "pid": pid, "tid": 0, "args": {"sort_index": pid}},
    ]
    tids = {stage: k + 1 for k, stage in enumerate(series.stage_order)}
    for stage, tid in tids.items():
        events.append({"ph": "M", "name": "thread_name", "pid": pid, "tid": tid, "args": {"name": stage}})
        events.append(
            {"ph": "M", "name": "thread_sort_index", "pid": pid, "tid": tid, "args": {"sort_index": tid}}
        )
    t0 = min(trail.timings[0].start_ns for trail in series.trails if trail.timings)
    for index, trail in zip(series.indices, series.trails, strict=True):
        for t in trail.timings:
            events.append(
                {
                    "name": t.stage,
                    "cat": "stage",
                    "ph": "X",
                    "pid": pid,
                    "tid": tids[t.stage],
                    "ts": (t.start_ns - t0) / _NS_PER_US,
                    "dur": t.duration_ns / _NS_PER_US,
                    "args": {"frame": index, "stamp_ns": trail.stamp_ns},
                }
            )
    return events


def trace_events(runs: Sequence[RunMetrics]) -> dict[str, Any]:
    """The trace of the runs' offline and live stage timings (runs without samples are left out).

    Returns:
        ``{"traceEvents": [...], "displayTimeUnit": "ms", "otherData": {...}}``; process ids count from 1
        in the order run A offline, run A live, run B offline, run B live.
    """
    events: list[dict[str, Any]] = []
    pid = 0
    for run in runs:
        for source, series in (("offline replay", run.offline), ("live graph", run.live)):
            pid += 1
            if series is not None and series.trails:
                events += _source_events(pid, f"{run.label}: {source}", series)
    return {
        "traceEvents": events,
        "displayTimeUnit": "ms",
        "otherData": {"runs": [r.label for r in runs]},
    }
