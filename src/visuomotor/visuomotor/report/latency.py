"""Latency of a replay: per stage, between stages (transport) and end to end, offline and as recorded live.

Two sources in ``timing.json``:

- ``frames``: the offline replay timed each core stage on this host (decode → detect → localise → track).
- ``recorded_trails``: the frame trails the live graph published while the bag was recorded (stage
  timings on the recording host's monotonic clock); end to end is the last stage's end − the first stage's
  start, and the gaps between stages are transport (serialisation, DDS, queueing).

Both become :class:`~visuomotor.latency.FrameTrail` values (which check the chain invariant) and are
summarised with :class:`~visuomotor.latency.StageStats` (exact percentiles, numpy "linear").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from visuomotor.latency import TRANSPORT_SEPARATOR, FrameTrail, LatencyError, StageStats, StageTiming

__all__ = ["LatencySeries", "latency_section", "live_trails", "offline_trails"]

#: Decimals of the millisecond statistics in the report (1 µs).
MS_DECIMALS = 3
END_TO_END = "end_to_end"


@dataclass(frozen=True, slots=True)
class LatencySeries:
    """Per-frame samples behind a latency section, for plots and the trace.

    Attributes:
        trails: the valid trails, in file order.
        indices: frame index of each trail (the replay's index offline, the position in the file live).
        stage_order: stage names in pipeline order.
        complete: per trail, whether it ran every stage of ``stage_order`` (only those count end to end
            offline, where a frame skipped half-way would look fast).
    """

    trails: tuple[FrameTrail, ...]
    indices: tuple[int, ...]
    stage_order: tuple[str, ...]
    complete: tuple[bool, ...]

    def stage_ms(self, stage: str) -> list[float]:
        """Durations of ``stage`` over the trails that ran it (ms)."""
        return [t.duration_ns / 1e6 for trail in self.trails for t in trail.timings if t.stage == stage]

    def end_to_end_ms(self) -> list[tuple[int, float]]:
        """(frame index, end-to-end latency ms) of every complete trail."""
        return [
            (i, trail.end_to_end_ns() / 1e6)
            for i, trail, done in zip(self.indices, self.trails, self.complete, strict=True)
            if done and trail.timings
        ]


def offline_trails(timing: Mapping[str, Any]) -> tuple[LatencySeries, int]:
    """Trails of the offline replay's frames (``timing.json`` ``frames``), stages in the declared order.

    Returns:
        The series and the number of frames whose timings do not form a chain (left out).
    """
    order = list(timing["stages"])
    for frame in timing["frames"]:
        order += [s for s in frame["stages"] if s not in order]
    trails, indices, complete, invalid = [], [], [], 0
    for frame in timing["frames"]:
        spans = frame["stages"]
        try:
            trail = FrameTrail(
                frame["stamp_ns"],
                tuple(StageTiming(s, spans[s]["start_ns"], spans[s]["end_ns"]) for s in order if s in spans),
            )
        except LatencyError:
            invalid += 1
            continue
        trails.append(trail)
        indices.append(int(frame["index"]))
        complete.append(all(s in spans for s in timing["stages"]))
    return LatencySeries(tuple(trails), tuple(indices), tuple(order), tuple(complete)), invalid


def _merge_order(order: list[str], names: Sequence[str]) -> None:
    """Insert the new names of one trail into ``order``, each after its predecessor in the trail."""
    pos = 0
    for name in names:
        if name in order:
            pos = order.index(name) + 1
        else:
            order.insert(pos, name)
            pos += 1


def live_trails(timing: Mapping[str, Any]) -> tuple[LatencySeries, int]:
    """Trails the live graph recorded (``timing.json`` ``recorded_trails``).

    Returns:
        The series (every valid trail counts end to end: it is what the graph's last node published) and
        the number of trails left out because they are not a chain on one host's clock.
    """
    trails, indices, order, invalid = [], [], [], 0
    for i, raw in enumerate(timing["recorded_trails"]):
        try:
            trail = FrameTrail(
                raw["stamp_ns"],
                tuple(StageTiming(t["stage"], t["start_ns"], t["end_ns"]) for t in raw["stages"]),
            )
        except LatencyError:
            invalid += 1
            continue
        _merge_order(order, trail.stage_names())
        trails.append(trail)
        indices.append(i)
    return LatencySeries(tuple(trails), tuple(indices), tuple(order), (True,) * len(trails)), invalid


def _stats(name: str, samples_ns: Sequence[int]) -> dict[str, int | float]:
    stats = StageStats.from_samples(name, samples_ns).to_dict()
    return {k: v if isinstance(v, int) else round(v, MS_DECIMALS) for k, v in stats.items()}


def latency_section(series: LatencySeries, invalid: int, unavailable_reason: str) -> dict[str, Any]:
    """The report's numbers for one latency source.

    Returns:
        ``{"available": False, "reason": ...}`` without trails, else ``available``, ``frames`` (valid
        trails), ``complete_frames``, ``invalid_trails``, and ``stages`` / ``transports`` (``"a→b"``) /
        ``end_to_end`` statistics (``count``, ``p50_ms`` ... ``min_ms``; ms rounded to 1 µs).
    """
    if not series.trails:
        reason = unavailable_reason if not invalid else f"all {invalid} trails are invalid (not a chain)"
        return {"available": False, "reason": reason}
    stages: dict[str, list[int]] = {s: [] for s in series.stage_order}
    transports: dict[str, list[int]] = {}
    e2e: list[int] = []
    for trail, done in zip(series.trails, series.complete, strict=True):
        for t in trail.timings:
            stages[t.stage].append(t.duration_ns)
        for gap in trail.transports():
            transports.setdefault(gap.stage, []).append(gap.duration_ns)
        if done and trail.timings:
            e2e.append(trail.end_to_end_ns())
    rank = {s: i for i, s in enumerate(series.stage_order)}
    ordered = sorted(transports, key=lambda k: tuple(rank[s] for s in k.split(TRANSPORT_SEPARATOR, 1)))
    return {
        "available": True,
        "frames": len(series.trails),
        "complete_frames": sum(series.complete),
        "invalid_trails": invalid,
        "stages": {s: _stats(s, v) for s, v in stages.items() if v},
        "transports": {k: _stats(k, transports[k]) for k in ordered},
        END_TO_END: _stats(END_TO_END, e2e) if e2e else None,
    }
