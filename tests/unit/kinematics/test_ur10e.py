"""UR10e FK/IK against independent references: a DH product written here, hand-computed poses, FK∘IK."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from visuomotor.errors import IkUnreachableError, KinematicsError
from visuomotor.kinematics import (
    T_BASE_LINK_BASE,
    UR10E_DH,
    UR10E_JOINT_LIMITS_RAD,
    UR10E_JOINT_NAMES,
    DhParameters,
    IkJumpError,
    KinematicsInputError,
    Ur10eKinematics,
    base_from_base_link,
    base_link_from_base,
)
from visuomotor.kinematics.ur_analytic import UrGeometry

# The published UR10e table, typed in again so the reference does not share a constant with the code.
D_M = (0.1807, 0.0, 0.0, 0.17415, 0.11985, 0.11655)
A_M = (0.0, -0.6127, -0.57155, 0.0, 0.0, 0.0)
ALPHA_RAD = (math.pi / 2, 0.0, 0.0, math.pi / 2, -math.pi / 2, 0.0)
LOWER, UPPER = UR10E_JOINT_LIMITS_RAD[:, 0], UR10E_JOINT_LIMITS_RAD[:, 1]


def _elementary(n: int, kind: str, value: np.ndarray | float) -> np.ndarray:
    """(n, 4, 4) elementary transforms: rotations about / translations along z or x."""
    v = np.broadcast_to(np.asarray(value, dtype=float), (n,))
    T = np.tile(np.eye(4), (n, 1, 1))
    c, s = np.cos(v), np.sin(v)
    if kind == "rz":
        T[:, 0, 0], T[:, 0, 1], T[:, 1, 0], T[:, 1, 1] = c, -s, s, c
    elif kind == "rx":
        T[:, 1, 1], T[:, 1, 2], T[:, 2, 1], T[:, 2, 2] = c, -s, s, c
    elif kind == "tz":
        T[:, 2, 3] = v
    elif kind == "tx":
        T[:, 0, 3] = v
    return T


def reference_fk_base(q: np.ndarray) -> np.ndarray:
    """(n, 6) → (n, 4, 4) T_base_flange as the literal product Π Rz(θ)·Tz(d)·Tx(a)·Rx(α)."""
    n = q.shape[0]
    T = np.tile(np.eye(4), (n, 1, 1))
    for i in range(6):
        T = T @ _elementary(n, "rz", q[:, i]) @ _elementary(n, "tz", D_M[i])
        T = T @ _elementary(n, "tx", A_M[i]) @ _elementary(n, "rx", ALPHA_RAD[i])
    return T


def reference_fk_base_link(q: np.ndarray, T_flange_tcp: np.ndarray | None = None) -> np.ndarray:
    """(n, 6) → (n, 4, 4) T_base_link_tcp = Rz(π) · T_base_flange · T_flange_tcp."""
    rz_pi = _elementary(1, "rz", math.pi)[0]
    T = rz_pi @ reference_fk_base(q)
    return T if T_flange_tcp is None else T @ T_flange_tcp


def pose_errors(T_a: np.ndarray, T_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(n, 4, 4) pairs → position error (m) and rotation angle between them (rad), each (n,).

    The angle uses ‖Ra − Rb‖_F = 2√2·sin(θ/2), exact near 0 where acos of the trace would lose 8 digits.
    """
    pos = np.linalg.norm(T_a[:, :3, 3] - T_b[:, :3, 3], axis=1)
    fro = np.linalg.norm(T_a[:, :3, :3] - T_b[:, :3, :3], axis=(1, 2))
    return pos, 2.0 * np.arcsin(np.minimum(fro / (2.0 * math.sqrt(2.0)), 1.0))


