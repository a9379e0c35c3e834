"""Closed-form inverse kinematics of the Universal Robots arm family, in the DH ``base`` frame.

Written by hand on purpose: no maintained Python library solves the UR analytic IK well (ikpy and friends
are numeric and find one solution from one seed; ur_ikfast needs a C++ build of generated code;
ur_kinematics is a ROS 1 C++ package). The solution follows the standard derivation of
K. P. Hawkins, "Analytic Inverse Kinematics for the Universal Robots UR-5/UR-10 Arms", Georgia Tech, 2013
(http://hdl.handle.net/1853/50782), re-derived for numerical robustness:

- q1 from the wrist centre p05 = p06 − d6·z6, which must sit at distance d4 from the plane of joints 2–4
  (the shoulder offset): ``r·sin(q1 − atan2(p05y, p05x)) = d4`` → two solutions ("shoulder left/right").
- q5, q6 from the joint-2 axis z1 = (sin q1, −cos q1, 0) seen in the flange frame,
  ``R06ᵀ z1 = (sin q5 cos q6, −sin q5 sin q6, cos q5)``. Unlike Hawkins' ``acos`` this takes |sin q5| from
  the norm of the first two components, so q5 stays accurate to 1e-16 next to the wrist singularity
  (acos(1 − ε) loses half the digits). Two solutions ("wrist up/down").
- q2, q3, q4 from the planar 2R arm formed by links a2, a3 in the plane of joints 2–4 → two solutions
  ("elbow up/down"), q4 from the sum q2 + q3 + q4 that fixes the direction of x4.

Everything is scalar ``math``: one full solve (8 solutions) is ~10 µs in CPython, where numpy would spend
more than that in per-call overhead on 3-vectors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from visuomotor.kinematics.dh import DhParameters
from visuomotor.kinematics.errors import KinematicsInputError

__all__ = [
    "ELBOW_MERGE_SIN",
    "REACH_TOL",
    "SHOULDER_MERGE_RAD",
    "WRIST_SINGULAR_SIN",
    "UrGeometry",
    "solve_ur_ik",
]

_PI = math.pi
_TAU = 2.0 * math.pi
_HALF_PI = 0.5 * math.pi

#: Relative slack on the reach tests (d4/r ≤ 1 and |cos q3| ≤ 1) before a pose counts as out of reach.
#: Rounding alone stays below 1e-15; 1e-10 keeps the pose error of the clamped solution below ~1e-10 m.
REACH_TOL = 1e-10
#: Below this angle (rad) the two shoulder solutions q1 = φ ± δ are one (shoulder singularity, see
#: ``solve_ur_ik``). Rounding on a pose exactly at the singularity produces δ ≈ 1e-8, hence 1e-7.
SHOULDER_MERGE_RAD = 1e-7
#: |sin q5| below which the wrist counts as singular: q4 and q6 rotate about the same axis and only their
#: sum (or difference) is defined. Picking q6 there costs at most |sin q5|·2π rad of orientation error.
WRIST_SINGULAR_SIN = 1e-10
#: |sin q3| below which the elbow-up and elbow-down solutions are one (arm fully stretched or folded).
ELBOW_MERGE_SIN = 1e-7


@dataclass(frozen=True, slots=True)
class UrGeometry:
    """The six non-zero DH lengths of a UR arm (metres); the twists are fixed (π/2, 0, 0, π/2, −π/2, 0).

    Attributes:
        d1: base to shoulder height.
        a2: upper-arm length (negative in UR's tables).
        a3: forearm length (negative in UR's tables).
        d4: shoulder offset: distance of the wrist from the plane of joints 2–4.
        d5: wrist 1 to wrist 2.
        d6: wrist 2 to the flange.
    """

    d1: float
    a2: float
    a3: float
    d4: float
    d5: float
    d6: float

    @classmethod
    def from_dh(cls, dh: DhParameters) -> UrGeometry:
        """Take the lengths from a DH table after checking it has the UR structure.

        Raises:
            KinematicsInputError: the table is not a 6-joint UR-type chain (d2 = d3 = 0,
                a1 = a4 = a5 = a6 = 0, alpha = (π/2, 0, 0, π/2, −π/2, 0), d4 > 0, a2, a3 ≠ 0), for which this
                solver is wrong.
        """
        if dh.n_joints != 6:
            raise KinematicsInputError(f"UR analytic IK needs 6 joints, the DH table has {dh.n_joints}")
        expected_alpha = (_HALF_PI, 0.0, 0.0, _HALF_PI, -_HALF_PI, 0.0)
        bad = [f"alpha{i + 1}={dh.alpha[i]!r} (want {expected_alpha[i]!r})" for i in range(6)
               if abs(dh.alpha[i] - expected_alpha[i]) > 1e-12]
        bad += [f"d{i + 1}={dh.d[i]!r} (want 0)" for i in (1, 2) if abs(dh.d[i]) > 1e-12]
        bad += [f"a{i + 1}={dh.a[i]!r} (want 0)" for i in (0, 3, 4, 5) if abs(dh.a[i]) > 1e-12]
        if dh.d[3] <= 0.0 or dh.a[1] == 0.0 or dh.a[2] == 0.0:
            bad.append("d4 must be > 0 and a2, a3 non-zero")
        if bad:
            raise KinematicsInputError("DH table is not a UR-type arm: " + ", ".join(bad))
        return cls(d1=dh.d[0], a2=dh.a[1], a3=dh.a[2], d4=dh.d[3], d5=dh.d[4], d6=dh.d[5])


def solve_ur_ik(
    g: UrGeometry, T_base_flange: list[list[float]], q6_at_wrist_singularity_rad: float = 0.0
) -> tuple[list[tuple[float, ...]], str]:
    """All closed-form IK solutions of a UR arm for one flange pose in the DH ``base`` frame.

    No joint limits are applied here and every angle is returned in [−π, π] (the representation nearest
    0); the caller picks other 2π representations.

    Degenerate cases, all without NaN:

    - Shoulder singularity: the wrist centre lies on the cylinder of radius d4 around the base z axis
      (equivalently, its projection into the plane of joints 2–4 is on the base z axis). The two q1 solutions
      coincide and are returned once; inside the cylinder the pose is unreachable.
    - Wrist singularity (|sin q5| < ``WRIST_SINGULAR_SIN``): joints 4 and 6 are coaxial, only q4 ± q6 is
      defined. q6 is set to ``q6_at_wrist_singularity_rad`` (wrapped) and q4 absorbs the rest; one wrist
      branch is returned instead of two.
    - Elbow stretched/folded (|sin q3| < ``ELBOW_MERGE_SIN``): elbow up/down coincide and are returned once;
      beyond, the branch is out of reach.

    Args:
        g: arm lengths.
        T_base_flange: rows of the (4, 4) or (3, 4) flange pose (DH frame 6) in the DH base frame, as nested
            lists of floats (``ndarray.tolist()``); rotation assumed orthonormal, translation in metres.
        q6_at_wrist_singularity_rad: the wrist-3 angle to use where it is undefined, radians (e.g. the
            current q6, so the wrist does not spin).

    Returns:
        ``(solutions, reason)``: up to 8 tuples (q1, …, q6) in radians, ordered by branch
        (shoulder ±, then wrist ±, then elbow ±); ``reason`` is "" when there is a solution, otherwise a
        sentence saying why the pose is out of reach.
    """
    # Columns n, o, a = flange x, y, z axes; p = flange origin (all in base).
    (nx, ox, ax, px), (ny, oy, ay, py), (nz, oz, az, pz) = T_base_flange[:3]
    d1, a2, a3, d4, d5, d6 = g.d1, g.a2, g.a3, g.d4, g.d5, g.d6

    # q1: wrist centre (origin of DH frame 5).
    wx, wy, wz = px - d6 * ax, py - d6 * ay, pz - d6 * az
    r = math.hypot(wx, wy)
    if r < d4 * (1.0 - REACH_TOL):
        return [], (
            f"out of reach: the wrist centre (flange − d6·z_flange) is {r:.4f} m from the base z axis, "
            f"inside the d4 = {d4:.5f} m shoulder-offset cylinder where no shoulder angle fits"
        )
    ratio = d4 / r
    delta = math.acos(ratio) if ratio < 1.0 else 0.0
    phi1 = math.atan2(wy, wx) + _HALF_PI
    q1_branches = (phi1 + delta, phi1 - delta) if delta > SHOULDER_MERGE_RAD else (phi1 + delta,)

    two_a2a3 = 2.0 * a2 * a3
    a2sq_a3sq = a2 * a2 + a3 * a3
    solutions: list[tuple[float, ...]] = []
    stretch_m: list[float] = []
    for q1_raw in q1_branches:
        s1, c1 = math.sin(q1_raw), math.cos(q1_raw)
        q1 = (q1_raw + _PI) % _TAU - _PI
        # z1 (the joint 2–4 axis) in the flange frame: (sin q5 cos q6, −sin q5 sin q6, cos q5).
        zx = s1 * nx - c1 * ny
        zy = s1 * ox - c1 * oy
        c5 = s1 * ax - c1 * ay
        h = math.hypot(zx, zy)  # |sin q5|
        # Per wrist branch: (q5, sin q5, cos q5, q6, sin q6, cos q6).
        wrist_branches: tuple[tuple[float, float, float, float, float, float], ...]
        if h < WRIST_SINGULAR_SIN:
            q6 = (q6_at_wrist_singularity_rad + _PI) % _TAU - _PI
            wrist_branches = ((math.atan2(h, c5), h, c5, q6, math.sin(q6), math.cos(q6)),)
        else:
            c6, s6 = zx / h, -zy / h
            q6 = math.atan2(s6, c6)
            q5 = math.atan2(h, c5)
            # The flipped wrist: q5 → −q5, q6 → q6 + π.
            wrist_branches = (
                (q5, h, c5, q6, s6, c6),
                (-q5, -h, c5, q6 - _PI if q6 > 0.0 else q6 + _PI, -s6, -c6),
            )
        # Frame 1 coordinates of base-frame vectors: (c1·vx + s1·vy, vz); of points, subtract d1 from z.
        n1, o1, a1 = c1 * nx + s1 * ny, c1 * ox + s1 * oy, c1 * ax + s1 * ay
        w1 = c1 * wx + s1 * wy
        for q5, s5, c5_, q6, s6, c6 in wrist_branches:
            # z4 = −s6·x6 − c6·y6 and x4 = c5c6·x6 − c5s6·y6 − s5·z6
            # (from R45 = Rz(q5)·Rx(−π/2) and R56 = Rz(q6)).
            z4_1 = -s6 * n1 - c6 * o1
            z4_z = -s6 * nz - c6 * oz
            x4_1 = c5_ * (c6 * n1 - s6 * o1) - s5 * a1
            x4_z = c5_ * (c6 * nz - s6 * oz) - s5 * az
            q234 = math.atan2(x4_z, x4_1)
            # Origin of frame 4 (= wrist centre − d5·z4) in the plane of joints 2–4.
            X = w1 - d5 * z4_1
            Y = wz - d5 * z4_z - d1
            L2 = X * X + Y * Y
            c3 = (L2 - a2sq_a3sq) / two_a2a3
            if c3 > 1.0:
                if c3 > 1.0 + REACH_TOL:
                    stretch_m.append(math.sqrt(L2))
                    continue
                c3 = 1.0
            elif c3 < -1.0:
                if c3 < -1.0 - REACH_TOL:
                    stretch_m.append(math.sqrt(L2))
                    continue
                c3 = -1.0
            q3 = math.acos(c3)
            s3 = math.sqrt(1.0 - c3 * c3)
            phi2 = math.atan2(Y, X)
            beta = math.atan2(a3 * s3, a2 + a3 * c3)
            q2 = (phi2 - beta + _PI) % _TAU - _PI
            solutions.append((q1, q2, q3, (q234 - q2 - q3 + _PI) % _TAU - _PI, q5, q6))
            if s3 >= ELBOW_MERGE_SIN:
                q2 = (phi2 + beta + _PI) % _TAU - _PI
                solutions.append((q1, q2, -q3, (q234 - q2 + q3 + _PI) % _TAU - _PI, q5, q6))
    if solutions:
        return solutions, ""
    reach_min, reach_max = abs(abs(a2) - abs(a3)), abs(a2) + abs(a3)
    return [], (
        f"out of reach: the wrist-1 axis would be {min(stretch_m):.4f}–{max(stretch_m):.4f} m from the "
        f"shoulder axis, outside the arm's reach [{reach_min:.5f}, {reach_max:.5f}] m"
    )
