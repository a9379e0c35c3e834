"""The batched constant-velocity Kalman filter against textbook per-track formulas."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.linalg import expm

from visuomotor.tracking import (
    cv_process_noise,
    cv_transition,
    kf_initiate,
    kf_predict,
    kf_project,
    kf_update,
    mahalanobis_sq,
)

H = np.hstack([np.eye(3), np.zeros((3, 3))])


def _random_spd(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    A = rng.normal(size=(n, dim, dim))
    return A @ A.transpose(0, 2, 1) + 0.1 * np.eye(dim)


def test_process_noise_equals_van_loan_discretisation() -> None:
    # Continuous model ẋ = A·x + G·w, E[w wᵀ] = σ_a²·I: Van Loan's matrix exponential gives F and Q exactly.
    dt, sigma = 0.07, 1.7
    A = np.zeros((6, 6))
    A[:3, 3:] = np.eye(3)
    G = np.vstack([np.zeros((3, 3)), np.eye(3)])
    M = np.zeros((12, 12))
    M[:6, :6] = -A
    M[:6, 6:] = G @ G.T * sigma**2
    M[6:, 6:] = A.T
    E = expm(M * dt)
    F = E[6:, 6:].T
    Q = F @ E[:6, 6:]
    np.testing.assert_allclose(cv_transition(dt), F, atol=1e-12)
    np.testing.assert_allclose(cv_process_noise(dt, sigma), Q, atol=1e-12)


def test_batched_predict_equals_per_track_formula() -> None:
    rng = np.random.default_rng(0)
    x, P = rng.normal(size=(4, 6)), _random_spd(rng, 4, 6)
    xp, Pp = kf_predict(x, P, 0.033, 0.8)
    F, Q = cv_transition(0.033), cv_process_noise(0.033, 0.8)
    for i in range(4):
        np.testing.assert_allclose(xp[i], F @ x[i], atol=1e-12)
        np.testing.assert_allclose(Pp[i], F @ P[i] @ F.T + Q, atol=1e-12)
    x0, P0 = kf_predict(x, P, 0.0, 0.8)
    np.testing.assert_allclose(x0, x, atol=0)
    np.testing.assert_allclose(P0, P, atol=1e-15)


def test_batched_update_equals_textbook_gain_form() -> None:
    rng = np.random.default_rng(1)
    x, P, z = rng.normal(size=(3, 6)), _random_spd(rng, 3, 6), rng.normal(size=(3, 3))
    std = 0.02
    xu, Pu = kf_update(x, P, z, std)
    R = np.eye(3) * std**2
    for i in range(3):
        S = H @ P[i] @ H.T + R
        K = P[i] @ H.T @ np.linalg.inv(S)
        np.testing.assert_allclose(xu[i], x[i] + K @ (z[i] - H @ x[i]), atol=1e-12)
        np.testing.assert_allclose(Pu[i], (np.eye(6) - K @ H) @ P[i], atol=1e-10)
        np.testing.assert_allclose(Pu[i], Pu[i].T, atol=1e-14)  # Joseph form keeps symmetry exactly


def test_projection_and_mahalanobis_equal_a_loop() -> None:
    rng = np.random.default_rng(2)
    x, P, z = rng.normal(size=(3, 6)), _random_spd(rng, 3, 6), rng.normal(size=(5, 3))
    z_pred, S = kf_project(x, P, 0.01)
    np.testing.assert_allclose(z_pred, x[:, :3])
    d2 = mahalanobis_sq(z_pred, S, z)
    assert d2.shape == (3, 5)
    for i in range(3):
        np.testing.assert_allclose(S[i], H @ P[i] @ H.T + 1e-4 * np.eye(3), atol=1e-14)
        for j in range(5):
            diff = z[j] - z_pred[i]
            assert d2[i, j] == pytest.approx(diff @ np.linalg.solve(S[i], diff), rel=1e-10)


def test_filter_recovers_a_constant_velocity_from_noisy_positions() -> None:
    rng = np.random.default_rng(3)
    dt, v = 1 / 30, np.array([0.12, -0.05, 0.0])
    truth = np.array([0.6, 0.1, 0.025])
    x, P = kf_initiate(truth[None] + rng.normal(0, 0.003, (1, 3)), 0.01, 0.3)
    assert x.shape == (1, 6) and P.shape == (1, 6, 6)
    np.testing.assert_allclose(x[0, 3:], 0.0)
    for _ in range(90):
        truth = truth + v * dt
        x, P = kf_predict(x, P, dt, 0.5)
        x, P = kf_update(x, P, truth[None] + rng.normal(0, 0.003, (1, 3)), 0.003)
    np.testing.assert_allclose(x[0, :3], truth, atol=0.004)
    np.testing.assert_allclose(x[0, 3:], v, atol=0.03)
    assert np.all(np.linalg.eigvalsh(P[0]) > 0)
