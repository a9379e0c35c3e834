"""StageTiming, StageTimer and FrameTrail against hand-built numbers and a real sleep."""

from __future__ import annotations

import time

import numpy as np
import pytest

from visuomotor.errors import VisuomotorError
from visuomotor.latency import FrameTrail, LatencyError, StageTimer, StageTiming

MS = 1_000_000


def _trail() -> FrameTrail:
    # camera stamp 5 s (ROS time); monotonic times in ms on an arbitrary origin
    return FrameTrail(
        5_000_000_000,
        (
            StageTiming("detect", 100 * MS, 112 * MS),
            StageTiming("localise", 113 * MS, 115 * MS),
            StageTiming("track", 115 * MS, 116 * MS),
            StageTiming("policy", 120 * MS, 128 * MS),
        ),
    )


# -- StageTiming ------------------------------------------------------------------------------------


def test_stage_timing_duration() -> None:
    assert StageTiming("detect", 10, 25).duration_ns == 15
    assert StageTiming("detect", 10, 10).duration_ns == 0


def test_stage_timing_rejects_end_before_start() -> None:
    with pytest.raises(LatencyError, match=r"'detect' ends before it starts"):
        StageTiming("detect", 20, 10)


@pytest.mark.parametrize("stage", ["", "   "])
def test_stage_timing_rejects_empty_name(stage: str) -> None:
    with pytest.raises(LatencyError, match="non-empty string"):
        StageTiming(stage, 0, 1)


@pytest.mark.parametrize("value", [1.5, True, "10", None])
def test_stage_timing_rejects_non_integer_times(value: object) -> None:
    with pytest.raises(LatencyError, match=r"start_ns must be an integer number of nanoseconds"):
        StageTiming("detect", value, 20)  # type: ignore[arg-type]


def test_stage_timing_accepts_numpy_integers_as_int() -> None:
    t = StageTiming("detect", np.int64(3), np.uint32(7))
    assert type(t.start_ns) is int and type(t.end_ns) is int
    assert t.duration_ns == 4


def test_latency_error_is_a_visuomotor_value_error() -> None:
    assert issubclass(LatencyError, VisuomotorError)
    assert issubclass(LatencyError, ValueError)


# -- StageTimer -------------------------------------------------------------------------------------


def test_stage_timer_measures_a_sleep() -> None:
    before = time.monotonic_ns()
    with StageTimer("detect") as timer:
        time.sleep(0.01)
    after = time.monotonic_ns()
    t = timer.timing
    assert t.stage == "detect"
    assert before <= t.start_ns <= t.end_ns <= after
    assert 10 * MS <= t.duration_ns < 200 * MS


def test_stage_timer_start_stop() -> None:
    timer = StageTimer.start("policy")
    time.sleep(0.01)
    t = timer.stop()
    assert t is timer.timing
    assert t.stage == "policy"
    assert 10 * MS <= t.duration_ns < 200 * MS


def test_stage_timer_timing_before_exit_raises() -> None:
    with StageTimer("detect") as timer, pytest.raises(LatencyError, match="read before the timer stopped"):
        _ = timer.timing


def test_stage_timer_misuse_raises() -> None:
    with pytest.raises(LatencyError, match="stopped before it started"):
        StageTimer("detect").stop()
    timer = StageTimer.start("detect")
    timer.stop()
    with pytest.raises(LatencyError, match="already stopped"):
        timer.stop()
    with pytest.raises(LatencyError, match="already started"), timer:
        pass
    with pytest.raises(LatencyError, match="non-empty string"):
        StageTimer("")


def test_stage_timer_times_a_raising_block_and_propagates() -> None:
    timer = StageTimer("ik")
    with pytest.raises(RuntimeError, match="boom"), timer:
        raise RuntimeError("boom")
    assert timer.timing.stage == "ik"
    assert timer.timing.duration_ns >= 0


# -- FrameTrail -------------------------------------------------------------------------------------


def test_appended_keeps_order_and_leaves_the_original() -> None:
    empty = FrameTrail(42)
    one = empty.appended(StageTiming("detect", 0, 5))
    two = one.appended(StageTiming("localise", 7, 9))
    assert empty.timings == ()
    assert one.stage_names() == ("detect",)
    assert two.stage_names() == ("detect", "localise")
    assert two.stamp_ns == 42
    assert two.timings[1] == StageTiming("localise", 7, 9)


def test_end_to_end_is_last_end_minus_first_start() -> None:
    assert _trail().end_to_end_ns() == 28 * MS
    assert FrameTrail(1, (StageTiming("detect", 3, 8),)).end_to_end_ns() == 5


def test_end_to_end_of_empty_trail_raises() -> None:
    with pytest.raises(LatencyError, match="frame 7 has no stage timings"):
        FrameTrail(7).end_to_end_ns()


def test_transports_names_and_values() -> None:
    transports = _trail().transports()
    assert [t.stage for t in transports] == ["detect→localise", "localise→track", "track→policy"]
    assert [(t.start_ns, t.end_ns) for t in transports] == [
        (112 * MS, 113 * MS),
        (115 * MS, 115 * MS),
        (116 * MS, 120 * MS),
    ]
    assert [t.duration_ns for t in transports] == [1 * MS, 0, 4 * MS]
    # stages + transports tile the end-to-end interval exactly
    trail = _trail()
    total = sum(t.duration_ns for t in trail.timings) + sum(t.duration_ns for t in transports)
    assert total == trail.end_to_end_ns()


def test_transports_of_short_trails_are_empty() -> None:
    assert FrameTrail(1).transports() == ()
    assert FrameTrail(1, (StageTiming("detect", 0, 1),)).transports() == ()


def test_overlapping_stage_is_rejected_on_append() -> None:
    trail = FrameTrail(1, (StageTiming("detect", 0, 10 * MS),))
    with pytest.raises(LatencyError, match=r"'localise' starts 2\.000 ms before 'detect' ends"):
        trail.appended(StageTiming("localise", 8 * MS, 12 * MS))


def test_overlapping_stage_is_rejected_on_construction() -> None:
    with pytest.raises(LatencyError, match=r"one host's time\.monotonic_ns"):
        FrameTrail(1, (StageTiming("a", 0, 10), StageTiming("b", 9, 12)))


def test_trail_validation() -> None:
    with pytest.raises(LatencyError, match=r"stamp_ns must be ≥ 0"):
        FrameTrail(-1)
    with pytest.raises(LatencyError, match="stamp_ns must be an integer"):
        FrameTrail(1.0)  # type: ignore[arg-type]
    with pytest.raises(LatencyError, match="holds StageTiming values"):
        FrameTrail(1, (("detect", 0, 1),))  # type: ignore[arg-type]
    with pytest.raises(LatencyError, match="names transports"):
        FrameTrail(1, (StageTiming("a→b", 0, 1),))


def test_trail_stores_any_iterable_as_tuple() -> None:
    trail = FrameTrail(1, [StageTiming("detect", 0, 1), StageTiming("track", 1, 2)])  # type: ignore[arg-type]
    assert isinstance(trail.timings, tuple)
    assert trail == FrameTrail(1, (StageTiming("detect", 0, 1), StageTiming("track", 1, 2)))
    assert trail.extended([StageTiming("policy", 3, 4)]).stage_names() == ("detect", "track", "policy")
