"""SafetyGuard: each limit passes just inside and fails just outside with the right reason and message."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from visuomotor.control import (
    REJECTION_REASONS,
    EstopActive,
    IkJumpViolation,
    JointAccelerationViolation,
    JointPositionViolation,
    JointVelocityViolation,
    MalformedCommand,
    NonFiniteValue,
    SafetyConfig,
    SafetyGuard,
    StaleJointStates,
    StalePerception,
    TablePlaneViolation,
    WorkspaceViolation,
)
from visuomotor.errors import SafetyViolation
from visuomotor.kinematics import T_FLANGE_TCP, Ur10eKinematics
from visuomotor.sim.world import top_down_tcp_pose

Q_HOME = np.array([-0.4, -2.2, 2.1, -1.47, -1.5708, 0.0])  # TCP at (0.370, 0.033, 0.457) m, pointing down
KIN = Ur10eKinematics(T_flange_tcp=T_FLANGE_TCP)


def guard(**overrides: Any) -> SafetyGuard:
    return SafetyGuard(SafetyConfig(**overrides), T_flange_tcp=T_FLANGE_TCP)


def one_point(g: SafetyGuard, q1: np.ndarray, t: float = 1.0, q0: np.ndarray = Q_HOME) -> None:
    """A single-point, position-only trajectory (linear path) from q0."""
    g.check_trajectory(q0, np.array([t]), q1[None])


def joint_step(j: int, dq: float) -> np.ndarray:
    q = Q_HOME.copy()
    q[j] += dq
    return q


def tcp_moved(dp: tuple[float, float, float]) -> np.ndarray:
    T = KIN.forward(Q_HOME)
    T[:3, 3] += dp
    return KIN.nearest(T, Q_HOME)


# ---------------------------------------------------------------------------- joint limits


def test_position_limit_just_inside_passes_just_outside_fails() -> None:
    upper = (-0.3, 6.1, 3.0, 6.1, 6.1, 6.1)  # shoulder_pan may not pass −0.3 rad (home is −0.4)
    g = guard(joint_upper_rad=upper)
    one_point(g, joint_step(0, 0.099))
    with pytest.raises(
        JointPositionViolation, match=r"shoulder_pan_joint reaches -0\.2990 rad.*joint_upper_rad\[0\]"
    ):
        one_point(g, joint_step(0, 0.101))
    assert g.rejections == {"joint_position_limit": 1}


def test_position_overshoot_between_in_limit_points_is_caught() -> None:
    # Both points are inside, but the spline leaves point 1 at +0.5 rad/s towards the limit and turns back
    # after it: the exact range check sees the overshoot.
    g = guard(joint_upper_rad=(-0.3, 6.1, 3.0, 6.1, 6.1, 6.1))
    pos = np.array([joint_step(0, 0.095), joint_step(0, 0.0)])
    vel = np.zeros((2, 6))
    g.check_trajectory(Q_HOME, np.array([1.0, 2.0]), pos, vel)
    vel[0, 0] = 0.5
    with pytest.raises(JointPositionViolation, match=r"shoulder_pan_joint reaches -0\.2"):
        g.check_trajectory(Q_HOME, np.array([1.0, 2.0]), pos, vel)


@pytest.mark.parametrize(("j", "name"), [(0, "shoulder_pan_joint"), (3, "wrist_1_joint")])
def test_velocity_limit_per_joint(j: int, name: str) -> None:
    g = guard()
    v = SafetyConfig().joint_velocity_limits_rad_s[j]
    one_point(g, joint_step(j, 0.99 * v * 0.1), t=0.1)
    with pytest.raises(JointVelocityViolation, match=rf"{name} reaches {1.01 * v:.3f} rad/s.*\[{j}\]"):
        one_point(g, joint_step(j, 1.01 * v * 0.1), t=0.1)


def test_velocity_limit_inside_a_spline_segment() -> None:
    # Rest to rest over 1 s: the cubic peaks at 1.5·Δq/T in the middle, above the mean speed Δq/T.
    g = guard()
    vel = np.zeros((1, 6))
    g.check_trajectory(Q_HOME, np.array([1.0]), joint_step(1, 0.66)[None], vel)
    with pytest.raises(
        JointVelocityViolation, match=r"shoulder_lift_joint reaches 1\.005 rad/s at t = 0\.500 s"
    ):
        g.check_trajectory(Q_HOME, np.array([1.0]), joint_step(1, 0.67)[None], vel)


def test_acceleration_limit() -> None:
    # Rest to rest in T = 0.5 s: peak |q̈| = 6·Δq/T² at both ends (limit 8 rad/s² for the elbow); the peak
    # speed 1.5·Δq/T = 1.0 rad/s stays under its 1.5 rad/s.
    g = guard()
    vel = np.zeros((1, 6))
    t = np.array([0.5])
    g.check_trajectory(Q_HOME, t, joint_step(2, -0.99 * 8 * 0.25 / 6)[None], vel)
    with pytest.raises(JointAccelerationViolation, match=r"elbow_joint reaches 8\.080 rad/s².*\[2\]"):
        g.check_trajectory(Q_HOME, t, joint_step(2, -1.01 * 8 * 0.25 / 6)[None], vel)


def test_acceleration_from_the_current_velocity_of_a_streamed_target() -> None:
    g = guard()
    qd = np.zeros(6)
    qd[4] = 0.5
    q1 = joint_step(4, 0.5 * 0.01 + 9.9 * 0.01**2)  # Δv = 0.099 rad/s in 10 ms = 9.9 rad/s² (limit 10)
    g.check_trajectory(Q_HOME, np.array([0.01]), q1[None], qd_start_rad_s=qd)
    q1 = joint_step(4, 0.5 * 0.01 + 10.1 * 0.01**2)
    with pytest.raises(JointAccelerationViolation, match="wrist_2_joint"):
        g.check_trajectory(Q_HOME, np.array([0.01]), q1[None], qd_start_rad_s=qd)


# ---------------------------------------------------------------------------- Cartesian limits


def test_workspace_box_per_axis() -> None:
    g = guard(workspace_max_m=(0.40, 0.65, 0.9))  # home TCP x = 0.370
    one_point(g, tcp_moved((0.029, 0, 0)))
    with pytest.raises(WorkspaceViolation, match=r"TCP reaches x = 0\.40[0-9]+ m.*workspace_max_m\[0\]"):
        one_point(g, tcp_moved((0.031, 0, 0)))
    g = guard(workspace_min_m=(0.15, 0.0, 0.0))  # home TCP y = 0.033
    with pytest.raises(WorkspaceViolation, match=r"y = -0\.00[0-9]+ m.*workspace_min_m\[1\]"):
        one_point(g, tcp_moved((0, -0.034, 0)))


def test_table_plane_for_tcp_and_flange() -> None:
    z_home = KIN.forward(Q_HOME)[2, 3]  # 0.4565
    g = guard(min_tcp_height_m=z_home - 0.049)
    one_point(g, tcp_moved((0, 0, -0.048)))
    with pytest.raises(
        TablePlaneViolation, match=r"the TCP goes down to z = 0\.40[0-9]+ m.*min_tcp_height_m"
    ):
        one_point(g, tcp_moved((0, 0, -0.05)))
    g = guard(min_flange_height_m=z_home + 0.16 - 0.049)
    one_point(g, tcp_moved((0, 0, -0.048)))
    with pytest.raises(TablePlaneViolation, match=r"the flange goes down.*min_flange_height_m"):
        one_point(g, tcp_moved((0, 0, -0.05)))


def test_path_between_two_points_above_the_table_that_dips_below_it_is_caught() -> None:
    # Tool tilting by 0.9 rad about x at 3 cm above the table: both ends are legal, the joint-space
    # path between them sags to ≈ 5 mm, below min_tcp_height_m = 15 mm.
    Ta = top_down_tcp_pose(np.array([0.6, 0.1, 0.03]), 0.0)
    Tb = Ta.copy()
    Tb[:3, :3] = Rotation.from_rotvec([0.9, 0.0, 0.0]).as_matrix() @ Ta[:3, :3]
    qa = KIN.nearest(Ta, Q_HOME)
    qb = KIN.nearest(Tb, qa)
    s = np.linspace(0, 1, 201)[:, None]
    z_path = KIN.forward_batch(qa + (qb - qa) * s)[:, 2, 3]
    assert z_path[[0, -1]].min() >= 0.03 - 1e-9 and z_path.min() < 0.01  # the premise of the test
    g = guard()
    with pytest.raises(TablePlaneViolation, match=r"TCP goes down to z = 0\.00"):
        g.check_trajectory(qa, np.array([2.0]), qb[None])
    g.check_trajectory(qa, np.array([2.0]), qa[None])  # staying put there is fine


def test_an_arm_starting_outside_may_move_back_but_not_further_out() -> None:
    z_home = KIN.forward(Q_HOME)[2, 3]
    g = guard(min_tcp_height_m=z_home + 0.01, min_flange_height_m=0.0)
    one_point(g, tcp_moved((0, 0, 0.02)))  # up, back over the limit
    with pytest.raises(TablePlaneViolation):
        one_point(g, tcp_moved((0, 0, -0.005)))


# ------------------------------------------------------------------------ values, jumps, e-stop, staleness


def test_nan_and_inf_are_rejected_wherever_they_are() -> None:
    g = guard()
    bad = Q_HOME.copy()
    bad[3] = np.nan
    with pytest.raises(NonFiniteValue, match=r"positions_rad\[0, 3\] is nan"):
        one_point(g, bad)
    with pytest.raises(NonFiniteValue, match=r"q_start_rad\[3\]"):
        one_point(g, Q_HOME, q0=bad)
    with pytest.raises(NonFiniteValue, match="times_s"):
        g.check_trajectory(Q_HOME, np.array([np.inf]), Q_HOME[None])
    assert g.rejections == {"non_finite": 3}


def test_malformed_trajectories() -> None:
    g = guard()
    with pytest.raises(MalformedCommand, match="strictly increasing"):
        g.check_trajectory(Q_HOME, np.array([0.2, 0.1]), np.stack([Q_HOME, Q_HOME]))
    with pytest.raises(MalformedCommand, match=r"positions_rad must have shape \(1, 6\)"):
        g.check_trajectory(Q_HOME, np.array([0.2]), Q_HOME[None, :5])


def test_ik_jump() -> None:
    g = guard()
    g.check_ik_jump(Q_HOME, joint_step(5, 0.49), 0)
    with pytest.raises(IkJumpViolation, match=r"step 3: wrist_3_joint moves 0\.510 rad.*max_ik_jump_rad"):
        g.check_ik_jump(Q_HOME, joint_step(5, 0.51), 3)


def test_estop_latches_until_cleared_explicitly() -> None:
    g = guard()
    g.estop("operator button")
    for _ in range(3):
        with pytest.raises(EstopActive, match="operator button"):
            one_point(g, Q_HOME)
    g.reset()  # counters only: the latch stays
    assert g.estopped and g.rejections == {}
    with pytest.raises(EstopActive):
        one_point(g, Q_HOME)
    g.clear_estop()
    one_point(g, Q_HOME)
    assert not g.estopped and g.estop_reason is None


def test_staleness() -> None:
    g = guard()
    now = 10_000_000_000
    assert g.inputs_fresh(now, now - 290_000_000, now - 190_000_000)
    assert not g.inputs_fresh(now, now - 310_000_000, now)
    assert not g.inputs_fresh(now, None, now)
    with pytest.raises(StalePerception, match=r"500 ms old, more than perception_timeout_s = 300 ms"):
        g.check_inputs_fresh(now, now - 500_000_000, now)
    with pytest.raises(StaleJointStates, match="joint_state_timeout_s"):
        g.check_inputs_fresh(now, now, now - 210_000_000)
    with pytest.raises(StaleJointStates, match="no joint states received yet"):
        g.check_inputs_fresh(now, now, None)
    with pytest.raises(StalePerception):  # a stamp from the future: clocks are mixed
        g.check_inputs_fresh(now, now + 2_000_000_000, now)
    assert g.rejections == {"stale_perception": 2, "stale_joint_states": 2}
    assert set(g.rejections) <= set(REJECTION_REASONS)


def test_disabled_keeps_estop_nan_and_hardware_limits_only() -> None:
    g = guard(unsafe_disable_safety=True, min_tcp_height_m=0.44)
    one_point(g, tcp_moved((0, 0, -0.05)))  # table check off
    assert g.inputs_fresh(10**10, None, None)  # staleness off
    g.check_ik_jump(Q_HOME, joint_step(5, 3.0), 0)  # jump check off
    one_point(g, joint_step(3, 3.0 * 0.1), t=0.1)  # 3.0 rad/s wrist: under the 3.14 hardware limit
    with pytest.raises(JointVelocityViolation, match=r"limit 3\.140 rad/s"):
        one_point(g, joint_step(3, 3.2 * 0.1), t=0.1)
    with pytest.raises(JointPositionViolation, match="hardware limits"):
        one_point(g, joint_step(2, 3.3 - 2.1), t=10.0)
    with pytest.raises(NonFiniteValue):
        one_point(g, joint_step(0, np.nan))
    g.estop("still latches")
    with pytest.raises(EstopActive):
        one_point(g, Q_HOME)


def test_every_violation_is_a_safety_violation_with_a_known_reason() -> None:
    for cls in (EstopActive, IkJumpViolation, NonFiniteValue, WorkspaceViolation, TablePlaneViolation):
        assert issubclass(cls, SafetyViolation) and cls.reason in REJECTION_REASONS