def wrapped_diff(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Element-wise |a − b| modulo 2π, in [0, π]."""
    return np.abs((a - b + math.pi) % (2.0 * math.pi) - math.pi)


@pytest.fixture(scope="module")
def kin() -> Ur10eKinematics:
    return Ur10eKinematics()


# ---------------------------------------------------------------------- constants and frames


def test_constants_match_the_published_table() -> None:
    assert UR10E_DH.d == D_M and UR10E_DH.a == A_M and UR10E_DH.alpha == ALPHA_RAD
    assert UR10E_JOINT_NAMES == (
        "shoulder_pan_joint",
        "shoulder_lift_joint",
        "elbow_joint",
        "wrist_1_joint",
        "wrist_2_joint",
        "wrist_3_joint",
    )
    two_pi = 2.0 * math.pi
    np.testing.assert_array_equal(UR10E_JOINT_LIMITS_RAD, [[-two_pi, two_pi]] * 2 + [[-math.pi, math.pi]]
                                  + [[-two_pi, two_pi]] * 3)
    np.testing.assert_allclose(T_BASE_LINK_BASE, _elementary(1, "rz", math.pi)[0], atol=1e-15)
    with pytest.raises(ValueError, match="read-only"):
        UR10E_JOINT_LIMITS_RAD[0, 0] = 0.0
    with pytest.raises(ValueError, match="read-only"):
        T_BASE_LINK_BASE[0, 0] = 1.0


def test_dh_parameters_are_frozen_slotted_and_validated() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        UR10E_DH.d = D_M  # type: ignore[misc]
    assert not hasattr(UR10E_DH, "__dict__")
    with pytest.raises(KinematicsInputError, match="same non-zero length"):
        DhParameters(d=(0.1, 0.2), a=(0.0,), alpha=(0.0, 0.0))
    with pytest.raises(KinematicsInputError, match="alpha must be finite"):
        DhParameters(d=(0.1,), a=(0.0,), alpha=(math.nan,))
    bad = DhParameters(d=D_M, a=A_M, alpha=(math.pi / 2, 0.0, 0.1, math.pi / 2, -math.pi / 2, 0.0))
    with pytest.raises(KinematicsInputError, match=r"not a UR-type arm: alpha3=0\.1"):
        UrGeometry.from_dh(bad)


# ---------------------------------------------------------------------- forward kinematics


def test_forward_at_zero_matches_hand_computation(kin: Ur10eKinematics) -> None:
    # q = 0, DH base frame: x = a2 + a3, y = −(d4 + d6), z = d1 − d5; R = Rx(π/2) (the twists π/2, π/2, −π/2
    # add up).
    # base_link = Rz(π)·base flips x and y.
    T = kin.forward(np.zeros(6))
    np.testing.assert_allclose(T[:3, 3], [0.6127 + 0.57155, 0.17415 + 0.11655, 0.1807 - 0.11985], atol=1e-12)
    np.testing.assert_allclose(T[:3, :3], [[-1, 0, 0], [0, 0, 1], [0, 1, 0]], atol=1e-12)
    p_base = kin.forward_in_base(np.zeros(6))[:3, 3]
    np.testing.assert_allclose(p_base, [-1.18425, -0.2907, 0.06085], atol=1e-12)


def test_forward_upright_pose_matches_hand_computation(kin: Ur10eKinematics) -> None:
    # q = (0, −π/2, 0, −π/2, 0, 0): both links point up, wrist 2 up, wrist 3 sideways.
    # Height d1 + |a2| + |a3| + d5 = 1.4848 m; lateral offset d4 + d6 = 0.2907 m along −y_base = +y_base_link.
    T = kin.forward(np.array([0.0, -math.pi / 2, 0.0, -math.pi / 2, 0.0, 0.0]))
    np.testing.assert_allclose(T[:3, 3], [0.0, 0.2907, 1.4848], atol=1e-12)
    # Pan by π/2 in base maps (x, y) → (−y, x).
    T = kin.forward(np.array([math.pi / 2, 0.0, 0.0, 0.0, 0.0, 0.0]))
    np.testing.assert_allclose(T[:3, 3], [-0.2907, 1.18425, 0.06085], atol=1e-12)


def test_forward_matches_reference_dh_product(kin: Ur10eKinematics) -> None:
    q = np.random.default_rng(1).uniform(LOWER, UPPER, (500, 6))
    reference = reference_fk_base_link(q)
    ours = np.stack([kin.forward(qi) for qi in q])
    np.testing.assert_allclose(ours, reference, atol=1e-13)
    np.testing.assert_allclose(kin.forward_batch(q), reference, atol=1e-13)
    np.testing.assert_allclose(np.stack([kin.forward_flange(qi) for qi in q]), reference, atol=1e-13)
    in_base = np.stack([kin.forward_in_base(qi) for qi in q])
    np.testing.assert_allclose(in_base, reference_fk_base(q), atol=1e-13)
    np.testing.assert_allclose(base_link_from_base(in_base), reference, atol=1e-13)
    np.testing.assert_allclose(base_from_base_link(reference), in_base, atol=1e-13)
    with pytest.raises(KinematicsInputError, match=r"shape \(\.\.\., 4, 4\), got \(3, 3\)"):
        base_link_from_base(np.eye(3))


# ---------------------------------------------------------------------- inverse kinematics


def test_round_trip_10k_random_poses(kin: Ur10eKinematics) -> None:
    n = 10_000
    q_gen = np.random.default_rng(2).uniform(LOWER, UPPER, (n, 6))
    T = reference_fk_base_link(q_gen)
    solutions = [kin.inverse(T_i) for T_i in T]
    counts = np.array([len(s) for s in solutions])
    assert counts.min() >= 1 and counts.max() <= 8
    assert (counts == 8).mean() > 0.5, np.bincount(counts)  # most random poses have all 8 solutions
    S = np.concatenate(solutions)
    owner = np.repeat(np.arange(n), counts)
    assert np.isfinite(S).all()
    assert ((-math.pi <= S) & (math.pi >= S)).all()  # nearest-0 representation inside ±2π (elbow ±π)

    pos_err, rot_err = pose_errors(reference_fk_base_link(S), T[owner])
    assert pos_err.max() < 1e-9, pos_err.max()
    assert rot_err.max() < 1e-9, rot_err.max()

    best = np.full(n, np.inf)
    np.minimum.at(best, owner, wrapped_diff(S, q_gen[owner]).max(axis=1))
    assert best.max() < 1e-7, f"generating q missing for pose {int(best.argmax())}: {best.max():.2e} rad off"


@pytest.mark.parametrize(
    "T_flange_tcp",
    [
        np.array([[1.0, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0.15], [0, 0, 0, 1]]),
        np.array([[1.0, 0, 0, 0.01], [0, math.cos(0.5), -math.sin(0.5), 0.02],
                  [0, math.sin(0.5), math.cos(0.5), 0.15], [0, 0, 0, 1]]),
    ],
    ids=["z_0.15m", "z_0.15m_rotated"],
)
def test_tool_transform_round_trip(T_flange_tcp: np.ndarray) -> None:
    kin = Ur10eKinematics(T_flange_tcp=T_flange_tcp)
    q_gen = np.random.default_rng(3).uniform(LOWER, UPPER, (1000, 6))
    T = reference_fk_base_link(q_gen, T_flange_tcp)
    np.testing.assert_allclose(kin.forward_batch(q_gen), T, atol=1e-13)
    np.testing.assert_allclose(kin.forward(q_gen[0]), T[0], atol=1e-13)
    flange = reference_fk_base_link(q_gen[:1])[0]
    np.testing.assert_allclose(T[0, :3, 3], flange[:3, 3] + flange[:3, :3] @ T_flange_tcp[:3, 3], atol=1e-13)
    solutions = [kin.inverse(T_i) for T_i in T]
    counts = np.array([len(s) for s in solutions])
    S, owner = np.concatenate(solutions), np.repeat(np.arange(len(T)), counts)
    pos_err, rot_err = pose_errors(reference_fk_base_link(S, T_flange_tcp), T[owner])
    assert pos_err.max() < 1e-9 and rot_err.max() < 1e-9
    best = np.full(len(T), np.inf)
    np.minimum.at(best, owner, wrapped_diff(S, q_gen[owner]).max(axis=1))
    assert best.max() < 1e-7


def test_inverse_in_base_agrees_with_inverse(kin: Ur10eKinematics) -> None:
    q = np.array([0.7, -1.9, 1.2, -0.4, 1.1, -2.5])
    S_base = kin.inverse_in_base(kin.forward_in_base(q))
    assert len(S_base) == 8
    np.testing.assert_allclose(S_base, kin.inverse(kin.forward(q)), atol=1e-12)


def test_custom_limits_choose_the_in_limit_representation() -> None:
    limits = np.array(UR10E_JOINT_LIMITS_RAD)
    limits[0] = (0.0, 2.0 * math.pi)
    kin = Ur10eKinematics(joint_limits_rad=limits)
    q = np.array([-1.0, -1.2, 1.3, -1.6, -1.57, 0.4])
    S = kin.inverse(kin.forward(q))
    assert ((limits[:, 0] <= S) & (limits[:, 1] >= S)).all()
    assert np.abs(S - (q + np.array([2.0 * math.pi, 0, 0, 0, 0, 0]))).max(axis=1).min() < 1e-9


# ---------------------------------------------------------------------- nearest


def test_nearest_wraps_around_instead_of_unwinding(kin: Ur10eKinematics) -> None:
    q_target = np.array([-math.pi + 0.02, -1.2, 1.3, -1.6, -1.57, 0.4])
    T = kin.forward(q_target)
    assert np.abs(kin.inverse(T)[:, 0] - (-math.pi + 0.02)).min() < 1e-9  # inverse: nearest-0 form
    q_ref = q_target.copy()
    q_ref[0] = math.pi - 0.02
    q = kin.nearest(T, q_ref, max_jump_rad=0.1)
    assert q[0] == pytest.approx(math.pi + 0.02, abs=1e-9)  # +π side, a 0.04 rad move, not −π (6.24 rad)
    np.testing.assert_allclose(q[1:], q_target[1:], atol=1e-9)
    # Beyond ±π on a ±2π joint: reference 5.0 reaches a target at 5.1 ≡ −1.18 directly.
    q_target[0] = 5.1 - 2.0 * math.pi
    q_ref[0] = 5.0
    assert kin.nearest(kin.forward(q_target), q_ref)[0] == pytest.approx(5.1, abs=1e-9)


def test_nearest_respects_the_limit_when_wrapping(kin: Ur10eKinematics) -> None:
    # Reference 6.2 rad on the pan; the target's pan 6.33 would be past +2π, so this branch's only in-limit
    # form is 0.0468 (a 6.15 rad move) and some other branch is nearer. Never the 0.13 rad move to 6.33.
    q_target = np.array([6.33 - 2.0 * math.pi, -1.2, 1.3, -1.6, -1.57, 0.4])
    q_ref = q_target.copy()
    q_ref[0] = 6.2
    T = kin.forward(q_target)
    q = kin.nearest(T, q_ref)
    assert ((q >= LOWER) & (q <= UPPER)).all()
    assert np.abs(q - q_ref).max() > 1.0
    assert pose_errors(reference_fk_base_link(q[None]), T[None])[0][0] < 1e-9
    with pytest.raises(IkJumpError, match=r"moves \w+_joint by \d\.\d{3} rad .*max_jump_rad = 0\.500"):
        kin.nearest(T, q_ref, max_jump_rad=0.5)


def test_nearest_is_the_max_abs_closest_solution(kin: Ur10eKinematics) -> None:
    rng = np.random.default_rng(4)
    for _ in range(300):
        q_gen, q_ref = rng.uniform(LOWER, UPPER, (2, 6))
        T = kin.forward(q_gen)
        q = kin.nearest(T, q_ref)
        assert ((q >= LOWER) & (q <= UPPER)).all()
        pos_err, rot_err = pose_errors(reference_fk_base_link(q[None]), T[None])
        assert pos_err[0] < 1e-9 and rot_err[0] < 1e-9
        # Brute force: every solution, every representation q + 2πk (k = −2…2) inside the limits.
        best_cost = math.inf
        for s in kin.inverse(T):
            reps = s[None, :] + 2.0 * math.pi * np.arange(-2, 3)[:, None]  # (5, 6)
            dist = np.where((reps >= LOWER) & (reps <= UPPER), np.abs(reps - q_ref), np.inf)
            best_cost = min(best_cost, dist.min(axis=0).max())
        assert np.abs(q - q_ref).max() == pytest.approx(best_cost, abs=1e-12)


def test_nearest_rejects_jumps(kin: Ur10eKinematics) -> None:
    q_target = np.array([0.3, -1.1, 1.4, -0.9, 1.2, 0.5])
    q_ref = q_target + np.array([0.0, 0.0, 0.0, 0.0, 0.5, 0.0])
    with pytest.raises(IkJumpError, match=r"wrist_2_joint by 0\.500 rad .*max_jump_rad = 0\.100"):
        kin.nearest(kin.forward(q_target), q_ref, max_jump_rad=0.1)
    assert issubclass(IkJumpError, KinematicsError)
    q = kin.nearest(kin.forward(q_target), q_ref, max_jump_rad=0.6)
    np.testing.assert_allclose(q, q_target, atol=1e-9)


def _pose(p_base_link: tuple[float, float, float], R: np.ndarray | None = None) -> np.ndarray:
    T = np.eye(4)
    T[:3, 3] = p_base_link
    if R is not None:
        T[:3, :3] = R
    return T


def test_unreachable_poses_raise_with_position_and_reason(kin: Ur10eKinematics) -> None:
    far = _pose((2.0, 0.0, 0.5))
    assert kin.inverse(far).shape == (0, 6)
    message = r"p_base_link = \(2\.0000, 0\.0000, 0\.5000\) m: out of reach: the wrist-1 axis"
    with pytest.raises(IkUnreachableError, match=message):
        kin.nearest(far, np.zeros(6))
    # Flange straight up over the base: the wrist centre is 0.05 m from the base axis, inside the d4 cylinder.
    over_base = _pose((0.05, 0.0, 0.8))
    assert kin.inverse(over_base).shape == (0, 6)
    with pytest.raises(IkUnreachableError, match=r"out of reach: .*0\.0500 m from the base z axis.*cylinder"):
        kin.nearest(over_base, np.zeros(6))
    # Reachable, but not inside these joint limits.
    tight = Ur10eKinematics(joint_limits_rad=np.array([[-0.5, 0.5]] * 6))
    T = kin.forward(np.array([2.0, -1.0, 1.0, -1.5, 1.5, 0.0]))
    assert len(kin.inverse(T)) > 0 and tight.inverse(T).shape == (0, 6)
    message = r"outside joint limits: all \d analytic solutions put shoulder_pan_joint"
    with pytest.raises(IkUnreachableError, match=message):
        tight.nearest(T, np.zeros(6))


@pytest.mark.parametrize("q5", [0.0, math.pi, -math.pi])
def test_wrist_singularity_gives_finite_solutions_with_chosen_q6(kin: Ur10eKinematics, q5: float) -> None:
    q_gen = np.array([0.3, -1.1, 1.4, -0.9, q5, 0.5])
    T = kin.forward(q_gen)
    for q6_choice in (0.0, 0.5, -2.0):
        S = kin.inverse(T, q6_at_wrist_singularity_rad=q6_choice)
        assert len(S) >= 2 and np.isfinite(S).all()
        singular = np.abs(np.sin(S[:, 4])) < 1e-9
        assert singular.any()
        np.testing.assert_allclose(S[singular, 5], q6_choice, atol=1e-12)
        pos_err, rot_err = pose_errors(reference_fk_base_link(S), np.repeat(T[None], len(S), axis=0))
        assert pos_err.max() < 1e-9 and rot_err.max() < 1e-9
    assert wrapped_diff(kin.inverse(T, q6_at_wrist_singularity_rad=0.5), q_gen).max(axis=1).min() < 1e-9
    q_ref = q_gen + np.array([0.01, -0.01, 0.01, 0.02, 0.0, -0.3])
    q = kin.nearest(T, q_ref)
    assert q[5] == pytest.approx(q_ref[5], abs=1e-12)  # wrist 3 held where it is, wrist 1 takes the rest
    assert pose_errors(reference_fk_base_link(q[None]), T[None])[1][0] < 1e-9


def test_shoulder_singularity_gives_merged_finite_solutions(kin: Ur10eKinematics) -> None:
    # Put the wrist centre on the d4 cylinder: its in-plane coordinate a2·c2 + a3·c23 + d5·s234 must be 0.
    q2, q3 = -math.pi / 2 - 0.3, 0.6
    s234 = -(A_M[1] * math.cos(q2) + A_M[2] * math.cos(q2 + q3)) / D_M[4]
    q4 = math.asin(s234) - q2 - q3
    q_gen = np.array([0.4, q2, q3, q4, 0.9, -0.3])
    T = kin.forward(q_gen)
    wrist_centre = T[:3, 3] - D_M[5] * T[:3, 2]
    assert math.hypot(wrist_centre[0], wrist_centre[1]) == pytest.approx(D_M[3], abs=1e-12)
    S = kin.inverse(T)
    assert 1 <= len(S) <= 4 and np.isfinite(S).all()  # the two shoulder branches are one
    pos_err, rot_err = pose_errors(reference_fk_base_link(S), np.repeat(T[None], len(S), axis=0))
    # The singular direction loses half the digits (δq1 ~ √ε); still sub-micrometre.
    assert pos_err.max() < 1e-7 and rot_err.max() < 1e-7
    assert wrapped_diff(S, q_gen).max(axis=1).min() < 1e-6


@pytest.mark.parametrize("q3", [0.0, 1e-9])
def test_stretched_elbow_gives_finite_solutions(kin: Ur10eKinematics, q3: float) -> None:
    q_gen = np.array([0.2, -0.8, q3, -1.0, 1.3, 0.1])
    T = kin.forward(q_gen)
    S = kin.inverse(T)
    assert np.isfinite(S).all() and len(S) >= 1
    pos_err, rot_err = pose_errors(reference_fk_base_link(S), np.repeat(T[None], len(S), axis=0))
    assert pos_err.max() < 1e-9 and rot_err.max() < 1e-9
    assert wrapped_diff(S, q_gen).max(axis=1).min() < 1e-6


# ---------------------------------------------------------------------- input validation

_ROT_SCALED = np.diag([1.01, 1.0, 1.0])
_REFLECTION = np.diag([1.0, 1.0, -1.0])


@pytest.mark.parametrize(
    ("T", "message"),
    [
        (np.eye(3), r"T_base_link_tcp must have shape \(4, 4\), got \(3, 3\)"),
        (np.full((4, 4), np.nan), "T_base_link_tcp contains NaN or inf"),
        (_pose((0.5, 0.0, np.inf)), "T_base_link_tcp contains NaN or inf"),
        (_pose((0.5, 0.2, 0.3), _ROT_SCALED), r"not orthonormal \(max \|RᵀR − I\| = 2\.01e-02"),
        (_pose((0.5, 0.2, 0.3), _REFLECTION), "reflection, not a rotation"),
        (np.array([[1.0, 0, 0, 0.5], [0, 1, 0, 0], [0, 0, 1, 0.3], [0, 0, 1, 1]]), "bottom row must be"),
    ],
)
def test_bad_poses_raise_named_errors(kin: Ur10eKinematics, T: np.ndarray, message: str) -> None:
    with pytest.raises(KinematicsInputError, match=message):
        kin.inverse(T)
    with pytest.raises(KinematicsInputError, match=message):
        kin.nearest(T, np.zeros(6))


def test_bad_joint_vectors_and_arguments_raise_named_errors(kin: Ur10eKinematics) -> None:
    assert issubclass(KinematicsInputError, KinematicsError) and issubclass(KinematicsInputError, ValueError)
    with pytest.raises(KinematicsInputError, match=r"q_rad must have shape \(6,\), got \(5,\)"):
        kin.forward(np.zeros(5))
    with pytest.raises(KinematicsInputError, match="q_rad contains NaN or inf"):
        kin.forward(np.array([0.0, 0, 0, np.nan, 0, 0]))
    with pytest.raises(KinematicsInputError, match=r"q_rad must have shape \(m, 6\)"):
        kin.forward_batch(np.zeros(6))
    T = kin.forward(np.array([0.3, -1.1, 1.4, -0.9, 1.2, 0.5]))
    with pytest.raises(KinematicsInputError, match=r"q_ref_rad must have shape \(6,\), got \(2, 3\)"):
        kin.nearest(T, np.zeros((2, 3)))
    with pytest.raises(KinematicsInputError, match="q_ref_rad contains NaN or inf"):
        kin.nearest(T, np.array([0.0, 0, 0, 0, 0, np.inf]))
    with pytest.raises(KinematicsInputError, match="max_jump_rad must be a positive finite number"):
        kin.nearest(T, np.zeros(6), max_jump_rad=0.0)


def test_bad_constructor_arguments_raise_named_errors() -> None:
    with pytest.raises(KinematicsInputError, match=r"T_flange_tcp must have shape \(4, 4\)"):
        Ur10eKinematics(T_flange_tcp=np.eye(3))
    with pytest.raises(KinematicsInputError, match="T_flange_tcp: rotation block is not orthonormal"):
        Ur10eKinematics(T_flange_tcp=_pose((0.0, 0.0, 0.15), _ROT_SCALED))
    with pytest.raises(KinematicsInputError, match=r"joint_limits_rad must have shape \(6, 2\), got \(6,\)"):
        Ur10eKinematics(joint_limits_rad=np.zeros(6))
    with pytest.raises(KinematicsInputError, match="lower < upper"):
        Ur10eKinematics(joint_limits_rad=np.array([[1.0, -1.0]] * 6))
    kin = Ur10eKinematics(T_flange_tcp=_pose((0.0, 0.0, 0.15)))
    with pytest.raises(ValueError, match="read-only"):
        kin.T_flange_tcp[2, 3] = 0.0
