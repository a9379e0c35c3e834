"""StateMonitor: the measured arm state against the safety limits (the guard's second opinion)."""

from __future__ import annotations

import numpy as np

from visuomotor.control import SafetyConfig, StateMonitor
from visuomotor.kinematics import T_FLANGE_TCP, Ur10eKinematics

HOME = np.array([-0.4, -2.2, 2.1, -1.47, -1.5708, 0.0])  # TCP ≈ (0.37, 0.03, 0.46)
KIN = Ur10eKinematics(T_flange_tcp=T_FLANGE_TCP)


def monitor() -> StateMonitor:
    return StateMonitor(SafetyConfig(), T_flange_tcp=T_FLANGE_TCP)


def test_home_at_rest_is_clean_and_counts_the_sample() -> None:
    m = monitor()
    assert m.check(HOME, np.zeros(6)) == []
    assert m.samples == 1 and m.violations == [] and m.peak_velocity_ratio == 0.0


def test_velocity_over_the_tolerance_is_a_violation_and_within_it_is_not() -> None:
    m = monitor()
    limit = SafetyConfig().velocity_limits_rad_s()[0]
    qd = np.zeros(6)
    qd[0] = 1.05 * limit  # 5 % overshoot: tracking error of the controller, tolerated (10 %)
    assert m.check(HOME, qd) == []
    qd[0] = 1.2 * limit
    found = m.check(HOME, qd)
    assert [v.reason for v in found] == ["joint_velocity_limit"] and "shoulder_pan" in found[0].detail
    assert abs(m.peak_velocity_ratio - 1.2) < 1e-9


def test_joint_position_outside_the_configured_limits() -> None:
    q = HOME.copy()
    q[2] = 3.05  # elbow limit is ±3.0
    reasons = {v.reason for v in monitor().check(q, np.zeros(6))}
    assert "joint_position_limit" in reasons


def test_tcp_below_the_table_and_outside_the_box_are_caught() -> None:
    T_low = KIN.forward(HOME)
    T_low[2, 3] = 0.0  # TCP on the table top
    low = KIN.nearest(T_low, HOME)
    assert abs(KIN.forward(low)[2, 3]) < 1e-9
    reasons = {v.reason for v in monitor().check(low, np.zeros(6))}
    assert "table_plane" in reasons
    T = KIN.forward(HOME)
    T[1, 3] = 0.75  # y above workspace_max 0.65
    reasons = {v.reason for v in monitor().check(KIN.nearest(T, HOME), np.zeros(6))}
    assert reasons == {"workspace"}


def test_non_finite_state_is_reported_alone() -> None:
    m = monitor()
    found = m.check(np.full(6, np.nan), np.zeros(6))
    assert [v.reason for v in found] == ["non_finite"]
    m.reset()
    assert m.samples == 0 and m.violations == []

