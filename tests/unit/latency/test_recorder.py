"""LatencyRecorder: exact percentiles vs numpy, drop accounting, ring buffer, JSON and table output."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest

from visuomotor.errors import ConfigError
from visuomotor.latency import (
    FrameTrail,
    LatencyError,
    LatencyRecorder,
    LatencySummary,
    StageStats,
    StageTiming,
    percentile_ms,
)

MS = 1_000_000
HORIZON = 100 * MS


def _trail(stamp_ns: int, t0_ns: int, detect_ms: int = 10, gap_ms: int = 2, policy_ms: int = 5) -> FrameTrail:
    """detect → (gap) → policy, starting at t0."""
    d_end = t0_ns + detect_ms * MS
    p_start = d_end + gap_ms * MS
    return FrameTrail(
        stamp_ns,
        (StageTiming("detect", t0_ns, d_end), StageTiming("policy", p_start, p_start + policy_ms * MS)),
    )


# -- percentile_ms ----------------------------------------------------------------------------------


@pytest.mark.parametrize("q", [0.0, 1.0, 25.0, 50.0, 90.0, 95.0, 99.0, 99.9, 100.0])
def test_percentile_equals_numpy_exactly(q: float) -> None:
    rng = np.random.default_rng(7)
    samples = rng.integers(100_000, 80 * MS, size=1001)
    assert percentile_ms(samples, q) == np.percentile(samples, q) / 1e6
    assert percentile_ms(samples.tolist(), q) == np.percentile(samples, q) / 1e6


def test_percentile_hand_computed() -> None:
    samples = [k * MS for k in range(1, 101)]  # 1..100 ms
    assert percentile_ms(samples, 50) == 50.5  # rank 49.5 → (50 + 51) / 2
    assert percentile_ms(samples, 95) == pytest.approx(95.05)  # rank 94.05
    assert percentile_ms(samples, 99) == pytest.approx(99.01)  # rank 98.01
    assert percentile_ms(samples, 0) == 1.0
    assert percentile_ms(samples, 100) == 100.0
    assert percentile_ms([3 * MS], 99) == 3.0
    assert percentile_ms([2 * MS, 4 * MS], 25) == 2.5


def test_percentile_invalid() -> None:
    with pytest.raises(LatencyError, match="no samples"):
        percentile_ms([], 50)
    with pytest.raises(LatencyError, match=r"q must be in \[0, 100\]"):
        percentile_ms([1], 101)


def test_stage_stats_from_samples() -> None:
    s = StageStats.from_samples("detect", [4 * MS, 1 * MS, 3 * MS, 2 * MS])
    assert (s.name, s.count, s.p50_ms, s.mean_ms, s.max_ms, s.min_ms) == ("detect", 4, 2.5, 2.5, 4.0, 1.0)
    assert s.p95_ms == pytest.approx(3.85)  # rank 3·0.95 = 2.85 → 3 + 0.85
    assert s.p99_ms == pytest.approx(3.97)  # rank 2.97


# -- recording --------------------------------------------------------------------------------------


def test_stats_per_stage_transport_and_end_to_end() -> None:
    rec = LatencyRecorder()
    detect_ms = [10, 12, 11, 30, 9]
    gap_ms = [1, 2, 3, 4, 5]
    policy_ms = [5, 6, 5, 7, 5]
    for i, (d, g, p) in enumerate(zip(detect_ms, gap_ms, policy_ms, strict=True)):
        rec.record(_trail(i, i * 100 * MS, d, g, p), now_ns=i * 100 * MS + 50 * MS)
    s = rec.stats()
    assert s.frames == 5 and s.dropped == 0
    assert [x.name for x in s.stages] == ["detect", "policy"]
    assert [x.name for x in s.transports] == ["detect→policy"]
    detect = s.stages[0]
    assert detect.count == 5
    assert detect.p50_ms == 11.0
    assert detect.max_ms == 30.0 and detect.min_ms == 9.0
    assert detect.mean_ms == pytest.approx(np.mean(detect_ms))
    assert detect.p95_ms == percentile_ms([d * MS for d in detect_ms], 95)
    assert s.transports[0].p50_ms == 3.0
    e2e = [d + g + p for d, g, p in zip(detect_ms, gap_ms, policy_ms, strict=True)]
    assert s.end_to_end is not None
    assert s.end_to_end.name == "end_to_end"
    assert s.end_to_end.p99_ms == percentile_ms([e * MS for e in e2e], 99)
    assert s.end_to_end.max_ms == max(e2e)


def test_stage_order_is_first_seen_pipeline_order() -> None:
    rec = LatencyRecorder()
    rec.record_stage("ik", 1 * MS)  # not in any trail yet: goes last
    rec.record(FrameTrail(1, (StageTiming("detect", 0, 1), StageTiming("track", 2, 3))), now_ns=0)
    # a later trail reveals localise between detect and track, and preproc before detect
    rec.record(
        FrameTrail(
            2,
            (
                StageTiming("preproc", 0, 1),
                StageTiming("detect", 1, 2),
                StageTiming("localise", 2, 3),
                StageTiming("track", 3, 4),
            ),
        ),
        now_ns=0,
    )
    s = rec.stats()
    assert [x.name for x in s.stages] == ["preproc", "detect", "localise", "track", "ik"]
    assert [x.name for x in s.transports] == [
        "preproc→detect",
        "detect→localise",
        "detect→track",
        "localise→track",
    ]
    assert {x.name: x.count for x in s.stages} == {
        "preproc": 1,
        "detect": 2,
        "localise": 1,
        "track": 2,
        "ik": 1,
    }
    # once ik shows up in a trail it joins the pipeline order, keeping its free sample
    rec.record(FrameTrail(3, (StageTiming("track", 0, 1), StageTiming("ik", 1, 2))), now_ns=0)
    rec.record_stage("onnx", 1)
    s = rec.stats()
    assert [x.name for x in s.stages] == ["preproc", "detect", "localise", "track", "ik", "onnx"]
    assert s.stages[4].count == 2
    assert [x.name for x in s.transports][-1] == "track→ik"


def test_record_stage_free_samples() -> None:
    rec = LatencyRecorder()
    for ms in (1, 2, 3):
        rec.record_stage("onnx", ms * MS)
    s = rec.stats()
    assert s.frames == 0 and s.end_to_end is None
    onnx = s.stages[0]
    assert (onnx.name, onnx.count, onnx.p50_ms, onnx.mean_ms, onnx.min_ms, onnx.max_ms) == (
        "onnx",
        3,
        2.0,
        2.0,
        1.0,
        3.0,
    )
    assert onnx.p95_ms == pytest.approx(2.9)
    with pytest.raises(LatencyError, match=r"duration_ns must be ≥ 0"):
        rec.record_stage("onnx", -1)
    with pytest.raises(LatencyError, match="non-empty string"):
        rec.record_stage("a→b", 1)


def test_empty_trail_counts_as_frame_without_samples() -> None:
    rec = LatencyRecorder()
    rec.record(FrameTrail(3), now_ns=0)
    s = rec.stats()
    assert s.frames == 1 and s.stages == () and s.end_to_end is None


def test_rejections() -> None:
    rec = LatencyRecorder()
    rec.rejected("joint_limit")
    rec.rejected("stale_input")
    rec.rejected("joint_limit")
    assert rec.rejections == {"joint_limit": 2, "stale_input": 1}
    summary = rec.stats()
    rec.rejected("joint_limit")
    assert summary.rejections == {"joint_limit": 2, "stale_input": 1}  # a snapshot
    with pytest.raises(LatencyError, match="reason"):
        rec.rejected("")


# -- drops ------------------------------------------------------------------------------------------


def test_drops_out_of_order_and_duplicates() -> None:
    rec = LatencyRecorder(drop_horizon_ns=HORIZON)
    for k in range(10):  # camera at 100 Hz: frame k seen at k ms
        rec.frame_seen(stamp_ns=1000 + k, now_ns=k * MS)
    completed = [3, 0, 6, 1, 9, 4, 8]  # out of order; 2, 5, 7 never complete
    for i, k in enumerate(completed):
        rec.record(_trail(1000 + k, k * MS), now_ns=(20 + i) * MS)
    rec.record(_trail(1006, 6 * MS), now_ns=30 * MS)  # the same stamp again
    assert rec.frames == 7
    assert rec.duplicates == 1
    assert rec.dropped == 0  # still inside the horizon
    assert rec.in_flight == 3
    assert rec.advance(now_ns=200 * MS) == 3
    s = rec.stats()
    assert (s.frames, s.dropped) == (7, 3)
    assert s.stages[0].count == 7  # the duplicate added no samples
    assert rec.in_flight == 0


def test_frame_inside_horizon_is_not_yet_dropped() -> None:
    rec = LatencyRecorder(drop_horizon_ns=HORIZON)
    rec.frame_seen(1, now_ns=0)
    rec.frame_seen(2, now_ns=50 * MS)
    assert rec.advance(now_ns=HORIZON) == 0  # frame 1 exactly at the horizon: still in flight
    assert rec.advance(now_ns=HORIZON + 1) == 1
    assert rec.advance(now_ns=150 * MS) == 1  # frame 2 exactly at the horizon
    assert rec.in_flight == 1
    rec.record(_trail(2, 50 * MS), now_ns=150 * MS)
    assert rec.advance(now_ns=10_000 * MS) == 1
    assert (rec.frames, rec.in_flight, rec.late) == (1, 0, 0)


def test_record_without_frame_seen_is_a_frame_not_a_drop() -> None:
    rec = LatencyRecorder(drop_horizon_ns=HORIZON)
    rec.record(_trail(5, 0), now_ns=20 * MS)
    rec.frame_seen(5, now_ns=21 * MS)  # the camera-side callback ran after the end-of-pipeline one
    rec.frame_seen(6, now_ns=22 * MS)
    rec.frame_seen(6, now_ns=23 * MS)  # seen twice: one frame
    assert rec.advance(now_ns=1000 * MS) == 1
    assert rec.frames == 1


def test_late_completion_stays_dropped_and_counts_as_frame() -> None:
    rec = LatencyRecorder(drop_horizon_ns=HORIZON)
    rec.frame_seen(1, now_ns=0)
    rec.advance(now_ns=HORIZON + 1)
    rec.record(_trail(1, 0), now_ns=HORIZON + 2)
    assert (rec.frames, rec.dropped, rec.late) == (1, 1, 1)
    assert rec.stats().end_to_end is not None


def test_clock_never_goes_backwards() -> None:
    rec = LatencyRecorder(drop_horizon_ns=HORIZON)
    rec.frame_seen(1, now_ns=500 * MS)
    rec.frame_seen(2, now_ns=10 * MS)  # an older callback time: counted from the recorder's clock
    assert rec.advance(now_ns=601 * MS) == 2


def test_bookkeeping_stays_bounded() -> None:
    rec = LatencyRecorder(max_samples=10, drop_horizon_ns=HORIZON)
    for k in range(3000):  # 30 s at 100 Hz, every third frame lost
        now = k * 10 * MS
        rec.frame_seen(k, now_ns=now)
        if k % 3:
            rec.record(_trail(k, now), now_ns=now + 5 * MS)
    rec.advance(now_ns=3000 * 10 * MS + HORIZON + 1)
    assert (rec.frames, rec.dropped) == (2000, 1000)
    assert len(rec._pending) == 0
    assert len(rec._completed) + len(rec._recent_drops) <= 2 * HORIZON // (10 * MS) + 2


def test_reset() -> None:
    rec = LatencyRecorder(max_samples=4, drop_horizon_ns=HORIZON)
    rec.frame_seen(1, now_ns=0)
    rec.record(_trail(2, 0), now_ns=1)
    rec.rejected("x")
    rec.reset()
    s = rec.stats()
    assert (s.frames, s.dropped, s.stages, s.end_to_end, s.rejections) == (0, 0, (), None, {})
    assert rec.in_flight == 0
    assert rec.max_samples == 4 and rec.drop_horizon_ns == HORIZON
    rec.record(_trail(2, 0), now_ns=0)  # stamp 2 is new again after reset
    assert rec.frames == 1


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"max_samples": 0}, "max_samples must be None or an integer ≥ 1"),
        ({"max_samples": 2.5}, "max_samples"),
        ({"drop_horizon_ns": 0}, "drop_horizon_ns must be a positive integer"),
        ({"drop_horizon_ns": 1.0}, "drop_horizon_ns"),
    ],
)
def test_config_errors(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        LatencyRecorder(**kwargs)  # type: ignore[arg-type]


# -- ring buffer ------------------------------------------------------------------------------------


def test_max_samples_keeps_newest() -> None:
    rec = LatencyRecorder(max_samples=5)
    for k in range(12):  # detect takes 1, 2, ..., 12 ms
        rec.record(_trail(k, k * 100 * MS, detect_ms=k + 1, gap_ms=k), now_ns=k * 100 * MS)
    s = rec.stats()
    assert s.frames == 12
    detect = s.stages[0]
    assert detect.count == 5
    assert (detect.min_ms, detect.max_ms, detect.p50_ms) == (8.0, 12.0, 10.0)
    assert s.transports[0].count == 5 and s.transports[0].min_ms == 7.0
    assert s.end_to_end is not None and s.end_to_end.count == 5


@pytest.mark.parametrize("max_samples", [None, 300])
def test_long_series_match_numpy(max_samples: int | None) -> None:
    # 1000 samples: past the initial buffer (growth) and, with a limit, wrapped several times
    rng = np.random.default_rng(11)
    samples = rng.integers(0, 50 * MS, size=1000)
    rec = LatencyRecorder(max_samples=max_samples)
    for v in samples:
        rec.record_stage("detect", int(v))
    kept = samples if max_samples is None else samples[-max_samples:]
    detect = rec.stats().stages[0]
    assert detect.count == kept.size
    assert detect.p95_ms == np.percentile(kept, 95) / 1e6
    assert detect.mean_ms == pytest.approx(kept.mean() / 1e6, rel=1e-12)
    assert (detect.min_ms, detect.max_ms) == (kept.min() / 1e6, kept.max() / 1e6)


# -- output -----------------------------------------------------------------------------------------


def _summary() -> LatencySummary:
    rec = LatencyRecorder(drop_horizon_ns=HORIZON)
    rng = np.random.default_rng(3)
    for k in range(50):
        rec.frame_seen(k, now_ns=k * 33 * MS)
        if k % 10:
            d, g, p = (int(x) for x in rng.integers(1, 20, size=3))
            rec.record(_trail(k, k * 33 * MS, d, g, p), now_ns=k * 33 * MS + 40 * MS)
    rec.advance(now_ns=50 * 33 * MS + HORIZON + 1)
    rec.rejected("workspace")
    return rec.stats()


def test_json_round_trip(tmp_path: Path) -> None:
    summary = _summary()
    path = tmp_path / "results" / "latency" / "run.json"
    summary.write_json(path)
    loaded = json.loads(path.read_text(encoding="utf-8"))
    assert loaded == summary.to_dict()
    assert list(loaded) == ["frames", "dropped", "stages", "transports", "end_to_end", "rejections"]
    assert (loaded["frames"], loaded["dropped"]) == (45, 5)
    assert list(loaded["stages"]) == ["detect", "policy"]
    assert loaded["stages"]["detect"]["p95_ms"] == summary.stages[0].p95_ms
    assert loaded["transports"]["detect→policy"]["count"] == 45
    assert summary.end_to_end is not None
    assert loaded["end_to_end"]["p99_ms"] == summary.end_to_end.p99_ms
    assert loaded["rejections"] == {"workspace": 1}
    assert LatencySummary.from_dict(loaded) == summary
    # same summary → byte-identical file
    again = tmp_path / "again.json"
    summary.write_json(again)
    assert again.read_bytes() == path.read_bytes()


def test_json_of_empty_recorder(tmp_path: Path) -> None:
    summary = LatencyRecorder().stats()
    summary.write_json(tmp_path / "empty.json")
    loaded = json.loads((tmp_path / "empty.json").read_text(encoding="utf-8"))
    assert loaded == {
        "frames": 0,
        "dropped": 0,
        "stages": {},
        "transports": {},
        "end_to_end": None,
        "rejections": {},
    }
    assert LatencySummary.from_dict(loaded) == summary


def test_format_table() -> None:
    summary = _summary()
    table = summary.format_table()
    lines = table.splitlines()
    assert lines[0].split()[:6] == ["stage", "|", "count", "|", "p50", "|"]
    names = [line.split(" | ")[0].strip() for line in lines[2:-1]]
    assert names == ["detect", "detect→policy", "policy", "end_to_end"]
    assert summary.end_to_end is not None
    assert f"{summary.end_to_end.p50_ms:.3f}" in lines[-2]
    assert lines[-1] == "frames: 45  dropped: 5  rejections: workspace=1"
    assert LatencyRecorder().stats().format_table().splitlines()[-1] == "frames: 0  dropped: 0"


# -- concurrency ------------------------------------------------------------------------------------


def test_concurrent_record_and_stats() -> None:
    rec = LatencyRecorder(max_samples=64)
    n_threads, per_thread = 4, 500

    def worker(offset: int) -> None:
        for k in range(per_thread):
            stamp = offset * per_thread + k
            rec.frame_seen(stamp)
            rec.record(_trail(stamp, 0))
            if k % 50 == 0:
                rec.stats()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    s = rec.stats()
    assert (s.frames, s.dropped) == (n_threads * per_thread, 0)
    assert s.stages[0].count == 64
