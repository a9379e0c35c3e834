"""Helpers for tests on a real rclpy graph: polling waits and a test-side node spinning in its own thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
import rclpy
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node


def wait_until(predicate: Callable[[], bool], timeout_s: float, what: str, period_s: float = 0.02) -> None:
    """Poll ``predicate`` until it holds; fail the test naming ``what`` on timeout (no fixed sleeps)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(period_s)
    pytest.fail(f"timed out after {timeout_s:.1f} s waiting for {what}")


class GraphProbe:
    """A node of the test process, spinning on a background executor; shut down in the right order."""

    def __init__(self, name: str) -> None:
        self.context = Context()
        rclpy.init(context=self.context)
        self.node = Node(name, context=self.context)
        # Single-threaded on purpose: rclpy's MultiThreadedExecutor lost half of a 30 Hz image stream here.
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._thread = threading.Thread(target=self.executor.spin, daemon=True)
        self._thread.start()

    def add_node(self, node: Node) -> None:
        self.executor.add_node(node)

    def wait_for_publishers(self, topic: str, count: int = 1, timeout_s: float = 20.0) -> None:
        wait_until(lambda: self.node.count_publishers(topic) >= count, timeout_s, f"a publisher on {topic}")

    def wait_for_subscribers(self, topic: str, count: int = 1, timeout_s: float = 20.0) -> None:
        wait_until(lambda: self.node.count_subscribers(topic) >= count, timeout_s, f"a subscriber on {topic}")

    def close(self) -> None:
        # rclpy.shutdown() while an executor thread still spins aborts the process: stop the executor first.
        self.executor.shutdown()
        self._thread.join(timeout=5.0)
        for node in list(self.executor.get_nodes()):
            close = getattr(node, "close", None)
            if callable(close):  # nodes with threads of their own stop them first
                close()
            node.destroy_node()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)
