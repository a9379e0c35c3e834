"""Device clock → host clock: a sliding-window minimum of the observed offset.

Method. For every frame we know its device timestamp ``d`` (exposure, device clock) and the host time ``h``
at which we received it. ``h − d = offset + latency``, where ``offset`` is the (slowly drifting) difference
between the clocks and ``latency ≥ latency_min`` is transport + driver + queueing delay, which only ever
*adds*. The smallest ``h − d`` seen over a recent window is therefore the best estimate of
``offset + latency_min``, and ``stamp = d + min(h − d)`` carries the device's own frame spacing (no
transport jitter leaks into it) while never lying in the future (``stamp ≤ h``).

What it cannot do: separate ``offset`` from ``latency_min``; stamps are late by the smallest transport delay
seen (typically 1–5 ms over USB 3; D4xx *global time* removes it, because librealsense measures the clock
offset with round-trip register reads — prefer it when the device supports it). The window bounds drift:
at 50 ppm a 10 s window lets the estimate age by ≤ 0.5 ms. A device clock that jumps backwards (32-bit
wrap, device reset, reconnect) resets the estimator.
"""

from __future__ import annotations

import math
from collections import deque

from visuomotor.errors import ConfigError

__all__ = ["ClockOffsetEstimator"]


class ClockOffsetEstimator:
    """Maps device timestamps to host time with a sliding-window minimum of ``host − device``.

    Args:
        window_s: how long an observed offset stays eligible as the minimum (seconds).
    """

    def __init__(self, window_s: float = 10.0) -> None:
        if not (math.isfinite(window_s) and window_s > 0):
            raise ConfigError(f"timestamps.offset_window_s must be positive, got {window_s}")
        self._window_ns = int(window_s * 1e9)
        # Monotonic deque of (host_ns, offset_ns): offsets strictly increase from front to back, so the
        # front is the window minimum (O(1) amortised per update).
        self._samples: deque[tuple[int, int]] = deque()
        self._last_device_ns: int | None = None
        self.resets = 0

    @property
    def offset_ns(self) -> int | None:
        """Current estimate of ``host − device`` (ns), ``None`` before the first sample."""
        return self._samples[0][1] if self._samples else None

    def reset(self) -> None:
        """Forget every sample (a new device clock: reconnect, device reset)."""
        self._samples.clear()
        self._last_device_ns = None
        self.resets += 1

    def update(self, device_ns: int, host_ns: int) -> int:
        """Add one observation and return the host-time stamp of ``device_ns``.

        Args:
            device_ns: the frame's device timestamp (ns, device clock).
            host_ns: host time when the frame was received (ns, host clock).

        Returns:
            ``device_ns + min(host − device)`` over the window, in host-clock ns (≤ ``host_ns``).
        """
        if self._last_device_ns is not None and device_ns < self._last_device_ns:
            self.reset()  # the device clock went backwards: old offsets describe another clock
        self._last_device_ns = device_ns
        offset = host_ns - device_ns
        while self._samples and self._samples[-1][1] >= offset:
            self._samples.pop()
        self._samples.append((host_ns, offset))
        while self._samples[0][0] < host_ns - self._window_ns:
            self._samples.popleft()
        return device_ns + self._samples[0][1]
