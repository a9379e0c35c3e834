"""Joint-space trajectory maths shared by the guard and the commander (no robot, no limits here).

A trajectory is checked the way ``joint_trajectory_controller`` executes it: from the start state (knot 0,
t = 0) through the points, by cubic Hermite splines when the points carry velocities, linearly when they
carry positions only (``visuomotor.sim.jtc.interpolate_trajectory`` is the sim's copy of that controller;
the tests compare both). For a cubic segment with s = (t − t_k)/T ∈ [0, 1], tangents m = q̇·T:

    q(s)   = p0 + C s + (B/2) s² + (A/3) s³
    q'(s)  = A s² + B s + C                    (velocity · T)
    q''(s) = 2A s + B                          (acceleration · T²)
    A = 6(p0 − p1) + 3(m0 + m1),  B = 6(p1 − p0) − 4 m0 − 2 m1,  C = m0

so the peak velocity (a quadratic), the peak acceleration (linear: at an end) and the position range (at
the ends or where q' = 0) are computed exactly, not sampled. Only the Cartesian checks need samples.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = [
    "HermiteSegments",
    "finite_difference_velocities",
    "knots_with_start",
    "linear_knot_accelerations",
    "required_time_scale",
    "sample_path",
]

#: Upper bound on samples per segment, so one absurd segment cannot stall the control loop; a segment
#: that would need more is handled by the velocity limit long before (≥ 2000 × path_sample_step_rad).
_MAX_SAMPLES_PER_SEGMENT = 2000


def knots_with_start(
    q_start: np.ndarray,
    times_s: np.ndarray,
    positions: np.ndarray,
    velocities: np.ndarray | None,
    qd_start: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Prepend the start state as knot 0 at t = 0.

    Args:
        q_start: (J,) start positions, radians.
        times_s: (N,) time from start of each point, seconds.
        positions: (N, J) radians.
        velocities: (N, J) rad/s, or None (linear interpolation).
        qd_start: (J,) start velocity, rad/s; None = at rest.

    Returns:
        (knot_times (N+1,), knots (N+1, J), knot_velocities (N+1, J) or None).
    """
    t = np.concatenate([[0.0], times_s])
    q = np.vstack([q_start, positions])
    if velocities is None:
        return t, q, None
    qd0 = np.zeros_like(q_start) if qd_start is None else qd_start
    return t, q, np.vstack([qd0, velocities])


def finite_difference_velocities(knot_times: np.ndarray, knots: np.ndarray) -> np.ndarray:
    """Velocities for the points after knot 0: central differences inside, zero at the last point.

    Zero at the end so that the controller stops on the last point if no newer command replaces it.

    Args:
        knot_times: (M,) seconds, strictly increasing, knot 0 = start state.
        knots: (M, J) positions, radians.

    Returns:
        (M − 1, J) velocities of knots 1 … M−1, rad/s.
    """
    v = np.zeros((knots.shape[0] - 1, knots.shape[1]))
    if knots.shape[0] > 2:
        # Non-uniform central difference (q_{k+1} − q_{k−1}) / (t_{k+1} − t_{k−1}).
        v[:-1] = (knots[2:] - knots[:-2]) / (knot_times[2:] - knot_times[:-2])[:, None]
    return v


