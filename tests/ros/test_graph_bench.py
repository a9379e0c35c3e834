"""bench/graph.py end to end on a 30-frame bag at one rate: every key written; bad input is one line, exit 2.

Numbers are not asserted (timing lives in the benchmark); the run must play the bag into the real graph
(perception → policy → commander → the trajectory sink) and get commands back.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from visuomotor.sim.recording import record_sim_bag

pytestmark = [pytest.mark.ros, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench" / "graph.py"
KEYS = ("delivered_ratio_30hz", "e2e_p50_ms_30hz", "e2e_p99_ms_30hz", "peak_rate_hz", "baseline_peak_rate_hz",
        "peak_ratio_vs_baseline", "e2e_p99_ratio_vs_baseline_30hz", "model", "machine", "bag_sha256")


def _bench(*args: str, timeout_s: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(BENCH), *args], capture_output=True, text=True,
                          timeout=timeout_s, cwd=ROOT)


def test_runs_end_to_end_and_writes_every_key(tmp_path: Path) -> None:
    bag = tmp_path / "bag"
    record_sim_bag(bag, 30, seed=3, expert_pick=True)
    out = tmp_path / "graph.json"
    run = _bench("--bag", str(bag), "--frames", "30", "--rates", "30", "--peak", "10", "30",
                 "--peak-frames", "20", "--peak-probes", "0", "--no-baseline", "--json", str(out))
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    result = json.loads(out.read_text())
    assert set(KEYS) <= set(result)
    run30 = result["ours"]["runs"]["30"]
    assert run30["frames_in"] == 30 and run30["commanded"] > 0  # commands came back through the real graph
    assert run30["commanded"] + run30["skipped_stale"] + run30["dropped"] == 30
    assert {"detect.infer", "localise", "track", "policy", "command"} <= set(run30["stages"])
    assert set(run30["cpu_percent"]) == {"perception", "policy", "commander"}
    assert result["baseline_skipped"] == "--no-baseline" and result["baseline_peak_rate_hz"] is None
    assert out.with_suffix(".png").stat().st_size > 0


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path) -> None:
    no_depth = tmp_path / "no_depth"
    record_sim_bag(no_depth, 3, roles=("color", "color_info", "joint_states"))
    cases = {
        "aligned_depth_to_color": ("--bag", str(no_depth)),
        "rates must be finite and > 0": ("--rates", "0"),
        "not found": ("--model", str(tmp_path / "missing.onnx")),
    }
    for needle, args in cases.items():
        run = _bench(*args, "--json", str(tmp_path / "x.json"), timeout_s=60)
        assert run.returncode == 2, (args, run.stderr)
        assert needle in run.stderr and "Traceback" not in run.stderr
        assert len(run.stderr.strip().splitlines()) == 1
