"""Callbacks that cannot kill their node: every subscription callback and timer of a node runs guarded.

rclpy lets an exception raised in a callback out of ``executor.spin()``, which ends the process: one
malformed ``/joint_states`` message used to kill the commander, and with it the HOLDs and the e-stop.
:class:`CallbackGuard` wraps each callback: a :class:`~visuomotor.errors.VisuomotorError` (the boundary's
verdict on a message, e.g. ``InvalidJointState``) is counted under its reason, logged at most once per
``log_period_s`` per (callback, reason) with the reason, and the message is dropped; any other exception
is a bug, counted as ``internal_error`` and logged with its traceback (rate-limited the same way). The
node keeps running either way. The counts go to the node's diagnostics.
"""

from __future__ import annotations

import functools
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

from rclpy.executors import ExternalShutdownException
from rclpy.node import Node

from visuomotor.errors import VisuomotorError

__all__ = ["INTERNAL_ERROR", "CallbackGuard"]

F = TypeVar("F", bound=Callable[..., Any])

#: Reason under which unexpected exceptions (bugs, not bad input) are counted.
INTERNAL_ERROR = "internal_error"


class CallbackGuard:
    """Counts and logs what a node's callbacks dropped; wraps callbacks so nothing escapes them.

    Args:
        node: whose logger is used.
        log_period_s: at most one log line per (callback, reason) in this period.
    """

    def __init__(self, node: Node, log_period_s: float = 2.0) -> None:
        self._node = node
        self._period_ns = int(log_period_s * 1e9)
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, str], int] = {}
        self._last_log_ns: dict[tuple[str, str], int] = {}

    @property
    def counts(self) -> dict[str, int]:
        """``{"<callback>: <reason>": count}`` of everything dropped so far."""
        with self._lock:
            return {f"{name}: {reason}": n for (name, reason), n in sorted(self._counts.items())}

    @property
    def total(self) -> int:
        """How many messages / timer runs were dropped in all."""
        with self._lock:
            return sum(self._counts.values())

    def dropped(self, name: str, reason: str, detail: str, *, trace: str = "") -> None:
        """Count a dropped message of callback ``name`` under ``reason`` and log it (rate-limited)."""
        key = (name, reason)
        now = time.monotonic_ns()
        with self._lock:
            count = self._counts.get(key, 0) + 1
            self._counts[key] = count
            last = self._last_log_ns.get(key)
            log = last is None or now - last >= self._period_ns
            if log:
                self._last_log_ns[key] = now
        if log:
            suffix = f" ({count} so far)" if count > 1 else ""
            text = f"{name}: dropped ({reason}): {detail}{suffix}"
            if trace:
                self._node.get_logger().error(f"{text}\n{trace}")
            else:
                self._node.get_logger().warning(text)

    def wrap(self, name: str, callback: F) -> F:
        """``callback`` guarded; keeps its signature (rclpy passes ``MessageInfo`` to two-argument ones)."""

        @functools.wraps(callback)
        def guarded(*args: Any) -> Any:
            try:
                return callback(*args)
            except ExternalShutdownException:
                raise
            except VisuomotorError as err:
                self.dropped(name, getattr(err, "reason", type(err).__name__), str(err))
            except Exception as err:  # a node never dies from a message: counted and logged
                self.dropped(name, INTERNAL_ERROR, repr(err), trace=traceback.format_exc(limit=6))
            return None

        return guarded  # type: ignore[return-value]
