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
    _import_torch_first()


def _import_torch_first() -> None:
    """With the training extras installed, import torch before any test touches MuJoCo or onnxruntime.

    The CUDA build of torch (its triton, which torch loads lazily) segfaults when first imported after
    MuJoCo's EGL context and an onnxruntime session exist in the process (seen with the closed-loop test
    before the training tests); imported first, all work. Without the extras this does nothing (CI).
    """
    import importlib
    import importlib.util

    for name in ("torch", "triton"):
        if importlib.util.find_spec(name) is not None:
            importlib.import_module(name)
