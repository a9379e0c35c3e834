"""Process entry point shared by every node: init, spin, clean shutdown, configuration errors as exit code 2.

Everything a user can get wrong before the node runs ends in ONE line naming the file and the key, exit
code 2, never a traceback: a params file that is not UTF-8 / not YAML / empty / for no node this process
runs (:mod:`visuomotor_ros.params`), rcl's own parse errors, a parameter of the wrong type, a bad topic
name, and every :class:`~visuomotor.errors.VisuomotorError` a constructor raises. At run time the node's
callbacks are guarded (:class:`visuomotor_ros.guard.CallbackGuard`), so no message can end the process.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import rclpy
from rclpy.exceptions import NameValidationException, ParameterException
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor, SingleThreadedExecutor
from rclpy.node import Node

from visuomotor.errors import ConfigError, VisuomotorError
from visuomotor_ros.params import (
    check_params_file_sections,
    load_params_file,
    parameter_source,
    params_files_in,
)

__all__ = ["check_startup_arguments", "run_node", "startup_error"]


def check_startup_arguments(argv: Sequence[str]) -> dict[Path, dict[str, dict[str, Any]]]:
    """Read and check every ``--params-file`` of ``argv`` before rcl parses them.

    Raises:
        ConfigError: one line naming the file and the problem.
    """
    return {path: load_params_file(path) for path in params_files_in(argv)}


def startup_error(
    err: BaseException, files: dict[Path, dict[str, dict[str, Any]]], node_fqn: str | None
) -> str | None:
    """One line for an error of rcl or rclpy while starting a node (None: not a startup error).

    ``ParameterException`` ends its text with the parameter's name; the line names the params file that
    set it (or the command line).
    """
    if isinstance(err, ParameterException):
        # rclpy formats it as "<message>: <parameter name(s)>".
        message, _, key = str(err).rpartition(": ")
        key = key.strip("[]'\" ")
        source = parameter_source(files, node_fqn, key) if node_fqn else None
        where = f"params file {source}" if source else "the command line (-p) or a params file"
        return f"parameter {key!r} from {where}: {message or err}"
    if isinstance(err, NameValidationException):
        return f"invalid topic/service name in the parameters: {err}"
    return None


def _rcl_line(text: str) -> str:
    """rcl's multi-part error text trimmed to what names the file and the problem."""
    first = text.strip().splitlines()[0] if text.strip() else "rcl error"
    return first.split(", at /")[0]


def run_node(
    factory: Callable[[], Node], args: Sequence[str] | None = None, *, threads: int = 1
) -> int:
    """Create the node, spin it until SIGINT/SIGTERM, then call its ``close()`` (if any) and shut down.

    Returns:
        0 on a clean stop, 2 when the node refused its configuration (one line names the file and key).
    """
    argv = list(args) if args is not None else sys.argv
    program = Path(sys.argv[0]).name
    try:
        files = check_startup_arguments(argv)
    except ConfigError as err:
        print(f"[{program}] error: {err}", file=sys.stderr)
        return 2
    try:
        rclpy.init(args=argv)
    except RuntimeError as err:  # _rclpy.RCLError: rcl could not parse the arguments or a params file
        print(f"[{program}] error: {_rcl_line(str(err))}", file=sys.stderr)
        return 2
    node: Node | None = None
    code = 0
    try:
        node = factory()
        for line in check_params_file_sections(files, [node.get_fully_qualified_name()]):
            node.get_logger().warning(line)
        executor = MultiThreadedExecutor(threads) if threads > 1 else SingleThreadedExecutor()
        executor.add_node(node)
        try:
            _spin(executor, node)
        finally:
            # Final reports (JSON, tables) first: a slow executor shutdown must not lose them.
            _close(node)
            executor.shutdown(timeout_sec=5.0)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except VisuomotorError as err:
        # Configuration and model errors end the process with a message that names the fix.
        name = node.get_name() if node is not None else program  # failed in its constructor
        print(f"[{name}] error: {err}", file=sys.stderr)
        code = 2
    except (ParameterException, NameValidationException) as err:
        fqn = node.get_fully_qualified_name() if node is not None else _default_fqn(argv, program)
        print(f"[{program}] error: {startup_error(err, files, fqn)}", file=sys.stderr)
        code = 2
    finally:
        if node is not None:
            _close(node)
            node.destroy_node()
        rclpy.try_shutdown()
    return code


def _spin(executor: SingleThreadedExecutor | MultiThreadedExecutor, node: Node) -> None:
    """Spin until shutdown; an exception that escapes rclpy itself (not a callback: those are guarded,
    e.g. a sample rclpy cannot convert) is logged, counted and spinning goes on — the node must keep
    sending HOLDs and listening to the e-stop."""
    failures = 0
    last_log = 0.0
    while rclpy.ok(context=node.context):
        try:
            executor.spin()
            return
        except (KeyboardInterrupt, ExternalShutdownException):
            raise
        except Exception as err:  # the node never dies from what arrives
            if not rclpy.ok(context=node.context):
                return
            failures += 1
            now = time.monotonic()
            if now - last_log > 2.0:
                last_log = now
                node.get_logger().error(
                    f"executor: dropped a failed take/callback ({failures} so far): {err!r}"
                )


def _default_fqn(argv: Sequence[str], program: str) -> str:
    """The node's name when its constructor failed: ``-r __node:=NAME``, else the executable's name (every
    single-node executable of this package is named after its node)."""
    for arg in argv:
        if arg.startswith("__node:=") or arg.startswith("__name:="):
            return "/" + arg.split(":=", 1)[1]
    return "/" + program


def _close(node: Node) -> None:
    """Call the node's ``close()`` once (final reports, threads of its own)."""
    if getattr(node, "_visuomotor_closed", False):
        return
    node._visuomotor_closed = True  # type: ignore[attr-defined]
    close = getattr(node, "close", None)
    if callable(close):
        close()
