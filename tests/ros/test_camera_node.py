"""The camera node on a software RealSense: aligned colour/depth/camera_info, a known plane, unplug/replug.

The session runs in a process of its own (camera_node_session.py), as the node would on a robot.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.ros]

SESSION = Path(__file__).with_name("camera_node_session.py")


def test_camera_node_publishes_a_known_plane_and_survives_replug() -> None:
    run = subprocess.run([sys.executable, str(SESSION)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    r = json.loads(run.stdout.strip().splitlines()[-1])
    # No device: one clear error that names the fix.
    assert "plug" in r["no_device_error"].lower() or "no realsense" in r["no_device_error"].lower()
    assert r["frames_before"] >= 10
    assert r["encodings"] == ["rgb8", "16UC1"]
    assert r["sizes"][0] == r["sizes"][1]  # depth aligned to colour
    assert r["stamps_sorted"] and r["shared_stamps"] >= 5
    assert r["valid_fraction"] > 0.8  # the depth FOV does not cover the colour corners
    # The plane's true depth, to the mm quantisation.
    assert abs(r["depth_min_m"] - 0.8) < 5e-4 and abs(r["depth_max_m"] - 0.8) < 5e-4
    assert r["resumed"] and r["reconnects"] >= 1
