"""All numbers of one replay, as the JSON-ready dict that ``report.json`` holds and the page renders.

Numbers are rounded here, once (latency to 1 µs, localisation to 0.01 mm, tracking to 1e-4, AP to 1e-6),
so the page can render exactly the values of ``report.json`` with :func:`format_value`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from visuomotor.report.latency import LatencySeries, latency_section, live_trails, offline_trails
from visuomotor.report.replay_files import REPORT_SCHEMA, ReplayRun
from visuomotor.report.scoring import (
    detection_section,
    localisation_section,
    policy_section,
    visible_ground_truth,
)
from visuomotor.report.tracking import tracking_section

__all__ = ["SECTIONS", "RunMetrics", "compute_metrics", "format_value", "lookup"]

#: Top-level sections of one run's numbers, in page order.
SECTIONS = ("run", "latency", "detection", "localisation", "tracking", "policy")

_NO_TIMING = "no timing.json beside result.json"


@dataclass(frozen=True, slots=True)
class RunMetrics:
    """One run's numbers and the per-frame samples behind them.

    Attributes:
        label: what the run is called on the page (the bag's name).
        numbers: JSON-ready dict keyed by :data:`SECTIONS`.
        offline, live: latency samples (None when not available, or when the run came from a report.json).
        localisation_errors_m: errors per class (m), for the histogram.
    """

    label: str
    numbers: dict[str, Any]
    offline: LatencySeries | None = None
    live: LatencySeries | None = None
    localisation_errors_m: dict[str, list[float]] = field(default_factory=dict)


def compute_metrics(run: ReplayRun) -> RunMetrics:
    """Compute every section of the report from a replay's files.

    A run known only from an earlier ``report.json`` returns that report's numbers (no samples).
    """
    if run.result is None:  # an earlier report.json: its numbers, no samples
        earlier = run.report or {}
        return RunMetrics(run.label, {k: earlier[k] for k in SECTIONS if k in earlier})
    result = run.result
    frames = result["frames"]
    camera = result["camera"]
    truth = visible_ground_truth(frames)
    localisation, errors = localisation_section(truth)
    numbers: dict[str, Any] = {
        "run": {
            "bag": result["bag"],
            "source": str(run.directory),
            "frames": len(frames),
            "frames_with_ground_truth": len(truth),
            "dropped_frames": int(result["dropped_frames"]),
            "skipped": {str(k): int(v) for k, v in result["skipped"].items()},
            "skipped_total": sum(int(v) for v in result["skipped"].values()),
            "camera": {k: camera[k] for k in ("width", "height", "fx", "fy", "cx", "cy")},
        },
        "detection": detection_section(frames, camera["width"] or 0, camera["height"] or 0),
        "localisation": localisation,
        "tracking": tracking_section(truth),
        "policy": policy_section(result["policy"]),
    }
    offline: LatencySeries | None = None
    live: LatencySeries | None = None
    if run.timing is None:
        numbers["latency"] = {"offline": {"available": False, "reason": _NO_TIMING}}
        numbers["latency"]["live"] = dict(numbers["latency"]["offline"])
    else:
        offline_series, bad_offline = offline_trails(run.timing)
        live_series, bad_live = live_trails(run.timing)
        numbers["latency"] = {
            "offline": latency_section(offline_series, bad_offline, "timing.json has no timed frames"),
            "live": latency_section(
                live_series,
                bad_live,
                "no recorded frame trails in timing.json (the bag has no latency topic)",
            ),
        }
        offline = offline_series if offline_series.trails else None
        live = live_series if live_series.trails else None
    numbers = {k: numbers[k] for k in SECTIONS}
    return RunMetrics(result["bag"], numbers, offline, live, errors)


def report_dict(main: RunMetrics, other: RunMetrics | None, plots: Mapping[str, str]) -> dict[str, Any]:
    """``report.json``: the main run's sections at the top, the compared run's under ``compare``."""
    report: dict[str, Any] = {"schema": REPORT_SCHEMA, **main.numbers, "plots": dict(plots)}
    if other is not None:
        report["compare"] = dict(other.numbers)
    return report


def lookup(data: Mapping[str, Any], key: str) -> Any:
    """The value at a dotted path (``"latency.offline.end_to_end.p50_ms"``); KeyError if absent.

    A name that itself holds dots (a free-text skip reason) is found too: at each level the longest
    run of parts that is a key wins.
    """
    parts = key.split(".")
    value: Any = data
    while parts:
        for n in range(len(parts), 0, -1):
            name = ".".join(parts[:n])
            if isinstance(value, Mapping) and name in value:
                value, parts = value[name], parts[n:]
                break
        else:
            raise KeyError(key)
    return value


def format_value(value: Any) -> str:
    """How a report value is written on the page: the shortest repr of the (already rounded) number.

    None is ``n/a``, booleans ``yes``/``no``; strings are unchanged. ``float(format_value(x)) == x`` for
    every number, so the page and ``report.json`` hold the same values.
    """
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return repr(value)
    return str(value)
