"""Record topics of a running graph into a rosbag2 bag: ``visuomotor record --out DIR [TOPIC ...]``.

Runs the ``recorder`` node executable of the built workspace (the core never imports rclpy) and stops it
with SIGINT on Ctrl-C or after ``--duration``; the node then closes the bag, which ``ros2 bag play``,
``visuomotor replay`` and ``visuomotor eval`` read. No TOPIC records every topic (but ``/rosout`` and
``/parameter_events``); ``--params config/recorder.yaml`` records the topics listed there.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from visuomotor.errors import ConfigError

__all__ = ["add_arguments", "node_command", "ros_executable", "run", "run_node_process"]

ROS_PACKAGE = "visuomotor_ros"


def ros_executable(name: str, package: str = ROS_PACKAGE) -> Path:
    """``<prefix>/lib/<package>/<name>`` of the built workspace (what ``ros2 run package name`` starts).

    Looked up under ``$AMENT_PREFIX_PATH`` (a sourced workspace), then ``install/`` of
    ``$VISUOMOTOR_ROOT`` and of the working directory.

    Raises:
        ConfigError: not built (the message says how to build and source it).
    """
    prefixes = [Path(p) for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p]
    roots = [Path(os.environ["VISUOMOTOR_ROOT"])] if os.environ.get("VISUOMOTOR_ROOT") else []
    prefixes += [r / "install" / package for r in (*roots, Path.cwd())]
    candidates = [p / "lib" / package / name for p in prefixes]
    for c in candidates:
        if c.is_file() and os.access(c, os.X_OK):
            return c
    raise ConfigError(
        f"no {package} executable {name!r} found (looked in {', '.join(str(c.parent) for c in candidates)}): "
        "build the workspace with scripts/setup.sh, then `source scripts/env.sh`"
    )


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_literal(v) for v in value) + "]"
    if isinstance(value, str):
        # Quoted when YAML would read it otherwise (empty, padded, or holding flow/mapping characters).
        if value == "" or value.strip() != value or any(c in value for c in ":,[]{}#&*!|>'\"%@`"):
            return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
        return value
    return repr(value)


def node_command(
    executable: str, params: Mapping[str, Any], params_files: Sequence[Path] = (), package: str = ROS_PACKAGE
) -> list[str]:
    """The command line of a node: executable, ``--ros-args``, params files, then single parameters."""
    cmd = [str(ros_executable(executable, package)), "--ros-args"]
    for f in params_files:
        if not Path(f).is_file():
            raise ConfigError(f"params file {f} not found")
        cmd += ["--params-file", str(f)]
    for key, value in params.items():
        cmd += ["-p", f"{key}:={_literal(value)}"]
    return cmd


def run_node_process(cmd: list[str], duration_s: float | None = None) -> int:
    """Run a node in the foreground until it exits, Ctrl-C, or ``duration_s``; stop it with SIGINT."""
    proc = subprocess.Popen(cmd)
    try:
        proc.wait(timeout=duration_s)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGINT)
    except KeyboardInterrupt:
        # The terminal sent SIGINT to the node as well; make sure it got one, then let it close the bag.
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
    try:
        return proc.wait(timeout=30.0)
    except KeyboardInterrupt:
        return proc.wait()
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("topics", nargs="*", metavar="TOPIC", help="topics to record (none: all topics)")
    parser.add_argument("--out", type=Path, required=True, help="bag directory to create (must not exist)")
    parser.add_argument(
        "--storage", choices=("mcap", "sqlite3"), default="mcap", help="storage (default mcap)"
    )
    parser.add_argument("--duration", type=float, help="stop after this many seconds (default: at Ctrl-C)")
    parser.add_argument("--exclude", nargs="+", default=[], metavar="TOPIC", help="topics never recorded")
    parser.add_argument(
        "--params",
        type=Path,
        help="recorder params file (e.g. config/recorder.yaml); TOPIC/--out override it",
    )
    parser.add_argument("--use-sim-time", action="store_true", help="log times from /clock (sim runs)")


def run(args: argparse.Namespace) -> int:
    if args.out.exists():
        raise ConfigError(
            f"{args.out} exists already: choose a new --out directory (bags are never overwritten)"
        )
    if args.duration is not None and not args.duration > 0:
        raise ConfigError(f"--duration must be positive, got {args.duration}")
    params: dict[str, Any] = {"output": str(args.out.resolve()), "storage": args.storage}
    if args.topics:
        params["topics"] = list(args.topics)
    if args.exclude:
        params["exclude"] = list(args.exclude)
    if args.use_sim_time:
        params["use_sim_time"] = True
    cmd = node_command("recorder", params, [args.params] if args.params else [])
    code = run_node_process(cmd, args.duration)
    if code == 0 and (args.out / "metadata.yaml").is_file():
        print(f"bag written: {args.out}")
    return code
