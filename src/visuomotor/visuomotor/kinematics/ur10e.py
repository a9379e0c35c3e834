"""UR10e forward and analytic inverse kinematics, in the URDF ``base_link`` frame.

Frames:

- ``base``: the UR controller's base frame and the DH chain's frame 0. The closed-form IK works here.
- ``base_link``: the ur_description URDF root, what ROS (tf, MoveIt, our extrinsics) uses.
  ``T_base_link_base = Rz(π)``: x and y flip sign, z is shared.
- ``flange``: DH frame 6, the controller's tool frame with a zero TCP offset (the URDF calls it ``tool0``;
  the URDF's own ``flange`` link is rotated to x-forward, it is *not* this frame).
- ``tcp``: the tool centre point, ``T_flange_tcp`` away from the flange (identity = the flange itself).

The public methods take and return ``base_link`` poses; ``*_in_base`` methods and
``base_link_from_base``/``base_from_base_link`` exist for code that talks to the controller in ``base``.
"""

from __future__ import annotations

import math

import numpy as np

from visuomotor.errors import IkUnreachableError
from visuomotor.kinematics.dh import DhParameters, as_joint_array, as_transform, forward_dh, forward_dh_batch
from visuomotor.kinematics.errors import IkJumpError, KinematicsInputError
from visuomotor.kinematics.ur_analytic import UrGeometry, solve_ur_ik

__all__ = [
    "T_BASE_LINK_BASE",
    "UR10E_DH",
    "UR10E_JOINT_LIMITS_RAD",
    "UR10E_JOINT_NAMES",
    "IkJumpError",
    "Ur10eKinematics",
    "base_from_base_link",
    "base_link_from_base",
    "link_frames_batch",
]

#: Published UR10e DH table (standard DH; universal-robots.com, "DH parameters for calculations of
#: kinematics and dynamics"). Metres and radians.
UR10E_DH = DhParameters(
    d=(0.1807, 0.0, 0.0, 0.17415, 0.11985, 0.11655),
    a=(0.0, -0.6127, -0.57155, 0.0, 0.0, 0.0),
    alpha=(math.pi / 2, 0.0, 0.0, math.pi / 2, -math.pi / 2, 0.0),
)

UR10E_JOINT_NAMES: tuple[str, ...] = (
    "shoulder_pan_joint",
    "shoulder_lift_joint",
    "elbow_joint",
    "wrist_1_joint",
    "wrist_2_joint",
    "wrist_3_joint",
)

#: (6, 2) lower/upper position limits, radians: ±2π, elbow ±π (read-only).
UR10E_JOINT_LIMITS_RAD: np.ndarray = np.array([[-2.0 * math.pi, 2.0 * math.pi]] * 6)
UR10E_JOINT_LIMITS_RAD[2] = (-math.pi, math.pi)
UR10E_JOINT_LIMITS_RAD.setflags(write=False)

#: (4, 4) pose of the DH ``base`` frame in ``base_link``: Rz(π), written exactly (read-only).
T_BASE_LINK_BASE: np.ndarray = np.diag([-1.0, -1.0, 1.0, 1.0])
T_BASE_LINK_BASE.setflags(write=False)

_TAU = 2.0 * math.pi
#: Slack (rad) on joint limits for values that rounding pushed just outside; such values are clipped.
_LIMIT_TOL_RAD = 1e-9


def base_link_from_base(T_base_X: np.ndarray) -> np.ndarray:
    """Re-express poses given in the DH ``base`` frame in ``base_link``: ``T_base_link_X = Rz(π) · T_base_X``.

    Args:
        T_base_X: (..., 4, 4) poses in ``base``, metres.

    Returns:
        (..., 4, 4) new array, poses in ``base_link``.

    Raises:
        KinematicsInputError: the last two dimensions are not (4, 4).
    """
    out = np.array(T_base_X, dtype=np.float64)
    if out.shape[-2:] != (4, 4):
        raise KinematicsInputError(f"poses must have shape (..., 4, 4), got {out.shape}")
    out[..., :2, :] *= -1.0
    return out


