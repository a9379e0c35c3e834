"""trace.json is a valid Chrome/Perfetto trace: one complete event per stage per frame, exact durations."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from visuomotor.report import write_report

MakeRun = Callable[..., Path]


def _load(path: Path) -> tuple[list[dict], list[dict]]:
    trace = json.loads(path.read_text())
    events = trace["traceEvents"]
    return [e for e in events if e["ph"] == "X"], [e for e in events if e["ph"] == "M"]


def test_one_complete_event_per_stage_per_frame_with_exact_durations(
    make_run: MakeRun, tmp_path: Path
) -> None:
    run_dir = make_run()
    files = write_report(run_dir, tmp_path / "out")
    complete, meta = _load(files.trace_json)
    timing = json.loads((run_dir / "timing.json").read_text())

    offline = [e for e in complete if e["pid"] == 1]
    assert Counter((e["args"]["frame"], e["name"]) for e in offline) == {
        (f["index"], s): 1 for f in timing["frames"] for s in timing["stages"]
    }
    t0 = min(f["stages"]["decode"]["start_ns"] for f in timing["frames"])
    for e in offline:
        span = timing["frames"][e["args"]["frame"]]["stages"][e["name"]]
        assert e["dur"] == (span["end_ns"] - span["start_ns"]) / 1000.0  # µs
        assert e["ts"] == (span["start_ns"] - t0) / 1000.0
        assert e["args"]["stamp_ns"] == timing["frames"][e["args"]["frame"]]["stamp_ns"]
    # Each stage is its own lane (thread), named.
    lanes = {m["tid"]: m["args"]["name"] for m in meta if m["pid"] == 1 and m["name"] == "thread_name"}
    assert lanes == {1: "decode", 2: "detect", 3: "localise", 4: "track"}
    assert all(lanes[e["tid"]] == e["name"] for e in offline)

    live = [e for e in complete if e["pid"] == 2]
    assert len(live) == 5 * 5  # 5 valid trails × 5 stages; the broken trail is left out
    detect = sorted(e["dur"] for e in live if e["name"] == "detect")
    assert detect == [12000.0, 13000.0, 14000.0, 15000.0, 16000.0]
    names = {m["pid"]: m["args"]["name"] for m in meta if m["name"] == "process_name"}
    assert names == {1: "synthetic: offline replay", 2: "synthetic: live graph"}


def test_compare_mode_traces_both_runs_as_separate_processes(make_run: MakeRun, tmp_path: Path) -> None:
    files = write_report(make_run("a"), tmp_path / "out", make_run("b", bag="other", live=False))
    complete, meta = _load(files.trace_json)
    assert Counter(e["pid"] for e in complete) == {1: 40, 2: 25, 3: 40}
    names = {m["pid"]: m["args"]["name"] for m in meta if m["name"] == "process_name"}
    assert names == {1: "synthetic: offline replay", 2: "synthetic: live graph", 3: "other: offline replay"}
