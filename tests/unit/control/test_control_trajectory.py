"""Trajectory maths: the spline equals the sim JTC interpolation; exact peaks match dense sampling."""

from __future__ import annotations

import numpy as np

from visuomotor.control.trajectory import (
    HermiteSegments,
    finite_difference_velocities,
    knots_with_start,
    linear_knot_accelerations,
    sample_path,
)
from visuomotor.sim.jtc import interpolate_trajectory


def _random_traj(rng: np.random.Generator, n: int, cubic: bool):
    times = np.cumsum(rng.uniform(0.05, 0.5, n))
    q0 = rng.uniform(-1, 1, 6)
    pos = q0 + np.cumsum(rng.normal(0, 0.2, (n, 6)), axis=0)
    vel = rng.normal(0, 0.5, (n, 6)) if cubic else None
    qd0 = rng.normal(0, 0.5, 6) if cubic else None
    return knots_with_start(q0, times, pos, vel, qd0)


def _dense(knot_t: np.ndarray, knots: np.ndarray, knot_v: np.ndarray | None, n: int = 6001):
    t = np.linspace(0.0, knot_t[-1], n)
    q = np.array([interpolate_trajectory(ti, knot_t.tolist(), knots, knot_v)[0] for ti in t])
    return t, q


def test_spline_matches_the_sim_jtc_interpolation() -> None:
    rng = np.random.default_rng(1)
    for cubic in (True, False):
        knot_t, knots, knot_v = _random_traj(rng, 5, cubic)
        seg = HermiteSegments.build(knot_t, knots, knot_v)
        for k in range(seg.T.size):
            s = np.linspace(0, 1, 11)
            ours = seg.position(s[None].repeat(seg.T.size, 0))[k]
            ref = np.array(
                [
                    interpolate_trajectory(knot_t[k] + si * seg.T[k], knot_t.tolist(), knots, knot_v)[0]
                    for si in s
                ]
            )
            np.testing.assert_allclose(ours, ref, atol=1e-12)


def test_exact_peaks_bound_and_match_dense_sampling() -> None:
    rng = np.random.default_rng(2)
    for _ in range(5):
        knot_t, knots, knot_v = _random_traj(rng, 4, True)
        seg = HermiteSegments.build(knot_t, knots, knot_v)
        t, q = _dense(knot_t, knots, knot_v)
        lo, hi = seg.position_range()
        # Exact extremes bound the samples and are reached to within the sampling resolution.
        assert (lo.min(axis=0) <= q.min(axis=0) + 1e-12).all() and (
            hi.max(axis=0) >= q.max(axis=0) - 1e-12
        ).all()
        np.testing.assert_allclose(lo.min(axis=0), q.min(axis=0), atol=1e-5)
        np.testing.assert_allclose(hi.max(axis=0), q.max(axis=0), atol=1e-5)
        v = np.gradient(q, t, axis=0)
        np.testing.assert_allclose(seg.peak_speed()[0].max(axis=0), np.abs(v).max(axis=0), rtol=2e-3)
        a = np.diff(v, axis=0) / np.diff(t)[:, None]
        # Finite differences smear the jumps of q̈ at the knots; the exact peak is an upper bound.
        assert (seg.peak_acceleration()[0].max(axis=0) >= np.abs(a[5:-5]).max(axis=0) * 0.99).all()


def test_finite_differences_are_central_and_stop_at_the_end() -> None:
    knot_t = np.array([0.0, 0.1, 0.3, 0.4])
    knots = np.array([[0.0], [0.1], [0.3], [0.5]])
    v = finite_difference_velocities(knot_t, knots)
    np.testing.assert_allclose(v[:, 0], [0.3 / 0.3, 0.4 / 0.3, 0.0])


def test_linear_accelerations_and_sampling_resolution() -> None:
    knot_t = np.array([0.0, 1.0, 2.0])
    knots = np.array([[0.0] * 6, [1.0] * 6, [1.5] * 6])
    acc = linear_knot_accelerations(knot_t, knots, np.zeros(6))
    np.testing.assert_allclose(acc[:, 0], [1.0, -0.5])
    samples, index = sample_path(HermiteSegments.build(knot_t, knots, None), 0.02)
    assert np.abs(np.diff(samples, axis=0)).max() <= 0.02 + 1e-12
    np.testing.assert_allclose(samples[[0, -1]], knots[[0, -1]])
    assert index[-1] == 1
