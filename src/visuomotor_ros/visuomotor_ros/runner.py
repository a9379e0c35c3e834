"""Process entry point shared by every node: init, spin, clean shutdown, config errors as exit code 2."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import rclpy
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor, SingleThreadedExecutor
from rclpy.node import Node

from visuomotor.errors import VisuomotorError

__all__ = ["run_node"]


def run_node(
    factory: Callable[[], Node], args: Sequence[str] | None = None, *, threads: int = 1
) -> int:
    """Create the node, spin it until SIGINT/SIGTERM, then call its ``close()`` (if any) and shut down.

    Returns:
        0 on a clean stop, 2 when the node refused its configuration (the error names the key).
    """
    rclpy.init(args=list(args) if args is not None else sys.argv)
    node: Node | None = None
    code = 0
    try:
        node = factory()
        executor = MultiThreadedExecutor(threads) if threads > 1 else SingleThreadedExecutor()
        executor.add_node(node)
        try:
            executor.spin()
        finally:
            # Final reports (JSON, tables) first: a slow executor shutdown must not lose them.
            _close(node)
            executor.shutdown(timeout_sec=5.0)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except VisuomotorError as err:
        # Configuration and model errors end the process with a message that names the fix.
        name = node.get_name() if node is not None else Path(sys.argv[0]).name  # failed in its constructor
        print(f"[{name}] error: {err}", file=sys.stderr)
        code = 2
    finally:
        if node is not None:
            _close(node)
            node.destroy_node()
        rclpy.try_shutdown()
    return code


def _close(node: Node) -> None:
    """Call the node's ``close()`` once (final reports, threads of its own)."""
    if getattr(node, "_visuomotor_closed", False):
        return
    node._visuomotor_closed = True  # type: ignore[attr-defined]
    close = getattr(node, "close", None)
    if callable(close):
        close()
