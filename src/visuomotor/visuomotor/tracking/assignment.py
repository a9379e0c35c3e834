"""Gated optimal assignment of tracks (rows) to detections (columns).

A pair may be matched only when its cost is finite and within the gate. Among the matchings that use
allowed pairs only, the result has the most pairs and, among those, the lowest total cost — the optimum
of the gated problem, not the greedy one (tests compare it with brute force over all permutations).
It is solved with one call to scipy's ``linear_sum_assignment`` (the fastest solver we measured at tracking
sizes), with forbidden pairs priced so high that using one never pays.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

__all__ = ["Assignment", "gated_assignment"]


@dataclass(frozen=True, slots=True, eq=False)
class Assignment:
    """Result of :func:`gated_assignment`.

    Attributes:
        matches: (K, 2) int64 (row, column) pairs, sorted by row.
        unmatched_rows: (N − K,) int64 rows without a partner, ascending.
        unmatched_cols: (M − K,) int64 columns without a partner, ascending.
    """

    matches: np.ndarray
    unmatched_rows: np.ndarray
    unmatched_cols: np.ndarray

    def total_cost(self, cost: np.ndarray) -> float:
        """Sum of ``cost`` over the matched pairs."""
        return float(cost[self.matches[:, 0], self.matches[:, 1]].sum())


def gated_assignment(cost: np.ndarray, max_cost: float = math.inf) -> Assignment:
    """Optimal matching of rows to columns under a gate.

    Args:
        cost: (N, M) pair costs (any sign); ``inf`` or NaN marks a forbidden pair (e.g. another class).
        max_cost: pairs costing more than this are forbidden too.

    Returns:
        The matching with the most allowed pairs and, among those, the lowest total cost.

    Raises:
        ValueError: ``cost`` is not 2D.
    """
    cost = np.asarray(cost, dtype=np.float64)
    if cost.ndim != 2:
        raise ValueError(f"cost must be a 2D (tracks, detections) matrix, got shape {cost.shape}")
    n_rows, n_cols = cost.shape
    with np.errstate(invalid="ignore"):
        allowed = np.isfinite(cost) & (cost <= max_cost)
    # Only rows/columns with at least one allowed pair can be matched: a smaller problem, same optimum.
    rows = np.flatnonzero(allowed.any(axis=1))
    cols = np.flatnonzero(allowed.any(axis=0))
    matches = np.empty((0, 2), dtype=np.int64)
    if rows.size and cols.size:
        sub_allowed = allowed[rows][:, cols]
        sub = cost[rows][:, cols]
        lo, hi = float(sub[sub_allowed].min()), float(sub[sub_allowed].max())
        n = min(rows.size, cols.size)
        # Any assignment with one more allowed pair is cheaper than every one with fewer, since
        # big > (k + 1)·hi − k·lo for every k ≤ n: the count of allowed pairs is maximised first.
        big = abs(hi) + abs(lo) + n * (hi - lo) + 1.0
        r, c = linear_sum_assignment(np.where(sub_allowed, sub, big))
        keep = sub_allowed[r, c]
        matches = np.stack([rows[r[keep]], cols[c[keep]]], axis=1).astype(np.int64)
    free_rows = np.ones(n_rows, dtype=bool)
    free_rows[matches[:, 0]] = False
    free_cols = np.ones(n_cols, dtype=bool)
    free_cols[matches[:, 1]] = False
    return Assignment(matches, np.flatnonzero(free_rows), np.flatnonzero(free_cols))