def base_from_base_link(T_base_link_X: np.ndarray) -> np.ndarray:
    """Re-express poses given in ``base_link`` in the DH ``base`` frame (Rz(π) is its own inverse).

    Args:
        T_base_link_X: (..., 4, 4) poses in ``base_link``, metres.

    Returns:
        (..., 4, 4) new array, poses in ``base``.
    """
    return base_link_from_base(T_base_link_X)


def link_frames_batch(q_rad: np.ndarray) -> np.ndarray:
    """All DH frames 0…6 of the UR10e in ``base_link`` for many joint vectors (see
    ``Ur10eKinematics.link_frames_batch``).

    Args:
        q_rad: (m, 6) joint angles, radians.

    Returns:
        (m, 7, 4, 4) ``T_base_link_frame_i`` for i = 0 (DH ``base``) … 6 (flange), metres.

    Raises:
        KinematicsInputError: ``q_rad`` is not (m, 6) or holds a NaN/inf.
    """
    q = np.asarray(q_rad, dtype=np.float64)
    if q.ndim != 2 or q.shape[1] != UR10E_DH.n_joints:
        raise KinematicsInputError(f"q_rad must have shape (m, {UR10E_DH.n_joints}), got {q.shape}")
    if not np.isfinite(q).all():
        raise KinematicsInputError("q_rad contains NaN or inf")
    m = q.shape[0]
    out = np.empty((m, UR10E_DH.n_joints + 1, 4, 4))
    out[:, 0] = T_BASE_LINK_BASE
    ct, st = np.cos(q), np.sin(q)
    L = np.zeros((m, 4, 4))
    L[:, 3, 3] = 1.0
    for i in range(UR10E_DH.n_joints):
        ca, sa = math.cos(UR10E_DH.alpha[i]), math.sin(UR10E_DH.alpha[i])
        a, d = UR10E_DH.a[i], UR10E_DH.d[i]
        c, s = ct[:, i], st[:, i]
        L[:, 0, 0], L[:, 0, 1], L[:, 0, 2], L[:, 0, 3] = c, -s * ca, s * sa, a * c
        L[:, 1, 0], L[:, 1, 1], L[:, 1, 2], L[:, 1, 3] = s, c * ca, -c * sa, a * s
        L[:, 2, 1], L[:, 2, 2], L[:, 2, 3] = sa, ca, d
        np.matmul(out[:, i], L, out=out[:, i + 1])
    return out


def _rigid_inverse(T: np.ndarray) -> np.ndarray:
    R, p = T[:3, :3], T[:3, 3]
    out = np.eye(4)
    out[:3, :3] = R.T
    out[:3, 3] = -R.T @ p
    return out


