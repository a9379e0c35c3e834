"""Approximate-time matching of messages from several topics by stamp (no message_filters wheel exists).

Pure Python (no rclpy): callers push ``(stamp_ns, item)`` per input; a complete set — one item per input,
all stamps within ``slop_ns`` of each other — is returned once and everything older is discarded.
RealSense aligned depth shares the colour stamp exactly, so ``slop_ns`` only absorbs drivers that stamp
streams separately.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Sequence
from typing import Any

from visuomotor.errors import ConfigError

__all__ = ["ApproximateTimeSync"]


class ApproximateTimeSync:
    """Matches one item per input whose stamps lie within ``slop_ns``; thread-safe.

    Args:
        inputs: names of the inputs (e.g. ``("detections", "depth", "camera_info")``).
        slop_ns: largest stamp spread inside a matched set.
        queue_size: items kept per input; the oldest is dropped (and counted) beyond it.
    """

    def __init__(self, inputs: Sequence[str], slop_ns: int = 5_000_000, queue_size: int = 10) -> None:
        if len(inputs) < 2 or len(set(inputs)) != len(inputs):
            raise ConfigError(f"ApproximateTimeSync needs ≥ 2 distinct inputs, got {list(inputs)}")
        if slop_ns < 0 or queue_size < 1:
            raise ConfigError(f"slop_ns must be ≥ 0 and queue_size ≥ 1, got {slop_ns}, {queue_size}")
        self.inputs = tuple(inputs)
        self.slop_ns = int(slop_ns)
        self._queues: dict[str, deque[tuple[int, Any]]] = {n: deque(maxlen=queue_size) for n in inputs}
        self._lock = threading.Lock()
        self.matched = 0
        self.discarded = 0

    def push(self, name: str, stamp_ns: int, item: Any) -> dict[str, tuple[int, Any]] | None:
        """Add an item; return ``{input: (stamp_ns, item)}`` when it completes a set, else None."""
        with self._lock:
            queue = self._queues.get(name)
            if queue is None:
                raise ConfigError(f"unknown input {name!r}; inputs are {list(self.inputs)}")
            if len(queue) == queue.maxlen:
                self.discarded += 1
            queue.append((int(stamp_ns), item))
            return self._match(int(stamp_ns))

    def _match(self, pivot_ns: int) -> dict[str, tuple[int, Any]] | None:
        chosen: dict[str, tuple[int, Any]] = {}
        for name, queue in self._queues.items():
            best = min(queue, key=lambda entry: abs(entry[0] - pivot_ns), default=None)
            if best is None or abs(best[0] - pivot_ns) > self.slop_ns:
                return None
            chosen[name] = best
        stamps = [s for s, _ in chosen.values()]
        if max(stamps) - min(stamps) > self.slop_ns:
            return None
        # Everything up to the matched items is consumed; older leftovers will never match a newer set.
        for name, queue in self._queues.items():
            cut = chosen[name][0]
            while queue and queue[0][0] <= cut:
                if queue.popleft()[0] != cut:
                    self.discarded += 1
        self.matched += 1
        return chosen

    def reset(self) -> None:
        with self._lock:
            for queue in self._queues.values():
                queue.clear()
