"""TemporalEnsembler against a plain offline computation (weighted average over the covering chunks)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from visuomotor.policy import PolicyError, TemporalEnsembler, ensemble_offline


def _hand_rolled(chunks: np.ndarray, coeff: float) -> np.ndarray:
    """Independent of the module: collect every prediction of step t in arrival order, then weight."""
    T, k, _ = chunks.shape
    out = []
    for t in range(T):
        preds = [chunks[s, t - s] for s in range(T) if s <= t < s + k]  # oldest first
        w = np.array([math.exp(-coeff * i) for i in range(len(preds))])
        out.append((w[:, None] * np.stack(preds)).sum(0) / w.sum())
    return np.stack(out)


@pytest.mark.parametrize(
    ("T", "k", "coeff"), [(25, 5, 0.01), (25, 5, 0.0), (7, 10, 0.5), (12, 1, 0.3), (30, 10, 2.0)]
)
def test_online_matches_offline(T: int, k: int, coeff: float) -> None:
    rng = np.random.default_rng(T * 100 + k)
    chunks = rng.normal(size=(T, k, 4))
    ens = TemporalEnsembler(k, coeff)
    online = np.stack([ens.update(c) for c in chunks])
    expected = _hand_rolled(chunks, coeff)
    np.testing.assert_allclose(online, expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ensemble_offline(chunks, coeff), expected, rtol=1e-12, atol=1e-12)


def test_first_action_is_the_first_chunks_head_and_zero_coeff_is_a_mean() -> None:
    ens = TemporalEnsembler(3, 0.0)
    a = np.arange(6.0).reshape(3, 2)
    np.testing.assert_array_equal(ens.update(a), a[0])
    b = a + 10.0
    np.testing.assert_allclose(ens.update(b), (a[1] + b[0]) / 2)


def test_older_predictions_weigh_more_with_positive_coeff() -> None:
    ens = TemporalEnsembler(2, 1.0)
    ens.update(np.zeros((2, 1)))
    got = float(ens.update(np.ones((2, 1)))[0])
    assert got == pytest.approx(math.exp(-1) / (1 + math.exp(-1)))  # w0 = 1 on the old 0, w1 = e^-1 on 1
    assert got < 0.5


def test_reset_forgets_pending_predictions() -> None:
    ens = TemporalEnsembler(4, 0.01)
    ens.update(np.full((4, 2), 5.0))
    assert ens.pending == 3
    ens.reset()
    assert ens.pending == 0
    np.testing.assert_array_equal(ens.update(np.ones((4, 2))), [1.0, 1.0])


def test_bad_input_is_rejected() -> None:
    with pytest.raises(PolicyError, match="chunk_size must be ≥ 1"):
        TemporalEnsembler(0)
    with pytest.raises(PolicyError, match="coeff"):
        TemporalEnsembler(3, -0.1)
    ens = TemporalEnsembler(3)
    with pytest.raises(PolicyError, match=r"expects a \(3, D\) chunk"):
        ens.update(np.zeros((4, 2)))
    with pytest.raises(PolicyError, match="NaN or inf"):
        ens.update(np.full((3, 2), np.nan))
    ens.update(np.zeros((3, 2)))
    with pytest.raises(PolicyError, match="width changed"):
        ens.update(np.zeros((3, 5)))
