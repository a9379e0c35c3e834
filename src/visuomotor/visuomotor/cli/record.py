"""Record topics of a running graph into a rosbag2 bag: ``visuomotor record --out DIR [TOPIC ...]``.

Runs the ``recorder`` node executable of the built workspace (the core never imports rclpy) and stops it
after ``--duration``, or when this command gets SIGINT (Ctrl-C) or SIGTERM (``docker stop``, systemd,
``kill``): the signal is passed on to the node, which closes the bag (``ros2 bag play``, ``visuomotor
replay`` and ``visuomotor eval`` read it), and the command waits for that — at most ``--stop-timeout``
seconds, then it kills the node and says how to repair the bag. Exit code 0 when the bag was closed
cleanly. No TOPIC records every topic (but ``/rosout`` and ``/parameter_events``); ``--params
config/recorder.yaml`` records the topics listed there.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import FrameType
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


#: how a node is asked to stop for each signal this command passes on (SIGHUP: the terminal went away)
_FORWARD = {signal.SIGINT: signal.SIGINT, signal.SIGTERM: signal.SIGTERM, signal.SIGHUP: signal.SIGTERM}
_PR_SET_PDEATHSIG = 1


def _stop_with_parent() -> None:  # pragma: no cover (runs in the child between fork and exec)
    """Linux: the node gets SIGTERM if this command dies without passing a signal on (e.g. SIGKILL)."""
    parent = os.getppid()
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before prctl took effect
        os.kill(os.getpid(), signal.SIGTERM)


def _exit_code(code: int) -> int:
    """A child's return code as a shell reports it (killed by signal N → 128 + N)."""
    return 128 - code if code < 0 else code


def run_node_process(
    cmd: list[str],
    duration_s: float | None = None,
    *,
    stop_timeout_s: float = 30.0,
    name: str = "node",
    on_timeout: str = "",
) -> int:
    """Run a node in the foreground until it exits, ``duration_s`` passes, or a stop signal arrives.

    The node runs in a session of its own, so it hears signals only through here, exactly once: the first
    SIGINT, SIGTERM or SIGHUP is passed on (SIGINT as SIGINT, the others as SIGTERM; after ``duration_s``,
    SIGINT), later ones are only reported. Then the node has ``stop_timeout_s`` to finish (the recorder
    drains its queue and closes the bag); past that it is killed (SIGKILL) and ``on_timeout`` printed. On
    Linux the node also gets SIGTERM if this process is killed outright.

    Returns:
        the node's exit code (128 + N when a signal N ended it); 1 when it had to be killed.
    """
    proc = subprocess.Popen(
        cmd, start_new_session=True, preexec_fn=_stop_with_parent if sys.platform == "linux" else None
    )
    asked_at: list[float] = []  # when the node was asked to stop (empty: not yet)

    def ask(sig: signal.Signals, why: str) -> None:
        asked_at.append(time.monotonic())
        if proc.poll() is None:
            proc.send_signal(sig)
            print(
                f"{why}: stopping the {name} (pid {proc.pid}) with {sig.name}; waiting up to "
                f"{stop_timeout_s:g} s for it to finish",
                file=sys.stderr,
                flush=True,
            )

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        sig = signal.Signals(signum)
        if not asked_at:
            ask(_FORWARD[sig], sig.name)
        else:
            left = stop_timeout_s - (time.monotonic() - asked_at[0])
            print(
                f"{sig.name} again: the {name} is still finishing (killed in {max(left, 0):.0f} s if not "
                "done)",
                file=sys.stderr,
                flush=True,
            )

    previous = {}
    if threading.current_thread() is threading.main_thread():  # handlers can be set only there
        previous = {sig: signal.signal(sig, on_signal) for sig in _FORWARD}
    try:
        started = time.monotonic()
        while True:
            try:
                return _exit_code(proc.wait(timeout=0.1))
            except subprocess.TimeoutExpired:
                pass
            now = time.monotonic()
            if not asked_at and duration_s is not None and now - started >= duration_s:
                ask(signal.SIGINT, f"{duration_s:g} s are over")
            if asked_at and now - asked_at[0] > stop_timeout_s:
                proc.kill()
                proc.wait()
                print(
                    f"the {name} (pid {proc.pid}) did not finish within {stop_timeout_s:g} s of being asked "
                    f"to stop: killed it (SIGKILL). {on_timeout}".rstrip(),
                    file=sys.stderr,
                    flush=True,
                )
                return 1
    except BaseException:
        if proc.poll() is None:  # never leave the node running behind us; let it finish if it can
            proc.terminate()
            try:
                proc.wait(stop_timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        raise
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


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
    parser.add_argument(
        "--stop-timeout",
        type=float,
        default=30.0,
        metavar="S",
        help="after Ctrl-C/SIGTERM/--duration, wait this long for the bag to close, then kill (default 30)",
    )


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
    if not args.stop_timeout > 0:
        raise ConfigError(f"--stop-timeout must be positive, got {args.stop_timeout}")
    cmd = node_command("recorder", params, [args.params] if args.params else [])
    repair = f"The bag keeps what was on disk: run `visuomotor bag repair {args.out}`."
    code = run_node_process(
        cmd, args.duration, stop_timeout_s=args.stop_timeout, name="recorder", on_timeout=repair
    )
    closed = (args.out / "metadata.yaml").is_file()
    if code == 0 and closed:
        print(f"bag written: {args.out}")
    elif args.out.exists() and not closed:
        print(f"the bag {args.out} was not closed (recorder exit code {code}). {repair}", file=sys.stderr)
        code = code or 1
    return code
