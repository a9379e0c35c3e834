"""The per-frame latency trail: stage timings carried by every message of one camera frame.

All times are integer nanoseconds of the host's ``time.monotonic_ns()`` (CLOCK_MONOTONIC). Every process
on one host shares that clock, so the gap between one stage's end and the next stage's start (the
*transport*: serialisation, DDS, queueing, executor wake-up) is meaningful across processes. Clocks of
different hosts are unrelated; a trail whose stages ran on two hosts is rejected rather than reported
with nonsense gaps.

The frame's identity is ``stamp_ns``, the source camera stamp (ROS time, which may be sim time); it is
never subtracted from monotonic times.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from types import TracebackType

import numpy as np

from visuomotor.latency.errors import LatencyError

__all__ = ["TRANSPORT_SEPARATOR", "FrameTrail", "LatencyError", "StageTimer", "StageTiming", "as_ns"]

TRANSPORT_SEPARATOR = "→"
"""Joins two stage names into a transport name (``"detect→localise"``); reserved in stage names."""


def as_ns(name: str, value: object) -> int:
    """Return ``value`` as a plain ``int``; reject bools, floats and anything else that is not an integer.

    Numpy integers are accepted (message converters often hand them over) and turned into ``int`` so that
    the dataclasses stay JSON-ready and hash the same way.
    """
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise LatencyError(
            f"{name} must be an integer number of nanoseconds, got {value!r} ({type(value).__name__}): "
            "use time.monotonic_ns(), not time.monotonic()"
        )
    return int(value)


def _check_stage_name(stage: object) -> None:
    if not isinstance(stage, str) or not stage.strip():
        raise LatencyError(f"stage name must be a non-empty string, got {stage!r}")


@dataclass(frozen=True, slots=True)
class StageTiming:
    """When one stage worked on one frame.

    Attributes:
        stage: stage name (``"detect"``, ``"policy"``, ...); for derived transports ``"a→b"``.
        start_ns: ``time.monotonic_ns()`` when the stage started on the frame (ns).
        end_ns: ``time.monotonic_ns()`` when it finished, before publishing (ns); ``end_ns >= start_ns``.
    """

    stage: str
    start_ns: int
    end_ns: int

    def __post_init__(self) -> None:
        _check_stage_name(self.stage)
        # Frozen + slots: object.__setattr__ is the documented way to normalise fields in __post_init__.
        object.__setattr__(self, "start_ns", as_ns(f"stage {self.stage!r}: start_ns", self.start_ns))
        object.__setattr__(self, "end_ns", as_ns(f"stage {self.stage!r}: end_ns", self.end_ns))
        if self.end_ns < self.start_ns:
            raise LatencyError(
                f"stage {self.stage!r} ends before it starts (start_ns={self.start_ns}, "
                f"end_ns={self.end_ns}): take both times from time.monotonic_ns() on the same host"
            )

    @property
    def duration_ns(self) -> int:
        """Time spent in the stage (ns, ≥ 0)."""
        return self.end_ns - self.start_ns


class StageTimer:
    """Times one stage on ``time.monotonic_ns()``.

    Use it as a context manager::

        with StageTimer("detect") as timer:
            boxes = detector(image)
        trail = trail.appended(timer.timing)

    or start and stop it explicitly::

        timer = StageTimer.start("detect")
        boxes = detector(image)
        trail = trail.appended(timer.stop())

    A timer measures once; reusing it raises :class:`LatencyError`. If the ``with`` block raises, the
    timing is still taken and the exception propagates.
    """

    __slots__ = ("_stage", "_start_ns", "_timing")

    def __init__(self, stage: str) -> None:
        """Create a stopped timer for ``stage`` (a non-empty name)."""
        _check_stage_name(stage)
        self._stage = stage
        self._start_ns: int | None = None
        self._timing: StageTiming | None = None

    @classmethod
    def start(cls, stage: str) -> StageTimer:
        """Create a timer for ``stage`` and start it now."""
        timer = cls(stage)
        timer._begin()
        return timer

    @property
    def stage(self) -> str:
        """The stage name this timer measures."""
        return self._stage

    def _begin(self) -> None:
        if self._start_ns is not None:
            raise LatencyError(
                f"StageTimer({self._stage!r}) was already started: create a new timer per frame"
            )
        self._start_ns = time.monotonic_ns()

    def stop(self) -> StageTiming:
        """Stop the timer and return the stage timing (start/end in ``monotonic_ns``)."""
        end_ns = time.monotonic_ns()
        if self._start_ns is None:
            raise LatencyError(
                f"StageTimer({self._stage!r}) was stopped before it started: use StageTimer.start(...) "
                "or a with block"
            )
        if self._timing is not None:
            raise LatencyError(f"StageTimer({self._stage!r}) was already stopped: read .timing instead")
        self._timing = StageTiming(self._stage, self._start_ns, end_ns)
        return self._timing

    @property
    def timing(self) -> StageTiming:
        """The measured timing; raises :class:`LatencyError` until the timer has stopped."""
        if self._timing is None:
            raise LatencyError(
                f"StageTimer({self._stage!r}).timing read before the timer stopped: read it after the "
                "with block exits or after stop()"
            )
        return self._timing

    def __enter__(self) -> StageTimer:
        self._begin()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


@dataclass(frozen=True, slots=True)
class FrameTrail:
    """The stage timings of one camera frame, in pipeline order.

    Timings form a chain on one host's monotonic clock: each stage starts no earlier than the previous
    one ended. That invariant is checked here, where a bad timing enters the trail, so that
    :meth:`transports` never yields a negative gap. A violation means the timings come from different
    hosts (unrelated monotonic clocks), were appended out of order, or a stage timed a nested sub-step;
    nested sub-steps belong in :meth:`LatencyRecorder.record_stage`, not in the trail.

    Attributes:
        stamp_ns: source camera stamp (ROS time, ns, ≥ 0), the frame's identity.
        timings: stage timings in pipeline order (any iterable is stored as a tuple).
    """

    stamp_ns: int
    timings: tuple[StageTiming, ...] = ()

    def __post_init__(self) -> None:
        stamp_ns = as_ns("FrameTrail.stamp_ns", self.stamp_ns)
        if stamp_ns < 0:
            raise LatencyError(f"FrameTrail.stamp_ns must be ≥ 0 (a ROS time), got {stamp_ns}")
        object.__setattr__(self, "stamp_ns", stamp_ns)
        timings = self.timings if isinstance(self.timings, tuple) else tuple(self.timings)
        object.__setattr__(self, "timings", timings)
        prev: StageTiming | None = None
        for timing in timings:
            _check_chain(prev, timing)
            prev = timing

    def appended(self, timing: StageTiming) -> FrameTrail:
        """Return a new trail with ``timing`` as the last stage (this trail is unchanged).

        Raises:
            LatencyError: ``timing`` starts before the current last stage ends.
        """
        return FrameTrail(self.stamp_ns, (*self.timings, timing))

    def extended(self, timings: Iterable[StageTiming]) -> FrameTrail:
        """Return a new trail with several stage timings appended in order."""
        return FrameTrail(self.stamp_ns, (*self.timings, *timings))

    def end_to_end_ns(self) -> int:
        """Last stage's end − first stage's start (ns).

        Raises:
            LatencyError: the trail has no timings.
        """
        if not self.timings:
            raise LatencyError(
                f"frame {self.stamp_ns} has no stage timings: append a StageTiming before asking for its "
                "end-to-end latency"
            )
        return self.timings[-1].end_ns - self.timings[0].start_ns

    def transports(self) -> tuple[StageTiming, ...]:
        """Gaps between consecutive stages, as timings named ``"a→b"``.

        Each transport starts at the previous stage's end and ends at the next stage's start, so its
        duration is the time the frame spent between stages (serialisation, middleware, queueing). The
        chain invariant makes every gap ≥ 0; a zero gap (same-process hand-over) is kept as a sample.

        Returns:
            ``len(timings) − 1`` timings (empty for fewer than two stages).
        """
        return tuple(
            StageTiming(f"{a.stage}{TRANSPORT_SEPARATOR}{b.stage}", a.end_ns, b.start_ns)
            for a, b in zip(self.timings, self.timings[1:], strict=False)
        )

    def stage_names(self) -> tuple[str, ...]:
        """Stage names in pipeline order."""
        return tuple(t.stage for t in self.timings)


def _check_chain(prev: StageTiming | None, timing: StageTiming) -> None:
    """Check that ``timing`` may follow ``prev`` in a trail."""
    if not isinstance(timing, StageTiming):
        raise LatencyError(f"a FrameTrail holds StageTiming values, got {type(timing).__name__}")
    if TRANSPORT_SEPARATOR in timing.stage:
        raise LatencyError(
            f"stage name {timing.stage!r} contains {TRANSPORT_SEPARATOR!r}, which names transports: "
            "rename the stage"
        )
    if prev is not None and timing.start_ns < prev.end_ns:
        raise LatencyError(
            f"stage {timing.stage!r} starts {(prev.end_ns - timing.start_ns) / 1e6:.3f} ms before "
            f"{prev.stage!r} ends: a trail is a chain on one host's time.monotonic_ns(); time every stage "
            "on the same host, append in pipeline order, and record nested sub-steps with record_stage"
        )
