"""The README's demo, end to end: sim + scripted pick + latency monitor as separate processes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_demo_picks_a_cube_and_reports_latency(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    run = subprocess.run(
        [sys.executable, "-m", "visuomotor_ros.demo", "--out", str(out), "--seed", "3", "--timeout", "90"],
        capture_output=True, text=True, timeout=150,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "SUCCESS" in run.stdout
    result = json.loads((out / "result.json").read_text())
    assert result["success"] is True and result["seed"] == 3
    latency = json.loads((out / "latency.json").read_text())
    assert list(latency["stages"]) == ["render", "encode", "expert"]
    assert latency["frames"] >= 100  # several seconds at 30 Hz
    assert latency["dropped"] <= 0.05 * latency["frames"]
    e2e = latency["end_to_end"]
    assert 0 < e2e["p50_ms"] <= e2e["p99_ms"] < 1000
    # The printed table is the monitor's, and the figure and camera frame are real PNGs.
    assert "end_to_end" in run.stdout and "render→encode" in run.stdout
    for name in ("demo.png", "camera.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    import matplotlib.image

    camera = matplotlib.image.imread(out / "camera.png")
    assert camera.shape[:2] == (480, 640)
    assert camera.std() > 0.05  # a rendered scene, not a blank frame
