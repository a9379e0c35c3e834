"""gated_assignment against brute force over all permutations, plus the hand-made cases."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from visuomotor.tracking import gated_assignment


def _brute_force(cost: np.ndarray, max_cost: float = math.inf) -> tuple[int, float]:
    """(number of pairs, total cost) of the best gated matching, by enumerating every injective map.

    Every matching that uses allowed pairs only is part of some full injective map of the smaller side
    into the larger, so keeping the allowed pairs of each map enumerates them all. Best = most pairs,
    then lowest cost.
    """
    n, m = cost.shape
    with np.errstate(invalid="ignore"):
        allowed = np.isfinite(cost) & (cost <= max_cost)
    best = (0, 0.0)
    if n <= m:
        maps = ([(i, j) for i, j in enumerate(p)] for p in itertools.permutations(range(m), n))
    else:
        maps = ([(i, j) for j, i in enumerate(p)] for p in itertools.permutations(range(n), m))
    for pairs in maps:
        kept = [(i, j) for i, j in pairs if allowed[i, j]]
        score = (len(kept), sum(float(cost[i, j]) for i, j in kept))
        if score[0] > best[0] or (score[0] == best[0] and score[1] < best[1]):
            best = score
    return best


def _check_consistent(cost: np.ndarray, max_cost: float = math.inf) -> tuple[int, float]:
    result = gated_assignment(cost, max_cost)
    n, m = cost.shape
    rows, cols = result.matches[:, 0], result.matches[:, 1]
    assert len(set(rows.tolist())) == rows.size and len(set(cols.tolist())) == cols.size
    assert np.all(np.isfinite(cost[rows, cols])) and np.all(cost[rows, cols] <= max_cost)
    assert sorted([*rows.tolist(), *result.unmatched_rows.tolist()]) == list(range(n))
    assert sorted([*cols.tolist(), *result.unmatched_cols.tolist()]) == list(range(m))
    assert list(rows) == sorted(rows)
    return int(rows.size), result.total_cost(cost)


@pytest.mark.parametrize(
    "shape", [(1, 1), (2, 2), (3, 3), (4, 4), (5, 5), (6, 6), (2, 5), (5, 2), (3, 6), (6, 4)]
)
def test_equals_brute_force_on_random_matrices(shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(sum(shape) * 31 + shape[0])
    for trial in range(40):
        cost = rng.uniform(-1.0, 5.0, shape) if trial % 4 == 0 else rng.uniform(0.0, 10.0, shape)
        if trial % 2:  # forbidden pairs, like another class
            cost[rng.random(shape) < 0.3] = np.inf
        max_cost = [math.inf, 7.0, 3.0][trial % 3]
        count, total = _check_consistent(cost, max_cost)
        ref_count, ref_total = _brute_force(cost, max_cost)
        assert count == ref_count
        assert total == pytest.approx(ref_total, abs=1e-9)


def test_greedy_is_not_optimal_here_but_the_assignment_is() -> None:
    # Greedy takes the cheapest pair (0, 0) = 1, then must take (1, 1) = 10: total 11.
    # The optimum crosses: (0, 1) + (1, 0) = 2 + 2 = 4.
    cost = np.array([[1.0, 2.0], [2.0, 10.0]])
    result = gated_assignment(cost)
    assert result.matches.tolist() == [[0, 1], [1, 0]]
    assert result.total_cost(cost) == 4.0 == _brute_force(cost)[1]


def test_greedy_fails_on_a_rectangular_three_by_four_too() -> None:
    cost = np.array([[1.0, 1.5, 9.0, 9.0], [1.2, 9.0, 9.0, 9.0], [9.0, 1.1, 9.0, 2.0]])
    result = gated_assignment(cost)
    assert result.matches.tolist() == [[0, 1], [1, 0], [2, 3]]
    assert result.total_cost(cost) == pytest.approx(4.7)
    assert result.unmatched_cols.tolist() == [2]


def test_more_allowed_pairs_beat_a_lower_cost() -> None:
    # Alone, (0, 0) costs 1; but two gated matches exist ((0, 1) + (1, 0) = 4): a track gets its detection.
    cost = np.array([[1.0, 2.0], [2.0, np.inf]])
    assert gated_assignment(cost).matches.tolist() == [[0, 1], [1, 0]]


def test_gate_and_forbidden_pairs_leave_rows_and_columns_unmatched() -> None:
    cost = np.array([[0.5, 8.0, np.nan], [9.0, 9.5, np.inf], [7.0, 0.2, 3.0]])
    result = gated_assignment(cost, max_cost=5.0)
    assert result.matches.tolist() == [[0, 0], [2, 1]]
    assert result.unmatched_rows.tolist() == [1]
    assert result.unmatched_cols.tolist() == [2]


@pytest.mark.parametrize("shape", [(0, 0), (0, 3), (3, 0)])
def test_empty_problems(shape: tuple[int, int]) -> None:
    result = gated_assignment(np.zeros(shape))
    assert result.matches.shape == (0, 2)
    assert result.unmatched_rows.tolist() == list(range(shape[0]))
    assert result.unmatched_cols.tolist() == list(range(shape[1]))


def test_everything_forbidden_matches_nothing() -> None:
    result = gated_assignment(np.full((3, 2), np.inf))
    assert result.matches.shape == (0, 2)
    assert result.unmatched_rows.tolist() == [0, 1, 2] and result.unmatched_cols.tolist() == [0, 1]


def test_rejects_a_non_matrix() -> None:
    with pytest.raises(
        ValueError, match=r"cost must be a 2D \(tracks, detections\) matrix, got shape \(3,\)"
    ):
        gated_assignment(np.zeros(3))
