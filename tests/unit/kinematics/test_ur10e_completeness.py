"""Completeness of the analytic UR10e IK against a brute-force numeric IK from many random seeds.

If the closed form missed a branch, some seed would converge to a configuration the analytic set lacks.
The numeric side has its own scalar DH chain and analytic Jacobian (nothing shared with the code under
test but the inverse call), and runs scipy's MINPACK Levenberg–Marquardt.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import least_squares

from visuomotor.kinematics import UR10E_JOINT_LIMITS_RAD, Ur10eKinematics

D_M = (0.1807, 0.0, 0.0, 0.17415, 0.11985, 0.11655)
A_M = (0.0, -0.6127, -0.57155, 0.0, 0.0, 0.0)
ALPHA_RAD = (math.pi / 2, 0.0, 0.0, math.pi / 2, -math.pi / 2, 0.0)
_LINKS = tuple(zip(D_M, A_M, [math.cos(a) for a in ALPHA_RAD], [math.sin(a) for a in ALPHA_RAD], strict=True))

N_POSES = 1000
SEEDS_PER_POSE = 12
#: ‖residual‖ (metres and rotation-matrix entries) below which a numeric solve counts as converged.
CONVERGED = 1e-10
#: Max wrapped joint difference (rad) for a numeric solution to count as one of the analytic ones.
SAME_SOLUTION = 1e-6


def chain(q: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """T_base_flange and the joint axes/origins, for the Jacobian.

    Returns:
        R (3, 3), p (3,), Z (6, 3) joint axes z_{i-1}, Org (6, 3) their origins o_{i-1}, all in base.
    """
    r00, r01, r02, r10, r11, r12, r20, r21, r22 = 1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0
    px = py = pz = 0.0
    axes = []
    for theta, (d, a, ca, sa) in zip(q.tolist(), _LINKS, strict=True):
        axes.append((r02, r12, r22, px, py, pz))
        ct, st = math.cos(theta), math.sin(theta)
        tx, ty = a * ct, a * st
        px, py, pz = (r00 * tx + r01 * ty + r02 * d + px, r10 * tx + r11 * ty + r12 * d + py,
                      r20 * tx + r21 * ty + r22 * d + pz)
        # R·Rz(θ) turns the x/y columns; R·Rx(α) then turns the new y and old z columns.
        x0, x1, x2 = ct * r00 + st * r01, ct * r10 + st * r11, ct * r20 + st * r21
        y0, y1, y2 = -st * r00 + ct * r01, -st * r10 + ct * r11, -st * r20 + ct * r21
        r00, r10, r20 = x0, x1, x2
        r01, r11, r21, r02, r12, r22 = (ca * y0 + sa * r02, ca * y1 + sa * r12, ca * y2 + sa * r22,
                                        -sa * y0 + ca * r02, -sa * y1 + ca * r12, -sa * y2 + ca * r22)
    zo = np.array(axes)
    R = np.array([[r00, r01, r02], [r10, r11, r12], [r20, r21, r22]])
    return R, np.array([px, py, pz]), zo[:, :3], zo[:, 3:]


class NumericIk:
    """Residual (12,) = [p − p*, vec(R − R*)] and its analytic Jacobian (12, 6) for one target."""

    def __init__(self, R_target: np.ndarray, p_target: np.ndarray) -> None:
        self.target = np.concatenate((p_target, R_target.ravel()))
        self._cache: tuple[np.ndarray, ...] | None = None

    def residual(self, q: np.ndarray) -> np.ndarray:
        R, p, Z, Org = chain(q)
        self._cache = (q.copy(), R, p, Z, Org)
        return np.concatenate((p, R.ravel())) - self.target

    def jacobian(self, q: np.ndarray) -> np.ndarray:
        if self._cache is not None and np.array_equal(self._cache[0], q):
            R, p, Z, Org = self._cache[1:]
        else:
            R, p, Z, Org = chain(q)
        # Revolute joint i: dp/dq_i = z_i × (p − o_i), dR/dq_i = [z_i]× R (column by column).
        V = np.empty((6, 4, 3))  # (joint, [p − o, R col 0, col 1, col 2], xyz)
        V[:, 0, :] = p - Org
        V[:, 1:, :] = R.T
        Zb = Z[:, None, :]
        C = Zb[..., [1, 2, 0]] * V[..., [2, 0, 1]] - Zb[..., [2, 0, 1]] * V[..., [1, 2, 0]]
        J = np.empty((12, 6))
        J[:3] = C[:, 0, :].T
        J[3:] = C[:, 1:, :].transpose(2, 1, 0).reshape(9, 6)  # row 3 + 3r + c ↔ R[r, c]
        return J


def test_numeric_jacobian_matches_finite_differences() -> None:
    q = np.array([0.3, -1.1, 1.4, -0.9, 1.2, 0.5])
    R, p, _, _ = chain(q)
    ik = NumericIk(R, p)
    eps = 1e-7
    columns = [(ik.residual(q + eps * e) - ik.residual(q - eps * e)) / (2 * eps) for e in np.eye(6)]
    fd = np.stack(columns, axis=1)
    np.testing.assert_allclose(ik.jacobian(q), fd, atol=1e-8)


@pytest.mark.slow
def test_numeric_ik_finds_nothing_the_analytic_set_misses() -> None:
    kin = Ur10eKinematics()
    rng = np.random.default_rng(5)
    q_gen = rng.uniform(UR10E_JOINT_LIMITS_RAD[:, 0], UR10E_JOINT_LIMITS_RAD[:, 1], (N_POSES, 6))
    converged = missed = analytic_total = analytic_found = 0
    for q in q_gen:
        T_base = kin.forward_in_base(q)
        S = kin.inverse_in_base(T_base)
        analytic_total += len(S)
        found = np.zeros(len(S), dtype=bool)
        ik = NumericIk(T_base[:3, :3], T_base[:3, 3])
        for x0 in rng.uniform(-math.pi, math.pi, (SEEDS_PER_POSE, 6)):
            res = least_squares(ik.residual, x0, jac=ik.jacobian, method="lm",
                                xtol=1e-15, ftol=1e-15, gtol=1e-15, max_nfev=300)
            if np.linalg.norm(res.fun) >= CONVERGED:
                continue  # a local minimum or a slow start, not a solution
            converged += 1
            diff = np.abs((S - res.x + math.pi) % (2 * math.pi) - math.pi).max(axis=1)
            if diff.min() > SAME_SOLUTION:
                missed += 1
            else:
                found[diff.argmin()] = True
        analytic_found += int(found.sum())
    total = N_POSES * SEEDS_PER_POSE
    assert missed == 0, f"{missed} of {converged} numeric solutions are not in the analytic set"
    # The check only means something if the numeric side converges often and visits most branches.
    assert converged > 0.8 * total, f"only {converged}/{total} numeric solves converged"
    assert analytic_found > 0.6 * analytic_total, (
        f"numeric IK reached only {analytic_found}/{analytic_total} analytic solutions"
    )