@dataclass(frozen=True, slots=True)
class HermiteSegments:
    """The S = M − 1 segments between M knots, in the polynomial form of the module docstring.

    Attributes:
        T: (S,) segment durations, seconds.
        p0, p1: (S, J) start/end positions, radians.
        A, B, C: (S, J) coefficients of q'(s) (radians per unit s).
        cubic: False for linear segments (A = B = 0, C = p1 − p0).
    """

    T: np.ndarray
    p0: np.ndarray
    p1: np.ndarray
    A: np.ndarray
    B: np.ndarray
    C: np.ndarray
    cubic: bool

    @classmethod
    def build(
        cls, knot_times: np.ndarray, knots: np.ndarray, knot_vels: np.ndarray | None
    ) -> HermiteSegments:
        """Segments from knots (cubic if ``knot_vels`` is given, else linear)."""
        T = np.diff(knot_times)
        p0, p1 = knots[:-1], knots[1:]
        if knot_vels is None:
            zero = np.zeros_like(p0)
            return cls(T, p0, p1, zero, zero, p1 - p0, False)
        m0 = knot_vels[:-1] * T[:, None]
        m1 = knot_vels[1:] * T[:, None]
        A = 6.0 * (p0 - p1) + 3.0 * (m0 + m1)
        B = 6.0 * (p1 - p0) - 4.0 * m0 - 2.0 * m1
        return cls(T, p0, p1, A, B, m0.copy(), True)

    def position(self, s: np.ndarray) -> np.ndarray:
        """q at normalised times ``s`` (S, n) → (S, n, J), radians."""
        s3 = s[..., None]
        return (
            self.p0[:, None]
            + self.C[:, None] * s3
            + 0.5 * self.B[:, None] * s3**2
            + self.A[:, None] / 3.0 * s3**3
        )

    def state_at(self, t_s: float) -> tuple[np.ndarray, np.ndarray]:
        """(q, q̇) at ``t_s`` seconds after the first knot, (J,) each, radians and rad/s: the start before
        it, the last knot at rest after the end (the controller stops there)."""
        ends = np.cumsum(self.T)
        if t_s >= ends[-1]:
            return self.p1[-1].copy(), np.zeros(self.p1.shape[1])
        k = int(np.searchsorted(ends, max(t_s, 0.0), side="right"))
        s = max(0.0, (t_s - (ends[k] - self.T[k])) / self.T[k])
        A, B, C = self.A[k], self.B[k], self.C[k]
        q = self.p0[k] + C * s + 0.5 * B * s**2 + A / 3.0 * s**3
        return q, (A * s * s + B * s + C) / self.T[k]

    def _stationary_s(self) -> np.ndarray:
        """(S, J, 2) roots of q'(s) = 0 inside (0, 1), NaN where there is none."""
        A, B, C = self.A, self.B, self.C
        out = np.full((*A.shape, 2), np.nan)
        with np.errstate(divide="ignore", invalid="ignore"):
            disc = B * B - 4.0 * A * C
            sq = np.sqrt(np.where(disc >= 0.0, disc, np.nan))
            quad = np.abs(A) > 1e-12
            r1 = np.where(quad, (-B - sq) / (2.0 * A), np.where(np.abs(B) > 1e-12, -C / B, np.nan))
            r2 = np.where(quad, (-B + sq) / (2.0 * A), np.nan)
        for i, r in enumerate((r1, r2)):
            out[..., i] = np.where((r > 0.0) & (r < 1.0), r, np.nan)
        return out

    def position_range(self) -> tuple[np.ndarray, np.ndarray]:
        """Exact per-segment min and max of each joint, (S, J) each, radians."""
        lo = np.minimum(self.p0, self.p1)
        hi = np.maximum(self.p0, self.p1)
        if not self.cubic:
            return lo, hi
        s = self._stationary_s()
        for i in range(2):
            si = np.nan_to_num(s[..., i])  # NaN → s = 0, i.e. p0, already counted
            q = self.p0 + self.C * si + 0.5 * self.B * si**2 + self.A / 3.0 * si**3
            lo, hi = np.minimum(lo, q), np.maximum(hi, q)
        return lo, hi

    def peak_speed(self) -> tuple[np.ndarray, np.ndarray]:
        """Exact per-segment max |q̇| (S, J), rad/s, and the s ∈ [0, 1] where it occurs (S, J)."""
        A, B, C = self.A, self.B, self.C
        cand_s = [np.zeros_like(A), np.ones_like(A)]
        with np.errstate(divide="ignore", invalid="ignore"):
            vertex = np.where(np.abs(A) > 1e-12, -B / (2.0 * A), 0.0)
        cand_s.append(np.clip(vertex, 0.0, 1.0))
        vals = np.stack([np.abs(A * s * s + B * s + C) for s in cand_s])  # (3, S, J)
        k = np.argmax(vals, axis=0)
        s_at = np.take_along_axis(np.stack(cand_s), k[None], axis=0)[0]
        return vals.max(axis=0) / self.T[:, None], s_at

    def peak_acceleration(self) -> tuple[np.ndarray, np.ndarray]:
        """Exact per-segment max |q̈| (S, J) of cubic segments, rad/s², and its s (0 or 1); zeros if linear."""
        a0 = np.abs(self.B)
        a1 = np.abs(2.0 * self.A + self.B)
        s_at = np.where(a1 > a0, 1.0, 0.0)
        return np.maximum(a0, a1) / (self.T**2)[:, None], s_at


def sample_path(segments: HermiteSegments, step_rad: float) -> tuple[np.ndarray, np.ndarray]:
    """Joint positions along the path, dense enough that no joint moves more than ``step_rad`` between two.

    Args:
        segments: the trajectory's segments.
        step_rad: largest per-joint motion between consecutive samples, radians.

    Returns:
        (samples (n, J) radians, their segment index (n,)); every knot is included.
    """
    speed_s = segments.peak_speed()[0] * segments.T[:, None]  # max |dq/ds| per segment and joint
    counts = np.clip(np.ceil(speed_s.max(axis=1) / step_rad), 1, _MAX_SAMPLES_PER_SEGMENT).astype(int)
    out = [segments.p0[:1]]
    seg_index = [np.zeros(1, dtype=int)]
    for k, n in enumerate(counts.tolist()):
        s = np.arange(1, n + 1, dtype=np.float64) / n
        single = HermiteSegments(
            segments.T[k : k + 1],
            segments.p0[k : k + 1],
            segments.p1[k : k + 1],
            segments.A[k : k + 1],
            segments.B[k : k + 1],
            segments.C[k : k + 1],
            segments.cubic,
        )
        q = single.position(s[None])[0]
        q[-1] = segments.p1[k]  # the knot itself, exactly
        out.append(q)
        seg_index.append(np.full(n, k))
    return np.vstack(out), np.concatenate(seg_index)


def linear_knot_accelerations(
    knot_times: np.ndarray, knots: np.ndarray, qd_start: np.ndarray | None
) -> np.ndarray:
    """Discrete accelerations of a position-only (linear) trajectory at its inner knots and its start.

    Velocity is constant per segment; at knot k it jumps from v_{k−1} to v_k, estimated as an acceleration
    over the mean of the two segment durations (the start uses ``qd_start`` and the first duration). The
    final stop is not included: position-only commands are streamed, the next target follows.

    Returns:
        (S, J) acceleration estimate at the start of each segment, rad/s² (row 0 zero if no ``qd_start``).
    """
    T = np.diff(knot_times)
    v = np.diff(knots, axis=0) / T[:, None]
    acc = np.zeros_like(v)
    if qd_start is not None:
        acc[0] = (v[0] - qd_start) / T[0]
    if v.shape[0] > 1:
        acc[1:] = np.diff(v, axis=0) / (0.5 * (T[1:] + T[:-1]))[:, None]
    return acc


def required_time_scale(peak_speed_ratio: float, peak_accel_ratio: float) -> float:
    """Uniform stretch factor that brings both ratios (value / limit) to ≤ 1: v ∝ 1/λ, a ∝ 1/λ²."""
    return max(1.0, peak_speed_ratio, math.sqrt(max(peak_accel_ratio, 0.0)))
