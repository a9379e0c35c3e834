"""Latency compensation: aim where a moving target will be when the command acts, not where it was seen.

A frame's tracks describe the world at the camera stamp. By the time the policy ticks on them the world
has moved on by (tick time − camera stamp), and the command it sends needs a little longer still to move
the arm (policy → commander → driver). For a target moving at v (a cube on a conveyor) the policy must
therefore be shown

    p_aim = p(stamp) + v · L,   L = (t_tick − t_stamp) + L_command

where ``t_tick − t_stamp`` is measured per frame and ``L_command`` is a configured estimate of the rest
(``PolicyConfig.command_latency_s``): the hops to the driver and, mostly, how much longer the arm takes
to follow the commander's trajectory than the one-period step the demos were recorded with — measured
in lock-step at 0.1 m/s: the TCP trailed the cube by 10 mm during the descent with 0, by 1 mm with 0.15 s.
Two ways to measure the first part:

- from the frame's trail (:func:`trail_latency_s`): the capture's start on CLOCK_MONOTONIC (the sim's
  ``render`` stage on ``/sim/frame_trail``, shared by every process on the host) to the tick, times the
  world's clock rate (:class:`ClockRate`: a sim that falls behind the wall clock on a loaded machine
  moves its cubes that much slower; a lock-step sim, standing still while the pipeline computes, has
  rate 0; the robot's world has rate 1);
- from the stamps (:func:`frame_latency_s`): the node's clock − the camera stamp — sim time under
  ``use_sim_time``, where ``/clock`` arrives late on a loaded machine and the age reads short; on the
  robot (system clock, no sim) it is exact.

The demos were recorded with zero latency (ground truth, the sim waiting for every command), so
compensating is what makes a real-time observation look like a training one.

While the gripper hides the target, its track coasts on the Kalman velocity, which is too noisy to
extrapolate over seconds (±10 mm/s measured on the belt: 2.5 cm after 2.5 s). :class:`LinearMotionFit`
fits p(t) = p₀ + v·t to the clear views of the last ``window_s`` instead (a conveyor moves at constant
velocity): ±1 mm/s from 20 views over 2 s.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from visuomotor.policy.errors import PolicyError

__all__ = ["ClockRate", "LinearMotionFit", "aim_point", "frame_latency_s", "trail_latency_s"]


def frame_latency_s(stamp_ns: int, now_ns: int, command_latency_s: float = 0.0) -> float:
    """L = (now − stamp) + the expected command latency, seconds; a clock behind the stamp counts as 0.

    Args:
        stamp_ns: the camera stamp of the frame the observation comes from, ns.
        now_ns: the policy tick's time on the same clock, ns.
        command_latency_s: expected time from the tick until the command moves the arm, s (≥ 0).

    Raises:
        PolicyError: a negative or non-finite ``command_latency_s``.
    """
    if not (math.isfinite(command_latency_s) and command_latency_s >= 0.0):
        raise PolicyError(f"command latency must be a finite number ≥ 0 s, got {command_latency_s}")
    return max(0, int(now_ns) - int(stamp_ns)) * 1e-9 + command_latency_s


def trail_latency_s(
    capture_mono_ns: int, now_mono_ns: int, command_latency_s: float = 0.0, rate: float = 1.0
) -> float:
    """L = rate · (now − capture) + command latency, seconds of the world's clock.

    Args:
        capture_mono_ns: CLOCK_MONOTONIC time the frame was captured (its trail's first stage start), ns.
        now_mono_ns: CLOCK_MONOTONIC time of the policy tick, ns.
        command_latency_s: expected time from the tick until the arm follows the command, world seconds
            (the commander's trajectory runs on the world's clock), ≥ 0.
        rate: world seconds per wall second (:class:`ClockRate`; 1 on the robot).

    Raises:
        PolicyError: a negative or non-finite ``command_latency_s`` or ``rate``.
    """
    if not (math.isfinite(rate) and rate >= 0.0):
        raise PolicyError(f"clock rate must be a finite number ≥ 0, got {rate}")
    return rate * frame_latency_s(capture_mono_ns, now_mono_ns) + frame_latency_s(0, 0, command_latency_s)


class ClockRate:
    """World seconds per wall second, from (stamp, capture time on CLOCK_MONOTONIC) pairs of frames.

    The ratio of differences over the last ``window_s`` of wall time, so a constant transport delay
    cancels. 1.0 until two frames at least ``min_span_s`` apart have been seen.
    """

    def __init__(self, window_s: float = 2.0, min_span_s: float = 0.3) -> None:
        self.window_ns = round(window_s * 1e9)
        self.min_span_ns = round(min_span_s * 1e9)
        self._pairs: deque[tuple[int, int]] = deque()

    def reset(self) -> None:
        """Forget every frame."""
        self._pairs.clear()

    def add(self, stamp_ns: int, capture_mono_ns: int) -> None:
        """A frame stamped ``stamp_ns`` (world clock) captured at ``capture_mono_ns`` (CLOCK_MONOTONIC)."""
        if self._pairs and (capture_mono_ns <= self._pairs[-1][1] or stamp_ns < self._pairs[-1][0]):
            self._pairs.clear()  # the world's clock was reset (a new scene): start afresh
        self._pairs.append((int(stamp_ns), int(capture_mono_ns)))
        while self._pairs[0][1] < capture_mono_ns - self.window_ns:
            self._pairs.popleft()

    @property
    def rate(self) -> float:
        """World seconds per wall second over the window (1.0 without enough frames)."""
        if len(self._pairs) < 2 or self._pairs[-1][1] - self._pairs[0][1] < self.min_span_ns:
            return 1.0
        (s0, m0), (s1, m1) = self._pairs[0], self._pairs[-1]
        return (s1 - s0) / (m1 - m0)


def aim_point(p_m: np.ndarray, v_m_s: np.ndarray, latency_s: float) -> np.ndarray:
    """(3,) p + v·latency: where a target at ``p_m`` (3,) moving at ``v_m_s`` (3,) is ``latency_s`` later."""
    return np.asarray(p_m, dtype=np.float64) + np.asarray(v_m_s, dtype=np.float64) * float(latency_s)


class LinearMotionFit:
    """Least-squares constant-velocity fit p(t) = p̄ + v·(t − t̄) over the samples of the last ``window_s``.

    Args:
        window_s: samples older than this (before the newest) are dropped.
        min_samples: fewer samples give no estimate.
        min_span_s: samples spanning less time give no estimate (the velocity would be noise).
    """

    def __init__(self, window_s: float = 2.0, min_samples: int = 5, min_span_s: float = 0.4) -> None:
        if not (math.isfinite(window_s) and window_s > 0):
            raise PolicyError(f"LinearMotionFit window_s must be positive, got {window_s}")
        self.window_ns = round(window_s * 1e9)
        self.min_samples = max(2, int(min_samples))
        self.min_span_ns = round(min_span_s * 1e9)
        self._samples: deque[tuple[int, np.ndarray]] = deque()

    def reset(self) -> None:
        """Forget every sample."""
        self._samples.clear()

    def __len__(self) -> int:
        return len(self._samples)

    @property
    def last_ns(self) -> int | None:
        """Stamp of the newest sample (None when empty)."""
        return self._samples[-1][0] if self._samples else None

    def add(self, stamp_ns: int, p_m: np.ndarray) -> None:
        """Add a position (3,) seen at ``stamp_ns``; a stamp not after the newest one is ignored."""
        if self._samples and stamp_ns <= self._samples[-1][0]:
            return
        self._samples.append((int(stamp_ns), np.asarray(p_m, dtype=np.float64).copy()))
        while self._samples[0][0] < stamp_ns - self.window_ns:
            self._samples.popleft()

    def estimate(self, at_ns: int) -> tuple[np.ndarray, np.ndarray] | None:
        """(position at ``at_ns`` (3,), velocity (3,)) from the fit, or None with too few samples."""
        if len(self._samples) < self.min_samples:
            return None
        t = np.array([s for s, _ in self._samples], dtype=np.float64)
        if t[-1] - t[0] < self.min_span_ns:
            return None
        p = np.stack([x for _, x in self._samples])  # (n, 3)
        t_mean = t.mean()
        dt = (t - t_mean) * 1e-9  # (n,) seconds about the mean: a well-conditioned fit
        p_mean = p.mean(axis=0)
        v = (dt[:, None] * (p - p_mean)).sum(axis=0) / float(dt @ dt)
        return p_mean + v * (at_ns - t_mean) * 1e-9, v
