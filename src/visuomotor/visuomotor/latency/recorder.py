"""Collect frame trails into exact latency statistics, drop counts and rejection counts.

Percentiles are exact: every sample is kept (or the newest ``max_samples`` per series) and the
percentile is computed with numpy's ``"linear"`` method when a summary is asked for, never from a
histogram. Recording is O(1) amortised per timing: samples are appended to arrays, never sorted on
insert.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from visuomotor.errors import ConfigError
from visuomotor.latency.errors import LatencyError
from visuomotor.latency.trail import TRANSPORT_SEPARATOR, FrameTrail, as_ns

__all__ = ["LatencyRecorder", "LatencySummary", "StageStats", "percentile_ms"]

_NS_PER_MS = 1e6
_END_TO_END = "end_to_end"
_STAT_FIELDS_MS = ("p50_ms", "p95_ms", "p99_ms", "mean_ms", "max_ms", "min_ms")


def percentile_ms(samples_ns: Sequence[int] | np.ndarray, q: float) -> float:
    """Exact ``q``-th percentile of nanosecond samples, in milliseconds.

    Uses ``np.percentile(..., method="linear")`` (numpy's default, Hyndman & Fan type 7): the value at
    rank ``(n − 1)·q/100`` of the sorted samples, interpolated linearly between neighbours. For 1..100 ms
    the median is therefore 50.5 ms.

    Args:
        samples_ns: one or more durations (ns).
        q: percentile in [0, 100].

    Returns:
        The percentile (ms).

    Raises:
        LatencyError: no samples, or ``q`` outside [0, 100].
    """
    if not 0.0 <= q <= 100.0:
        raise LatencyError(f"percentile q must be in [0, 100], got {q}")
    arr = np.asarray(samples_ns)
    if arr.size == 0:
        raise LatencyError("percentile of no samples: record at least one sample first")
    return float(np.percentile(arr, q, method="linear")) / _NS_PER_MS


@dataclass(frozen=True, slots=True)
class StageStats:
    """Latency statistics of one series (a stage, a transport or end to end), in milliseconds.

    Attributes:
        name: stage name, ``"a→b"`` for a transport, ``"end_to_end"`` for the whole trail.
        count: number of samples the statistics are computed from (≤ ``max_samples``).
        p50_ms, p95_ms, p99_ms: exact percentiles (numpy ``"linear"`` method), ms.
        mean_ms, max_ms, min_ms: ms.
    """

    name: str
    count: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float
    min_ms: float

    @classmethod
    def from_samples(cls, name: str, samples_ns: Sequence[int] | np.ndarray) -> StageStats:
        """Compute the statistics of ``samples_ns`` (ns, at least one sample)."""
        arr = np.asarray(samples_ns, dtype=np.int64)
        if arr.size == 0:
            raise LatencyError(f"series {name!r} has no samples: record at least one sample first")
        p50, p95, p99 = np.percentile(arr, [50.0, 95.0, 99.0], method="linear")
        return cls(
            name=name,
            count=int(arr.size),
            p50_ms=float(p50) / _NS_PER_MS,
            p95_ms=float(p95) / _NS_PER_MS,
            p99_ms=float(p99) / _NS_PER_MS,
            mean_ms=float(arr.mean()) / _NS_PER_MS,
            max_ms=float(arr.max()) / _NS_PER_MS,
            min_ms=float(arr.min()) / _NS_PER_MS,
        )

    def to_dict(self) -> dict[str, int | float]:
        """The numbers without the name (the name is the key in :meth:`LatencySummary.to_dict`)."""
        return {"count": self.count, **{k: getattr(self, k) for k in _STAT_FIELDS_MS}}

    @classmethod
    def from_dict(cls, name: str, data: Mapping[str, Any]) -> StageStats:
        """Inverse of :meth:`to_dict`."""
        return cls(name=name, count=int(data["count"]), **{k: float(data[k]) for k in _STAT_FIELDS_MS})


@dataclass(frozen=True, slots=True)
class LatencySummary:
    """A snapshot of a :class:`LatencyRecorder`.

    Attributes:
        frames: completed frames (each stamp counted once).
        dropped: frames seen but not completed within the drop horizon.
        stages: per-stage statistics in pipeline order (the order stages were first seen).
        transports: per-transport (``"a→b"``) statistics, ordered by their stages' pipeline order.
        end_to_end: last stage end − first stage start, or None before any timed frame.
        rejections: count per rejection reason (a copy, in first-seen order).
    """

    frames: int
    dropped: int
    stages: tuple[StageStats, ...]
    transports: tuple[StageStats, ...]
    end_to_end: StageStats | None
    rejections: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict; series keyed by name in pipeline order (a stable order for equal input)."""
        return {
            "frames": self.frames,
            "dropped": self.dropped,
            "stages": {s.name: s.to_dict() for s in self.stages},
            "transports": {s.name: s.to_dict() for s in self.transports},
            "end_to_end": None if self.end_to_end is None else self.end_to_end.to_dict(),
            "rejections": dict(self.rejections),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LatencySummary:
        """Inverse of :meth:`to_dict` (e.g. for offline tools reading :meth:`write_json` output)."""
        e2e = data.get("end_to_end")
        return cls(
            frames=int(data["frames"]),
            dropped=int(data["dropped"]),
            stages=tuple(StageStats.from_dict(k, v) for k, v in data["stages"].items()),
            transports=tuple(StageStats.from_dict(k, v) for k, v in data["transports"].items()),
            end_to_end=None if e2e is None else StageStats.from_dict(_END_TO_END, e2e),
            rejections={str(k): int(v) for k, v in data.get("rejections", {}).items()},
        )

    def write_json(self, path: str | os.PathLike[str]) -> None:
        """Write :meth:`to_dict` as indented JSON to ``path``, creating parent directories."""
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")

    def format_table(self) -> str:
        """A plain-text table in ms: each stage followed by its outgoing transports, end to end last.

        The last line gives frames and drops (and rejections, if any).
        """
        by_source: dict[str, list[StageStats]] = {}
        for t in self.transports:
            by_source.setdefault(t.name.split(TRANSPORT_SEPARATOR, 1)[0], []).append(t)
        rows: list[StageStats] = []
        for s in self.stages:
            rows.append(s)
            rows.extend(by_source.pop(s.name, ()))
        # Transports without a stage row (only in a hand-built or loaded summary) still get printed.
        rows.extend(t for ts in by_source.values() for t in ts)
        if self.end_to_end is not None:
            rows.append(self.end_to_end)

        header = ("stage", "count", "p50", "p95", "p99", "max")
        cells = [
            (r.name, str(r.count), f"{r.p50_ms:.3f}", f"{r.p95_ms:.3f}", f"{r.p99_ms:.3f}", f"{r.max_ms:.3f}")
            for r in rows
        ]
        widths = [max(len(c[i]) for c in [header, *cells]) for i in range(len(header))]

        def line(c: tuple[str, ...]) -> str:
            return " | ".join(
                [c[0].ljust(widths[0]), *(v.rjust(w) for v, w in zip(c[1:], widths[1:], strict=True))]
            )

        lines = [line(header) + "   (ms)", "-+-".join("-" * w for w in widths)]
        lines.extend(line(c) for c in cells)
        footer = f"frames: {self.frames}  dropped: {self.dropped}"
        if self.rejections:
            footer += "  rejections: " + ", ".join(f"{k}={v}" for k, v in self.rejections.items())
        lines.append(footer)
        return "\n".join(lines)


class LatencyRecorder:
    """Collects trails; exact percentiles (keeps every sample, no histogram approximation).

    Memory: with ``max_samples=None`` every sample is kept, 8 bytes each in int64 arrays (30 Hz, 6
    stages, 5 transports and end to end: ~250 MB a day). With ``max_samples=N`` each series (every stage,
    every transport, end to end) is a ring buffer of its newest N samples, so the statistics describe the
    most recent N frames. Frame, drop and rejection counts are never truncated.

    Drop accounting: :meth:`frame_seen` marks a source frame as in flight at the recorder's clock. A
    frame is *dropped* once the clock passes ``seen + drop_horizon_ns`` (strictly) without a
    :meth:`record` for its stamp. The clock is the largest ``now_ns`` the recorder has been given
    (``time.monotonic_ns()`` where a method's ``now_ns`` is None); :attr:`dropped` and :meth:`stats`
    only read it, so call :meth:`advance` before reading if no frames flow (e.g. at the end of a run).
    Frames may complete in any order. A stamp seen or recorded twice counts once (repeat completions
    are ignored, samples included, and counted in :attr:`duplicates`). A :meth:`record` for a stamp never
    seen counts as a frame, not a drop, and a :meth:`frame_seen` arriving after its :meth:`record` is
    ignored. A completion after the horizon is recorded as a frame (its samples are real) and the frame
    stays counted as dropped; :attr:`late` counts those. Completed and dropped stamps are remembered for
    one horizon, so bookkeeping memory is bounded by the frames of about two horizons.

    Thread-safe: one lock guards every method, so callbacks of a multi-threaded executor may share it.
    """

    def __init__(self, max_samples: int | None = None, drop_horizon_ns: int = 2_000_000_000) -> None:
        """Create an empty recorder.

        Args:
            max_samples: keep only the newest N samples per series (ring buffer); None keeps all.
            drop_horizon_ns: how long a seen frame may stay in flight before it counts as dropped (ns).

        Raises:
            ConfigError: ``max_samples`` < 1 or ``drop_horizon_ns`` ≤ 0.
        """
        bad_max = isinstance(max_samples, bool) or not isinstance(max_samples, int) or max_samples < 1
        if max_samples is not None and bad_max:
            raise ConfigError(f"latency: max_samples must be None or an integer ≥ 1, got {max_samples!r}")
        if isinstance(drop_horizon_ns, bool) or not isinstance(drop_horizon_ns, int) or drop_horizon_ns <= 0:
            raise ConfigError(
                f"latency: drop_horizon_ns must be a positive integer (ns), got {drop_horizon_ns!r}; "
                "the default is 2_000_000_000 (2 s)"
            )
        self._max_samples = max_samples
        self._horizon_ns = drop_horizon_ns
        self._lock = threading.Lock()
        self.reset()

    @property
    def max_samples(self) -> int | None:
        """Ring-buffer size per series, or None when every sample is kept."""
        return self._max_samples

    @property
    def drop_horizon_ns(self) -> int:
        """How long a seen frame may stay in flight before it counts as dropped (ns)."""
        return self._horizon_ns

    def reset(self) -> None:
        """Forget every sample, count and in-flight frame (settings are kept)."""
        with self._lock:
            self._clock_ns: int | None = None
            self._frames = 0
            self._dropped = 0
            self._duplicates = 0
            self._late = 0
            # Report order: stages in first-seen pipeline order, then stages known only from
            # record_stage (in first-seen order). Both index ``_stages``.
            self._stage_order: list[str] = []
            self._in_trail: set[str] = set()
            self._free_order: list[str] = []
            self._stages: dict[str, _Series] = {}
            self._transports: dict[tuple[str, str], _Series] = {}
            self._e2e = _Series(self._max_samples)
            self._rejections: dict[str, int] = {}
            # In-flight frames: stamp → deadline; the deque holds (deadline, stamp) in deadline order
            # because deadlines come from the non-decreasing clock.
            self._pending: dict[int, int] = {}
            self._pending_queue: deque[tuple[int, int]] = deque()
            # Resolved stamps, remembered one horizon to catch repeats: stamp → forget-after time.
            self._completed: dict[int, int] = {}
            self._recent_drops: dict[int, int] = {}
            self._resolved_queue: deque[tuple[int, int]] = deque()

    def _tick(self, now_ns: int | None) -> int:
        """Move the clock to ``now_ns`` (never backwards), expire frames; return the clock. Lock held."""
        now = time.monotonic_ns() if now_ns is None else as_ns("now_ns", now_ns)
        if self._clock_ns is not None and now <= self._clock_ns:
            return self._clock_ns
        self._clock_ns = now
        horizon = self._horizon_ns
        pending_q = self._pending_queue
        while pending_q and pending_q[0][0] < now:
            deadline, stamp = pending_q.popleft()
            if self._pending.get(stamp) == deadline:
                del self._pending[stamp]
                self._dropped += 1
                self._recent_drops[stamp] = deadline + horizon
                self._resolved_queue.append((deadline + horizon, stamp))
        resolved_q = self._resolved_queue
        while resolved_q and resolved_q[0][0] < now:
            forget_ns, stamp = resolved_q.popleft()
            if self._completed.get(stamp) == forget_ns:
                del self._completed[stamp]
            if self._recent_drops.get(stamp) == forget_ns:
                del self._recent_drops[stamp]
        return now

    def advance(self, now_ns: int | None = None) -> int:
        """Move the clock to ``now_ns`` (default ``time.monotonic_ns()``); return :attr:`dropped`."""
        with self._lock:
            self._tick(now_ns)
            return self._dropped

    def frame_seen(self, stamp_ns: int, now_ns: int | None = None) -> None:
        """Note that a source frame was published; it counts as dropped unless recorded within the horizon.

        Args:
            stamp_ns: the frame's camera stamp (ROS time, ns).
            now_ns: when it was seen (``time.monotonic_ns()`` if None).
        """
        stamp = as_ns("stamp_ns", stamp_ns)
        with self._lock:
            now = self._tick(now_ns)
            if stamp in self._pending or stamp in self._completed or stamp in self._recent_drops:
                return
            deadline = now + self._horizon_ns
            self._pending[stamp] = deadline
            self._pending_queue.append((deadline, stamp))

    def record(self, trail: FrameTrail, now_ns: int | None = None) -> None:
        """Record a frame completed at the end of the pipeline.

        Adds one sample per stage, per transport (gap between consecutive stages) and one end-to-end
        sample; a trail without timings counts as a frame with no samples. O(len(trail.timings)).

        Args:
            trail: the frame's trail, as carried by the pipeline's last message.
            now_ns: when it completed (``time.monotonic_ns()`` if None).
        """
        stamp = trail.stamp_ns
        timings = trail.timings
        with self._lock:
            now = self._tick(now_ns)
            if stamp in self._completed:
                self._duplicates += 1
                return
            if self._pending.pop(stamp, None) is None and self._recent_drops.pop(stamp, None) is not None:
                self._late += 1
            forget_ns = now + self._horizon_ns
            self._completed[stamp] = forget_ns
            self._resolved_queue.append((forget_ns, stamp))
            self._frames += 1
            if not timings:
                return
            prev = None
            for t in timings:
                if t.stage not in self._in_trail:
                    self._add_trail_stages(trail.stage_names())
                self._stages[t.stage].append(t.end_ns - t.start_ns)
                if prev is not None:
                    key = (prev.stage, t.stage)
                    gaps = self._transports.get(key)
                    if gaps is None:
                        gaps = self._transports[key] = _Series(self._max_samples)
                    gaps.append(t.start_ns - prev.end_ns)
                prev = t
            self._e2e.append(timings[-1].end_ns - timings[0].start_ns)

    def record_stage(self, stage: str, duration_ns: int) -> None:
        """Add a free sample to a stage's series (e.g. a sub-step timed outside the trail).

        A stage not (yet) seen in any trail is reported after the pipeline's stages.

        Raises:
            LatencyError: empty or transport-like stage name, or a negative duration.
        """
        if not isinstance(stage, str) or not stage.strip() or TRANSPORT_SEPARATOR in stage:
            raise LatencyError(
                f"stage name must be a non-empty string without {TRANSPORT_SEPARATOR!r}, got {stage!r}"
            )
        duration = as_ns(f"stage {stage!r}: duration_ns", duration_ns)
        if duration < 0:
            raise LatencyError(f"stage {stage!r}: duration_ns must be ≥ 0, got {duration}")
        with self._lock:
            series = self._stages.get(stage)
            if series is None:
                series = self._stages[stage] = _Series(self._max_samples)
                self._free_order.append(stage)
            series.append(duration)

    def rejected(self, reason: str) -> None:
        """Count one rejection (safety guard, health check, ...) under ``reason``."""
        if not isinstance(reason, str) or not reason:
            raise LatencyError(f"rejection reason must be a non-empty string, got {reason!r}")
        with self._lock:
            self._rejections[reason] = self._rejections.get(reason, 0) + 1

    def _add_trail_stages(self, names: Sequence[str]) -> None:
        """Insert stage names not yet seen in a trail into the pipeline order. Lock held; new names only.

        A new stage goes right after the nearest preceding stage of ``names`` that is already ordered;
        new stages before the first ordered one go just before it; a trail that shares no stage with
        the order is appended at the end. A stage known only from :meth:`record_stage` moves from the
        free list into the pipeline order, keeping its samples.
        """
        order = self._stage_order
        in_trail = self._in_trail
        first_known = next((n for n in names if n in in_trail), None)
        pos = len(order) if first_known is None else order.index(first_known)
        for name in names:
            if name in in_trail:
                pos = order.index(name) + 1
                continue
            order.insert(pos, name)
            in_trail.add(name)
            pos += 1
            if name in self._stages:
                self._free_order.remove(name)
            else:
                self._stages[name] = _Series(self._max_samples)

    @property
    def frames(self) -> int:
        """Completed frames (each stamp once)."""
        return self._frames

    @property
    def dropped(self) -> int:
        """Frames seen but not completed within ``drop_horizon_ns`` of the recorder's clock."""
        return self._dropped

    @property
    def in_flight(self) -> int:
        """Frames seen, not yet completed and still inside the horizon."""
        return len(self._pending)

    @property
    def duplicates(self) -> int:
        """Repeat :meth:`record` calls for an already completed stamp (ignored)."""
        return self._duplicates

    @property
    def late(self) -> int:
        """Frames completed after they had been counted as dropped."""
        return self._late

    @property
    def rejections(self) -> dict[str, int]:
        """Count per rejection reason (a copy)."""
        with self._lock:
            return dict(self._rejections)

    def stats(self) -> LatencySummary:
        """Exact statistics of every series at the recorder's current clock (no clock read)."""
        with self._lock:
            stage_samples = [(n, self._stages[n].values()) for n in (*self._stage_order, *self._free_order)]
            rank = {n: i for i, n in enumerate(self._stage_order)}
            keys = sorted(self._transports, key=lambda k: (rank[k[0]], rank[k[1]]))
            transport_samples = [
                (f"{a}{TRANSPORT_SEPARATOR}{b}", self._transports[(a, b)].values()) for a, b in keys
            ]
            e2e = self._e2e.values()
            frames, dropped, rejections = self._frames, self._dropped, dict(self._rejections)
        # Percentiles outside the lock: the arrays are copies.
        return LatencySummary(
            frames=frames,
            dropped=dropped,
            stages=tuple(StageStats.from_samples(n, a) for n, a in stage_samples if a.size),
            transports=tuple(StageStats.from_samples(n, a) for n, a in transport_samples),
            end_to_end=StageStats.from_samples(_END_TO_END, e2e) if e2e.size else None,
            rejections=rejections,
        )


class _Series:
    """Samples of one series (ns) in an int64 array: grows by doubling, or a ring of the newest N.

    8 bytes per sample instead of ~36 for a Python int in a list; ``append`` is O(1) amortised.
    """

    __slots__ = ("_buf", "_count", "_max")

    def __init__(self, max_samples: int | None) -> None:
        self._max = max_samples
        self._buf = np.empty(256 if max_samples is None else min(256, max_samples), dtype=np.int64)
        self._count = 0  # samples ever appended

    def append(self, value_ns: int) -> None:
        i, buf = self._count, self._buf
        if self._max is not None and i >= self._max:
            buf[i % self._max] = value_ns  # overwrite the oldest
        else:
            if i == buf.shape[0]:
                size = 2 * i if self._max is None else min(2 * i, self._max)
                self._buf = buf = np.concatenate((buf, np.empty(size - i, dtype=np.int64)))
            buf[i] = value_ns
        self._count = i + 1

    def values(self) -> np.ndarray:
        """A copy of the kept samples, oldest first."""
        if self._max is None or self._count <= self._max:
            return self._buf[: self._count].copy()
        k = self._count % self._max
        return np.concatenate((self._buf[k:], self._buf[:k]))