class Ur10eKinematics:
    """Forward and closed-form inverse kinematics of a UR10e with an optional tool.

    Stateless after construction; safe to share between threads.

    Args:
        T_flange_tcp: (4, 4) pose of the TCP in the flange frame (DH frame 6 = URDF ``tool0``), metres;
            identity (TCP = flange) when None.
        joint_limits_rad: (6, 2) lower/upper joint limits, radians; ``UR10E_JOINT_LIMITS_RAD`` when None.
            Configure conservative limits here; the IK only returns solutions inside them.

    Raises:
        KinematicsInputError: a malformed tool transform or limits (wrong shape, NaN, lower ≥ upper).
    """

    def __init__(
        self, T_flange_tcp: np.ndarray | None = None, joint_limits_rad: np.ndarray | None = None
    ) -> None:
        self._geometry = UrGeometry.from_dh(UR10E_DH)
        if T_flange_tcp is None:
            self._T_flange_tcp = np.eye(4)
            self._T_tcp_flange: np.ndarray | None = None
        else:
            self._T_flange_tcp = as_transform(T_flange_tcp, "T_flange_tcp").copy()
            self._T_tcp_flange = _rigid_inverse(self._T_flange_tcp)
        self._T_flange_tcp.setflags(write=False)
        limits = UR10E_JOINT_LIMITS_RAD if joint_limits_rad is None else joint_limits_rad
        limits = np.array(limits, dtype=np.float64)
        if limits.shape != (6, 2):
            raise KinematicsInputError(f"joint_limits_rad must have shape (6, 2), got {limits.shape}")
        if not np.isfinite(limits).all() or not (limits[:, 0] < limits[:, 1]).all():
            raise KinematicsInputError(
                "joint_limits_rad rows must be finite [lower, upper] with lower < upper, "
                f"got {limits.tolist()}"
            )
        limits.setflags(write=False)
        self._limits = limits
        self._lower = limits[:, 0].tolist()
        self._upper = limits[:, 1].tolist()
        # The solver returns angles in [−π, π]; limits that contain that interval need no per-value work.
        self._limits_cover_pi = bool((limits[:, 0] <= -math.pi).all() and (limits[:, 1] >= math.pi).all())

    @property
    def T_flange_tcp(self) -> np.ndarray:  # noqa: N802 - frame names carry their capital T
        """(4, 4) read-only tool transform, TCP in the flange frame."""
        return self._T_flange_tcp

    @property
    def joint_limits_rad(self) -> np.ndarray:
        """(6, 2) read-only lower/upper joint limits, radians."""
        return self._limits

    # ------------------------------------------------------------------ forward kinematics

    def forward_flange(self, q_rad: np.ndarray) -> np.ndarray:
        """Flange pose for joint angles.

        Args:
            q_rad: (6,) joint angles in ``UR10E_JOINT_NAMES`` order, radians.

        Returns:
            (4, 4) ``T_base_link_flange``, metres.

        Raises:
            KinematicsInputError: ``q_rad`` is not (6,) or holds NaN/inf.
        """
        T = forward_dh(UR10E_DH, q_rad)
        T[:2] *= -1.0  # Rz(π) · T_base_flange
        return T

    def forward(self, q_rad: np.ndarray) -> np.ndarray:
        """TCP pose for joint angles.

        Args:
            q_rad: (6,) joint angles in ``UR10E_JOINT_NAMES`` order, radians.

        Returns:
            (4, 4) ``T_base_link_tcp``, metres.

        Raises:
            KinematicsInputError: ``q_rad`` is not (6,) or holds NaN/inf.
        """
        T = self.forward_flange(q_rad)
        return T if self._T_tcp_flange is None else T @ self._T_flange_tcp

    def forward_in_base(self, q_rad: np.ndarray) -> np.ndarray:
        """TCP pose in the DH ``base`` frame (what the UR controller reports as the TCP pose).

        Args:
            q_rad: (6,) joint angles, radians.

        Returns:
            (4, 4) ``T_base_tcp``, metres.
        """
        T = forward_dh(UR10E_DH, q_rad)
        return T if self._T_tcp_flange is None else T @ self._T_flange_tcp

    def forward_batch(self, q_rad: np.ndarray) -> np.ndarray:
        """Vectorised ``forward`` for many joint vectors.

        Args:
            q_rad: (m, 6) joint angles, radians.

        Returns:
            (m, 4, 4) ``T_base_link_tcp``, metres.
        """
        T = forward_dh_batch(UR10E_DH, q_rad)
        T[:, :2, :] *= -1.0
        return T if self._T_tcp_flange is None else T @ self._T_flange_tcp

    def link_frames_batch(self, q_rad: np.ndarray) -> np.ndarray:
        """Every DH frame of the chain for many joint vectors: the per-link frames collision checks need.

        Frame 0 is the DH ``base`` (fixed, = ``T_BASE_LINK_BASE``); frame i (1…6) is DH frame i, rigidly
        attached to link i (moved by joint i; standard DH: its origin sits on joint i+1's axis, z along it);
        frame 6 is the flange (``forward_flange``). The tool offset is not applied.

        Args:
            q_rad: (m, 6) joint angles, radians.

        Returns:
            (m, 7, 4, 4) ``T_base_link_frame_i``, metres.

        Raises:
            KinematicsInputError: ``q_rad`` is not (m, 6) or holds a NaN/inf.
        """
        return link_frames_batch(q_rad)

    # ------------------------------------------------------------------ inverse kinematics

    def inverse(self, T_base_link_tcp: np.ndarray, *, q6_at_wrist_singularity_rad: float = 0.0) -> np.ndarray:
        """Every closed-form IK solution inside the joint limits.

        Each joint value is the representation ``q + 2πk`` inside the limits nearest 0 (so with the default
        ±2π limits every angle is in [−π, π]); ``nearest`` chooses representations near a reference instead.
        Solutions reproduce the pose to rounding (~1e-14) for an orthonormal rotation; a rotation that is off
        by ε (≤ 1e-6 accepted) gives pose errors of order ε. ~12 µs per call in CPython (scalar ``math``).

        Args:
            T_base_link_tcp: (4, 4) TCP pose in ``base_link``, metres; rotation orthonormal within 1e-6.
            q6_at_wrist_singularity_rad: q6 to use at a wrist singularity (sin q5 ≈ 0), where only q4 ± q6
                is defined, radians; q4 takes the rest.

        Returns:
            (n, 6) joint solutions, radians, n ≤ 8 (up to 8 for a generic pose, fewer at singularities, and
            (0, 6) when the pose is out of reach or every solution violates the limits; ``nearest`` says why).

        Raises:
            KinematicsInputError: malformed pose (shape, NaN/inf, not a rotation).
        """
        solutions, _ = self._solve(T_base_link_tcp, "T_base_link_tcp", True, q6_at_wrist_singularity_rad)
        return np.array(solutions, dtype=np.float64).reshape(-1, 6)

    def inverse_in_base(
        self, T_base_tcp: np.ndarray, *, q6_at_wrist_singularity_rad: float = 0.0
    ) -> np.ndarray:
        """``inverse`` for a TCP pose given in the DH ``base`` frame.

        Args:
            T_base_tcp: (4, 4) TCP pose in ``base``, metres.
            q6_at_wrist_singularity_rad: see ``inverse``.

        Returns:
            (n, 6) joint solutions, radians, n ≤ 8.
        """
        solutions, _ = self._solve(T_base_tcp, "T_base_tcp", False, q6_at_wrist_singularity_rad)
        return np.array(solutions, dtype=np.float64).reshape(-1, 6)

    def nearest(
        self, T_base_link_tcp: np.ndarray, q_ref_rad: np.ndarray, max_jump_rad: float | None = None
    ) -> np.ndarray:
        """The IK solution closest to reference joints (typically the current ones), with wrap-around.

        Per joint, the representation ``q + 2πk`` inside the limits closest to ``q_ref_rad`` is used (a pan
        joint at +3.1 rad reaches a target at "−3.1" by moving +0.08, not −6.2). Among the solutions, the one
        with the smallest max-abs joint difference ``max_i |q_i − q_ref_i|`` wins (the move time is set by the
        joint that travels furthest); ties go to the smaller sum of squares. At a wrist singularity q6 is
        held at ``q_ref_rad[5]``.

        Args:
            T_base_link_tcp: (4, 4) TCP pose in ``base_link``, metres.
            q_ref_rad: (6,) reference joint angles, radians (need not be inside the limits).
            max_jump_rad: if given, the largest accepted per-joint move from ``q_ref_rad``, radians.

        Returns:
            (6,) joint angles inside the limits, radians.

        Raises:
            KinematicsInputError: malformed pose, reference or ``max_jump_rad``.
            IkUnreachableError: no solution: the pose is out of reach, or every solution is outside the joint
                limits; the message gives the TCP position in ``base_link`` and the reason.
            IkJumpError: the nearest solution moves some joint by more than ``max_jump_rad``.
        """
        q_ref = as_joint_array(q_ref_rad, "q_ref_rad")
        if max_jump_rad is not None and not (math.isfinite(max_jump_rad) and max_jump_rad > 0.0):
            raise KinematicsInputError(
                f"max_jump_rad must be a positive finite number or None, got {max_jump_rad}"
            )
        solutions, reason = self._solve(T_base_link_tcp, "T_base_link_tcp", True, float(q_ref[5]))
        if not solutions:
            p = np.asarray(T_base_link_tcp, dtype=np.float64)[:3, 3]
            raise IkUnreachableError(
                f"no IK solution for the TCP at p_base_link = ({p[0]:.4f}, {p[1]:.4f}, {p[2]:.4f}) m: "
                f"{reason}; choose a target inside the arm's workspace and joint limits"
            )
        S = np.array(solutions)  # (n, 6), each value inside the limits
        lower, upper = self._limits[:, 0], self._limits[:, 1]
        # Per joint, turns k with S + 2πk inside the limits form [k_min, k_max] (∋ 0, as S is inside); the
        # distance to q_ref is convex in k, so the best k is the unconstrained optimum clipped to that range.
        k_min = np.ceil((lower - _LIMIT_TOL_RAD - S) / _TAU)
        k_max = np.floor((upper + _LIMIT_TOL_RAD - S) / _TAU)
        k = np.clip(np.round((q_ref - S) / _TAU), k_min, k_max)
        chosen = np.clip(S + _TAU * k, lower, upper)  # (n, 6)
        diff = np.abs(chosen - q_ref)
        best = int(np.lexsort(((diff * diff).sum(axis=1), diff.max(axis=1)))[0])
        q: np.ndarray = chosen[best].copy()
        if max_jump_rad is not None and diff[best].max() > max_jump_rad:
            joint = int(np.argmax(diff[best]))
            raise IkJumpError(
                f"nearest IK solution moves {UR10E_JOINT_NAMES[joint]} by {diff[best, joint]:.3f} rad "
                f"(from {q_ref[joint]:.3f} to {q[joint]:.3f}), more than max_jump_rad = {max_jump_rad:.3f}; "
                "send intermediate targets closer to the current joints, or raise max_jump_rad"
            )
        return q

    # ------------------------------------------------------------------ internals

    def _solve(
        self, T_tcp: np.ndarray, name: str, in_base_link: bool, q6_singular_rad: float
    ) -> tuple[list[tuple[float, ...]], str]:
        """Closed-form solutions inside the limits (nearest-0 representations) and, if none, why."""
        T = as_transform(T_tcp, name)
        if self._T_tcp_flange is not None:
            T = T @ self._T_tcp_flange
        rows = T.tolist()
        if in_base_link:  # T_base_flange = Rz(π) · T_base_link_flange: negate the x and y rows.
            rows[0] = [-v for v in rows[0]]
            rows[1] = [-v for v in rows[1]]
        raw, reason = solve_ur_ik(self._geometry, rows, q6_singular_rad)
        if not raw or self._limits_cover_pi:
            return raw, reason
        fitted: list[tuple[float, ...]] = []
        blocked: set[int] = set()
        for q in raw:
            fit, bad_joint = self._fit_limits(q)
            if fit is not None:
                fitted.append(fit)
            else:
                blocked.add(bad_joint)
        if not fitted:
            names = ", ".join(UR10E_JOINT_NAMES[i] for i in sorted(blocked))
            reason = (
                f"outside joint limits: all {len(raw)} analytic solutions put {names} "
                "outside joint_limits_rad"
            )
        return fitted, reason

    def _fit_limits(self, q: tuple[float, ...]) -> tuple[tuple[float, ...] | None, int]:
        """Per joint, the form q + 2πk inside the limits nearest 0; or (None, index of a joint with none)."""
        out = []
        for i, (value, lo, hi) in enumerate(zip(q, self._lower, self._upper, strict=True)):
            k_min = math.ceil((lo - _LIMIT_TOL_RAD - value) / _TAU)
            k_max = math.floor((hi + _LIMIT_TOL_RAD - value) / _TAU)
            if k_min > k_max:
                return None, i
            k = min(max(round(-value / _TAU), k_min), k_max)
            out.append(min(max(value + k * _TAU, lo), hi))
        return tuple(out), -1
