"""``visuomotor demo``: the closed-loop sim demo (sim → perception → ACT → commander), one process per node.

A thin front door to ``python -m visuomotor_ros.demo`` (the core never imports rclpy): arguments pass
through unchanged — ``--mode closed_loop|scripted``, ``--seed``, ``--target``, ``--timeout``, ``--out``.
Needs the built workspace on the path: run it through ``./scripts/demo.sh`` or after
``source scripts/env.sh``.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys

from visuomotor.errors import ConfigError

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("demo_args", nargs=argparse.REMAINDER, help="passed to visuomotor_ros.demo")


def run(args: argparse.Namespace) -> int:
    if importlib.util.find_spec("visuomotor_ros") is None or importlib.util.find_spec("rclpy") is None:
        raise ConfigError(
            "the demo needs the built ROS workspace (rclpy + visuomotor_ros): run ./scripts/demo.sh, or "
            "`source scripts/env.sh` first"
        )
    return subprocess.call([sys.executable, "-m", "visuomotor_ros.demo", *args.demo_args])
