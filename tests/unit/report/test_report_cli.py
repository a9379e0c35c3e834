"""``visuomotor eval BAG --report DIR [--compare OTHER]`` through the real dispatcher.

The offline replay is replaced by a function that writes the synthetic run's files, so these tests
check the command's flow (replay into DIR, then report; compare bag into DIR/compare) on their own.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from visuomotor.cli import evaluate_bag, main

MakeRun = Callable[..., Path]


@pytest.fixture
def fake_replay(
    monkeypatch: pytest.MonkeyPatch, write_synthetic_run: Callable[..., Path]
) -> list[tuple[Path, Path]]:
    """Replace the replay: BAG "<name>.mcap" → a synthetic run named <name> (1.5× slower for "slow")."""
    calls: list[tuple[Path, Path]] = []

    def replay(bag: Path, out_dir: Path, args: argparse.Namespace) -> None:
        calls.append((bag, out_dir))
        write_synthetic_run(out_dir, bag=bag.stem, slow=1.5 if bag.stem == "slow" else 1.0, live=False)

    monkeypatch.setattr(evaluate_bag, "_replay", replay)
    return calls


def test_eval_bag_replays_into_the_report_directory_and_writes_the_report(
    tmp_path: Path, fake_replay: list[tuple[Path, Path]], capsys: pytest.CaptureFixture[str]
) -> None:
    bag = tmp_path / "pick.mcap"
    bag.write_bytes(b"\x89MCAP0\r\n")
    out = tmp_path / "report"
    assert main(["eval", str(bag), "--report", str(out)]) == 0
    assert fake_replay == [(bag, out)]
    for name in (
        "result.json",
        "timing.json",
        "report.json",
        "index.html",
        "trace.json",
        "latency_histogram.png",
    ):
        assert (out / name).is_file(), name
    printed = capsys.readouterr().out
    assert "offline end to end ms: p50 18.3  p95 22.35  p99 22.71" in printed
    assert "tracking MOTA 0.95  IDF1 0.75" in printed
    assert f"report: {out / 'index.html'}" in printed


def test_eval_compare_replays_the_other_bag_into_dir_compare(
    tmp_path: Path, fake_replay: list[tuple[Path, Path]]
) -> None:
    for name in ("fast", "slow"):
        (tmp_path / f"{name}.mcap").write_bytes(b"\x89MCAP0\r\n")
    out = tmp_path / "report"
    argv = [
        "eval",
        str(tmp_path / "fast.mcap"),
        "--report",
        str(out),
        "--compare",
        str(tmp_path / "slow.mcap"),
    ]
    assert main(argv) == 0
    assert [o for _, o in fake_replay] == [out, out / "compare"]
    report = json.loads((out / "report.json").read_text())
    assert report["run"]["bag"] == "fast" and report["compare"]["run"]["bag"] == "slow"
    assert report["compare"]["latency"]["offline"]["stages"]["detect"]["p50_ms"] == 21.75


def test_eval_of_a_replay_directory_reports_without_replaying(
    make_run: MakeRun, tmp_path: Path, fake_replay: list[tuple[Path, Path]]
) -> None:
    run_dir = make_run("earlier", live=False)
    out = tmp_path / "report"
    assert main(["eval", "bag", str(run_dir), "--report", str(out), "--compare", str(run_dir)]) == 0
    assert fake_replay == []
    report = json.loads((out / "report.json").read_text())
    assert report["compare"]["run"]["source"] == str(run_dir)


def test_eval_errors_name_the_problem_and_the_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fake_replay: list[tuple[Path, Path]]
) -> None:
    assert main(["eval", str(tmp_path / "missing.mcap"), "--report", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "BAG " in err and "missing.mcap not found: pass a rosbag2 bag" in err
    (tmp_path / "empty").mkdir()
    assert main(["eval", str(tmp_path / "empty"), "--report", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "has no result.json and is not a rosbag2 bag" in err and err.startswith("visuomotor eval: error:")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "result.json").write_text(json.dumps({"schema": "something/else"}))
    assert main(["eval", str(bad), "--report", str(tmp_path / "r")]) == 2
    assert "expected 'visuomotor.replay/1'" in capsys.readouterr().err
    assert fake_replay == []
