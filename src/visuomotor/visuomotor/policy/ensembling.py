"""Temporal ensembling of overlapping action chunks (ACT, Zhao et al. 2023, §IV-C).

The policy is queried every control step; step t is covered by the chunks predicted at steps
t−k+1 … t. The executed action is their weighted average with w_i = exp(−m·i), where i = 0 is the OLDEST
prediction for that step (so m > 0 favours older predictions, m = 0 is a plain mean). This is the online
form LeRobot's ``ACTTemporalEnsembler`` uses: a running weighted average per future step plus a count,
O(k·D) per update instead of keeping k chunks.
"""

from __future__ import annotations

import math

import numpy as np

from visuomotor.policy.configuration import PolicyError

__all__ = ["TemporalEnsembler", "ensemble_offline"]


class TemporalEnsembler:
    """Online exponential-weighted average of overlapping chunks.

    Args:
        chunk_size: k, actions per chunk.
        coeff: m ≥ 0 in w_i = exp(−m·i).

    Call :meth:`update` once per control step with that step's new chunk; it returns the action to execute
    now. :meth:`reset` at the start of an episode.
    """

    def __init__(self, chunk_size: int, coeff: float = 0.01) -> None:
        if chunk_size < 1:
            raise PolicyError(f"TemporalEnsembler chunk_size must be ≥ 1, got {chunk_size}")
        if not (math.isfinite(coeff) and coeff >= 0):
            raise PolicyError(f"TemporalEnsembler coeff must be a finite number ≥ 0, got {coeff}")
        self.chunk_size = int(chunk_size)
        self.coeff = float(coeff)
        self.weights = np.exp(-self.coeff * np.arange(self.chunk_size))  # (k,) w_0 … w_{k−1}
        self.weights_cumsum = np.cumsum(self.weights)  # (k,) Σ_{j≤i} w_j
        self._avg: np.ndarray | None = None  # (n, D) running average for steps t … t+n−1
        self._count: np.ndarray | None = None  # (n,) predictions folded into each row

    def reset(self) -> None:
        """Forget every pending prediction (new episode)."""
        self._avg = None
        self._count = None

    @property
    def pending(self) -> int:
        """Future steps with at least one prediction."""
        return 0 if self._avg is None else int(self._avg.shape[0])

    def pending_actions(self) -> np.ndarray:
        """(pending, D) copy of the running averages for steps t+1 … (what later ticks will refine)."""
        return np.zeros((0, 0)) if self._avg is None else self._avg.copy()

    def update(self, chunk: np.ndarray) -> np.ndarray:
        """Fold in the chunk predicted now and pop the action for this step.

        Args:
            chunk: (k, D) actions for steps t … t+k−1.

        Returns:
            (D,) float64, the ensembled action for step t.

        Raises:
            PolicyError: wrong shape (or D changed since the last reset) or non-finite values.
        """
        chunk = np.asarray(chunk, dtype=np.float64)
        if chunk.ndim != 2 or chunk.shape[0] != self.chunk_size:
            raise PolicyError(f"TemporalEnsembler expects a ({self.chunk_size}, D) chunk, got {chunk.shape}")
        if not np.isfinite(chunk).all():
            raise PolicyError("TemporalEnsembler got a chunk with NaN or inf; the policy output is invalid")
        if self._avg is None or self._count is None:
            avg, count = chunk.copy(), np.ones(self.chunk_size, dtype=np.int64)
        else:
            if self._avg.shape[1] != chunk.shape[1]:
                raise PolicyError(
                    f"TemporalEnsembler chunk width changed from {self._avg.shape[1]} to {chunk.shape[1]}; "
                    "call reset() between policies"
                )
            n = self._avg.shape[0]  # k − 1 pending rows, each covered `count` times
            c = self._count
            # Row j has c[j] predictions with weights w_0 … w_{c−1}; the new one gets w_{c[j]}.
            old = self._avg * self.weights_cumsum[c - 1][:, None]  # (n, D) weighted sums
            new = chunk[:n] * self.weights[np.minimum(c, self.chunk_size - 1)][:, None]
            c_next = np.minimum(c + 1, self.chunk_size)
            avg = np.concatenate([(old + new) / self.weights_cumsum[c_next - 1][:, None], chunk[n:]])
            count = np.concatenate([c_next, np.ones(self.chunk_size - n, dtype=np.int64)])
        # (k, D) → action for now + (k−1, D) pending
        action, self._avg, self._count = avg[0], avg[1:], count[1:]
        return action


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
