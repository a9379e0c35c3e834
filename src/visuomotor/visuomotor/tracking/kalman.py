"""A 3D constant-velocity Kalman filter, batched over tracks (stateless functions on arrays).

State per track: x = (px, py, pz, vx, vy, vz) in metres and m/s, covariance P (6, 6); the measurement
is the position (H = [I₃ 0]). Every function takes a batch: x (N, 6), P (N, 6, 6), so one call serves
all tracks of a frame instead of a Python loop per track.

Process noise is the continuous white-noise-acceleration model (Bar-Shalom, *Estimation with
Applications to Tracking and Navigation*, §6.2.2): per axis Q = q·[[dt³/3, dt²/2], [dt²/2, dt]] with
q = σ_a² the acceleration spectral density.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "cv_process_noise",
    "cv_transition",
    "kf_initiate",
    "kf_predict",
    "kf_project",
    "kf_update",
    "mahalanobis_sq",
]

_I3 = np.eye(3)
_I6 = np.eye(6)


def cv_transition(dt_s: float) -> np.ndarray:
    """(6, 6) state transition F: p ← p + v·dt, v ← v."""
    F = np.eye(6)
    F[0, 3] = F[1, 4] = F[2, 5] = dt_s
    return F


def cv_process_noise(dt_s: float, accel_std_m_s2: float) -> np.ndarray:
    """(6, 6) process noise Q of white acceleration with spectral density σ_a² over ``dt_s`` seconds."""
    q = accel_std_m_s2 * accel_std_m_s2
    Q = np.zeros((6, 6))
    Q[:3, :3] = _I3 * (q * dt_s**3 / 3.0)
    Q[:3, 3:] = Q[3:, :3] = _I3 * (q * dt_s**2 / 2.0)
    Q[3:, 3:] = _I3 * (q * dt_s)
    return Q


def kf_initiate(
    z_m: np.ndarray, position_std_m: float, velocity_std_m_s: float
) -> tuple[np.ndarray, np.ndarray]:
    """New tracks at measured positions, at rest with an uncertain velocity.

    Args:
        z_m: (N, 3) measured positions, metres.
        position_std_m: initial σ of each position component (the measurement σ).
        velocity_std_m_s: initial σ of each velocity component.

    Returns:
        x (N, 6) and P (N, 6, 6).
    """
    n = z_m.shape[0]
    x = np.zeros((n, 6))
    x[:, :3] = z_m
    diag = np.r_[np.full(3, position_std_m**2), np.full(3, velocity_std_m_s**2)]
    P = np.broadcast_to(np.diag(diag), (n, 6, 6)).copy()
    return x, P


def kf_predict(
    x: np.ndarray, P: np.ndarray, dt_s: float, accel_std_m_s2: float
) -> tuple[np.ndarray, np.ndarray]:
    """Propagate a batch of tracks by ``dt_s`` seconds.

    Args:
        x: (N, 6) states; P: (N, 6, 6) covariances.
        dt_s: time step, seconds (≥ 0).
        accel_std_m_s2: σ_a of the white-noise acceleration.

    Returns:
        The predicted x (N, 6) and P (N, 6, 6) (new arrays).
    """
    F = cv_transition(dt_s)
    return x @ F.T, F @ P @ F.T + cv_process_noise(dt_s, accel_std_m_s2)


def kf_project(x: np.ndarray, P: np.ndarray, measurement_std_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Predicted measurement and innovation covariance.

    Returns:
        z_pred (N, 3) positions, metres, and S = H·P·Hᵀ + R (N, 3, 3), m².
    """
    return x[:, :3], P[:, :3, :3] + _I3 * measurement_std_m**2


def kf_update(
    x: np.ndarray, P: np.ndarray, z_m: np.ndarray, measurement_std_m: float
) -> tuple[np.ndarray, np.ndarray]:
    """Correct a batch of tracks with one position measurement each.

    Uses the Joseph form P = (I − KH)·P·(I − KH)ᵀ + K·R·Kᵀ, which stays symmetric positive definite
    under rounding (tracks may run for hours).

    Args:
        x: (N, 6) predicted states; P: (N, 6, 6) predicted covariances.
        z_m: (N, 3) measured positions, metres (row i belongs to track i).
        measurement_std_m: σ of each position component of a measurement.

    Returns:
        The corrected x (N, 6) and P (N, 6, 6) (new arrays).
    """
    r = measurement_std_m**2
    S = P[:, :3, :3] + _I3 * r
    gain = P[:, :, :3] @ np.linalg.inv(S)  # (N, 6, 3)
    x_new = x + (gain @ (z_m - x[:, :3])[:, :, None])[:, :, 0]
    A = np.broadcast_to(_I6, P.shape).copy()
    A[:, :, :3] -= gain  # I − K·H, since H selects the first three columns
    P_new = A @ P @ A.transpose(0, 2, 1) + r * gain @ gain.transpose(0, 2, 1)
    return x_new, P_new


def mahalanobis_sq(z_pred: np.ndarray, S: np.ndarray, z_m: np.ndarray) -> np.ndarray:
    """Squared Mahalanobis distance of every measurement from every track's predicted measurement.

    Args:
        z_pred: (N, 3) predicted positions; S: (N, 3, 3) innovation covariances.
        z_m: (M, 3) measured positions.

    Returns:
        (N, M) d² = (z − ẑ)ᵀ·S⁻¹·(z − ẑ), dimensionless (χ² with 3 degrees of freedom).
    """
    diff = z_m[None, :, :] - z_pred[:, None, :]  # (N, M, 3)
    return np.einsum("nmi,nij,nmj->nm", diff, np.linalg.inv(S), diff)
