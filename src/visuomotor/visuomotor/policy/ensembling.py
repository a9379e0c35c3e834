"""Temporal ensembling of overlapping action chunks (ACT, Zhao et al. 2023, §IV-C), on a time axis.

The policy is queried every tick; a chunk predicted at time s holds the actions for s, s + P, …,
s + (k−1)·P (P the model's control period). The action executed at time t is the weighted average of
every stored chunk's prediction for t, with w_i = exp(−m·i), where i = 0 is the OLDEST chunk covering t
(m > 0 favours older predictions, m = 0 is a plain mean) — as in ACT and LeRobot's
``ACTTemporalEnsembler``.

ACT ticks exactly once per period. Here ticks may come at any rate (each camera frame's tracks, 30 Hz for a
10 Hz model): a chunk's prediction for a time between two of its steps is the linear interpolation of
those steps. At one tick per period every query time falls on a step, no interpolation happens and the
result equals the step-indexed form exactly (:func:`ensemble_offline` is the reference; a test checks
both). Written here because LeRobot's ensembler is step-indexed only.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from visuomotor.policy.errors import PolicyError

__all__ = ["TemporalEnsembler", "ensemble_offline"]


class TemporalEnsembler:
    """Exponential-weighted average of overlapping chunks on a time axis.

    Args:
        chunk_size: k, actions per chunk.
        coeff: m ≥ 0 in w_i = exp(−m·i).
        period_ns: P, time between a chunk's steps (the model's control period).

    Call :meth:`update` each tick with that tick's new chunk and its time; it returns the action for now.
    :meth:`pending_actions` gives the plan after now, one row per period. :meth:`reset` at the start of an
    episode. Without times, tick n is at n·P (one tick per period, ACT's form).
    """

    def __init__(self, chunk_size: int, coeff: float = 0.01, period_ns: int = 100_000_000) -> None:
        if chunk_size < 1:
            raise PolicyError(f"TemporalEnsembler chunk_size must be ≥ 1, got {chunk_size}")
        if not (math.isfinite(coeff) and coeff >= 0):
            raise PolicyError(f"TemporalEnsembler coeff must be a finite number ≥ 0, got {coeff}")
        if period_ns <= 0:
            raise PolicyError(f"TemporalEnsembler period_ns must be > 0, got {period_ns}")
        self.chunk_size = int(chunk_size)
        self.coeff = float(coeff)
        self.period_ns = int(period_ns)
        self._chunks: deque[tuple[int, np.ndarray]] = deque()  # (start_ns, (k, D)), oldest first
        self._now_ns: int | None = None

    def reset(self) -> None:
        """Forget every pending prediction (new episode)."""
        self._chunks.clear()
        self._now_ns = None

    @property
    def pending(self) -> int:
        """Future steps (one per period after now) with at least one prediction."""
        return 0 if self._now_ns is None else len(self._plan(self._now_ns + self.period_ns, self.chunk_size))

    def pending_actions(self) -> np.ndarray:
        """(pending, D) the ensembled plan at now + P, now + 2P, … (what later ticks will refine)."""
        if self._now_ns is None:
            return np.zeros((0, 0))
        return self._plan(self._now_ns + self.period_ns, self.chunk_size)

    def update(self, chunk: np.ndarray, stamp_ns: int | None = None) -> np.ndarray:
        """Fold in the chunk predicted at ``stamp_ns`` and return the ensembled action for that time.

        Args:
            chunk: (k, D) actions for stamp, stamp + P, ….
            stamp_ns: the tick's time (the observation's camera stamp); None = one period after the last.

        Returns:
            (D,) float64, the ensembled action for ``stamp_ns``.

        Raises:
            PolicyError: wrong shape (or D changed since the last reset), non-finite values, or a time
                not after the last tick's.
        """
        chunk = np.asarray(chunk, dtype=np.float64)
        if chunk.ndim != 2 or chunk.shape[0] != self.chunk_size:
            raise PolicyError(f"TemporalEnsembler expects a ({self.chunk_size}, D) chunk, got {chunk.shape}")
        if not np.isfinite(chunk).all():
            raise PolicyError("TemporalEnsembler got a chunk with NaN or inf; the policy output is invalid")
        if self._chunks and self._chunks[-1][1].shape[1] != chunk.shape[1]:
            raise PolicyError(
                f"TemporalEnsembler chunk width changed from {self._chunks[-1][1].shape[1]} to "
                f"{chunk.shape[1]}; call reset() between policies"
            )
        if stamp_ns is None:
            stamp_ns = 0 if self._now_ns is None else self._now_ns + self.period_ns
        if self._now_ns is not None and stamp_ns <= self._now_ns:
            raise PolicyError(
                f"TemporalEnsembler tick at {stamp_ns} ns is not after the last one ({self._now_ns} ns)"
            )
        horizon = (self.chunk_size - 1) * self.period_ns
        while self._chunks and self._chunks[0][0] + horizon < stamp_ns:  # wholly in the past
            self._chunks.popleft()
        self._chunks.append((int(stamp_ns), chunk))
        self._now_ns = int(stamp_ns)
        return self._plan(stamp_ns, 1)[0]

    def _plan(self, start_ns: int, rows: int) -> np.ndarray:
        """Ensembled actions at start, start + P, … for up to ``rows`` rows, ending at the first time no
        chunk covers."""
        out = []
        P, last = self.period_ns, self.chunk_size - 1
        for r in range(rows):
            t = start_ns + r * P
            num, den, i = None, 0.0, 0
            for s, chunk in self._chunks:  # oldest first: i = 0 weighs w_0
                if not s <= t <= s + last * P:
                    continue
                j, rem = divmod(t - s, P)
                a = chunk[j] if rem == 0 else chunk[j] + (chunk[j + 1] - chunk[j]) * (rem / P)
                w = math.exp(-self.coeff * i)
                num = w * a if num is None else num + w * a
                den += w
                i += 1
            if num is None:
                break
            out.append(num / den)
        return np.stack(out) if out else np.zeros((0, self._chunks[-1][1].shape[1] if self._chunks else 0))


def ensemble_offline(chunks: np.ndarray, coeff: float) -> np.ndarray:
    """Reference computation: the ensembled action at every step from all chunks at once.

    Args:
        chunks: (T, k, D), chunk t predicted at step t for steps t … t+k−1.
        coeff: m in w_i = exp(−m·i), i = 0 the oldest chunk covering the step.

    Returns:
        (T, D) float64: a_t = Σ_i w_i·chunks[s_i, t−s_i] / Σ_i w_i over s_i = max(0, t−k+1) + i ≤ t.
    """
    chunks = np.asarray(chunks, dtype=np.float64)
    T, k, D = chunks.shape
    out = np.zeros((T, D))
    for t in range(T):
        num, den = np.zeros(D), 0.0
        for i, s in enumerate(range(max(0, t - k + 1), t + 1)):
            w = math.exp(-coeff * i)
            num += w * chunks[s, t - s]
            den += w
        out[t] = num / den
    return out
