"""Session-wide test environment: an isolated DDS domain on localhost, headless rendering."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def pytest_configure() -> None:
    # A domain of our own per test session, so parallel runs on one machine never see each other's nodes;
    # discovery stays on localhost. Set before any rclpy.init, inherited by the node processes we start.
    os.environ.setdefault("ROS_DOMAIN_ID", str(1 + os.getpid() % 100))
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    os.environ.setdefault("FASTDDS_DEFAULT_PROFILES_FILE", str(ROOT / "config" / "fastdds.xml"))
    os.environ.setdefault("MUJOCO_GL", "egl")
    os.environ.setdefault("RCUTILS_LOGGING_BUFFERED_STREAM", "1")
