"""The measured joint state: boundary validation (property-based, hypothesis) and the stream filter."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from visuomotor.control import Commander, SafetyConfig
from visuomotor.control.state import (
    ESTIMATED,
    MEASURED,
    UNKNOWN,
    JointStateFilter,
    JointStateSample,
    joint_state_from_arrays,
)
from visuomotor.control.violations import InvalidJointState
from visuomotor.kinematics import T_FLANGE_TCP, UR10E_JOINT_LIMITS_RAD, UR10E_JOINT_NAMES

Q_HOME = [-0.4, -2.2, 2.1, -1.47, -1.5708, 0.0]
NAMES = [*UR10E_JOINT_NAMES, "gripper_joint"]
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

floats = st.floats(allow_nan=True, allow_infinity=True, width=64)
names = st.lists(st.sampled_from([*NAMES, "", "x", "shoulder_pan_joint "]), max_size=12)


@SETTINGS
@given(names=names, positions=st.lists(floats, max_size=14), velocities=st.lists(floats, max_size=14),
       stamp=st.integers(min_value=-(2**63), max_value=2**63 - 1))
def test_any_joint_state_is_a_valid_sample_or_invalid_joint_state(
    names: list[str], positions: list[float], velocities: list[float], stamp: int
) -> None:
    try:
        s = joint_state_from_arrays(names, positions, velocities, stamp)
    except InvalidJointState:
        return
    limits = np.asarray(UR10E_JOINT_LIMITS_RAD)
    assert s.positions_rad.shape == (6,) and np.isfinite(s.positions_rad).all()
    assert (s.positions_rad >= limits[:, 0] - 0.1).all() and (s.positions_rad <= limits[:, 1] + 0.1).all()
    assert s.velocities_rad_s is None or np.isfinite(s.velocities_rad_s).all()
    assert not s.positions_rad.flags.writeable
    assert all(math.isfinite(v) for v in s.others.values())


@SETTINGS
@given(order=st.permutations(NAMES), q=st.lists(st.floats(-3.0, 3.0), min_size=7, max_size=7),
       with_velocity=st.booleans())
def test_valid_joint_states_in_any_order_come_out_in_ur_order(
    order: list[str], q: list[float], with_velocity: bool
) -> None:
    by_name = dict(zip(NAMES, q, strict=True))
    positions = [by_name[n] for n in order]
    velocities = [0.1 * by_name[n] for n in order] if with_velocity else []
    s = joint_state_from_arrays(order, positions, velocities, 5)
    np.testing.assert_array_equal(s.positions_rad, q[:6])
    assert s.position("gripper_joint") == q[6]
    assert s.velocity_source == (MEASURED if with_velocity else UNKNOWN)


@pytest.mark.parametrize(
    ("names", "positions", "velocities", "match"),
    [
        (UR10E_JOINT_NAMES, [0.1, 0.2], [], "2 positions for 6 names"),  # the probe that killed the node
        (UR10E_JOINT_NAMES, Q_HOME, [1.0], "1 velocities for 6 names"),
        ([*UR10E_JOINT_NAMES[:5], UR10E_JOINT_NAMES[0]], Q_HOME, [], "twice"),
        (UR10E_JOINT_NAMES[:5], Q_HOME[:5], [], "lacks wrist_3_joint"),
        (UR10E_JOINT_NAMES, [*Q_HOME[:5], float("nan")], [], "wrist_3_joint is nan"),
        (UR10E_JOINT_NAMES, [*Q_HOME[:2], 9.0, *Q_HOME[3:]], [], "outside the UR10e's range"),
        (UR10E_JOINT_NAMES, Q_HOME, [0, 0, 0, 0, 0, 50.0], "beyond 2× the hardware maximum"),
        (["j"] * 2000, [0.0] * 2000, [], "more than 1024"),
    ],
)
def test_invalid_joint_states_name_the_problem(names, positions, velocities, match: str) -> None:
    with pytest.raises(InvalidJointState, match=match):
        joint_state_from_arrays(names, positions, velocities, 0)


def _sample(q: list[float] | np.ndarray, stamp_ns: int, velocity: bool = False) -> JointStateSample:
    velocities = list(np.zeros(6)) if velocity else []
    return joint_state_from_arrays(UR10E_JOINT_NAMES, list(q), velocities, stamp_ns)


def test_filter_estimates_velocity_and_refuses_impossible_jumps() -> None:
    f = JointStateFilter(0.2)
    q0 = np.array(Q_HOME)
    with pytest.raises(InvalidJointState, match=r"starts .* a stream"):
        f.update(_sample(q0, -10_000_000))  # the first sample only starts the stream
    assert f.update(_sample(q0, 0)).velocity_source == UNKNOWN  # consistent; no accepted predecessor
    q1 = q0 + np.array([0.009, 0, 0, 0, 0, -0.005])
    s = f.update(_sample(q1, 10_000_000))
    assert s.velocity_source == ESTIMATED
    np.testing.assert_allclose(s.velocities_rad_s, [0.9, 0, 0, 0, 0, -0.5])
    # 0.5 rad in 10 ms (50 rad/s): a second publisher or a corrupted message.
    with pytest.raises(InvalidJointState, match=r"jumps shoulder_pan_joint by 0\.5000 rad in 10\.0 ms"):
        f.update(_sample(q1 + np.array([0.5, 0, 0, 0, 0, 0]), 20_000_000))
    # The jumped sample is the reference now: the true stream's next sample is refused too (two
    # interleaved publishers are refused together), then the stream is accepted again.
    with pytest.raises(InvalidJointState):
        f.update(_sample(q1, 30_000_000))
    assert f.update(_sample(q1, 40_000_000)).velocity_source == ESTIMATED
    # Out of order (a second publisher stamping with an older clock): refused, however plausible.
    with pytest.raises(InvalidJointState, match="before the previous one"):
        f.update(_sample(q1, 35_000_000))
    assert f.update(_sample(q1, 50_000_000)).velocity_source == ESTIMATED
    # After a gap longer than max_gap_s (or a far-off stamp) the stream starts afresh: the lone sample is
    # refused, a consistent successor accepted, its velocity unknown (never zero) until a third.
    with pytest.raises(InvalidJointState, match="after a gap"):
        f.update(_sample(q1 + 1.0, 50_000_000 + 500_000_000))
    s = f.update(_sample(q1 + 1.0, 560_000_000))
    assert s.velocity_source == UNKNOWN and s.velocities_rad_s is None
    assert f.update(_sample(q1 + 1.0, 570_000_000)).velocity_source == ESTIMATED
    # A far-future outlier followed by a fresh, plausible fake: neither becomes the state.
    with pytest.raises(InvalidJointState):
        f.update(_sample(q1, 10**15))
    with pytest.raises(InvalidJointState):
        f.update(_sample(q1 + 0.3, 580_000_000))
    # Measured velocities are kept as they are.
    with pytest.raises(InvalidJointState):  # vs the fake just refused: a jump
        f.update(_sample(q1 + 1.0, 590_000_000, velocity=True))
    assert f.update(_sample(q1 + 1.0, 600_000_000, velocity=True)).velocity_source == MEASURED


@SETTINGS
@given(q=st.lists(floats, min_size=6, max_size=6),
       qd=st.one_of(st.none(), st.lists(floats, min_size=6, max_size=6)))
def test_a_hold_is_at_the_measured_joints_or_a_stop_never_elsewhere(
    q: list[float], qd: list[float] | None
) -> None:
    """Whatever the commander planned before, a HOLD starts from what it is given now, or is a STOP."""
    c = Commander(SafetyConfig(), T_flange_tcp=T_FLANGE_TCP)
    cmd = c.hold(np.array(q), "estop", "test", None if qd is None else np.array(qd))
    assert cmd.kind == "hold" and cmd.gripper is None
    if cmd.is_stop:
        return
    q = np.array(q)
    assert np.isfinite(q).all()
    moved = np.abs(cmd.positions[0] - q)
    if not moved.any():
        return  # in place, at the measured joints
    # Otherwise a braking stop from the given velocity: q + q̇·T/2.
    assert qd is not None and np.isfinite(qd).all()
    np.testing.assert_allclose(moved, np.abs(np.array(qd)) * cmd.times_s[0] / 2, rtol=1e-9, atol=1e-12)


def test_the_stream_belongs_to_its_first_publisher_until_released() -> None:
    """Fakes consistent among themselves from a second publisher never become the state (bench/faults),
    not even while the driver is silent; a respawned driver (the same source) keeps its stream."""
    f = JointStateFilter(0.2)
    q = np.array(Q_HOME)
    t = 0

    def feed(source: str, q_: np.ndarray, stamp: int):
        return f.update(_sample(q_, stamp), source=source)

    with pytest.raises(InvalidJointState):
        feed("/driver", q, t)  # starts the stream
    assert np.allclose(feed("/driver", q, t + 10_000_000).positions_rad, q)
    assert f.owner == "/driver"
    fake = q + 0.5
    for k in range(2, 6):  # a second publisher, self-consistent, stamped like the driver
        with pytest.raises(InvalidJointState, match="belong to /driver"):
            feed("/fuzzer", fake, t + k * 10_000_000)
        assert np.allclose(feed("/driver", q, t + k * 10_000_000 + 1).positions_rad, q)
    # The driver is silent for a second (stalled, or killed and respawning): still no hand-over.
    later = t + 1_000_000_000
    for k in range(3):
        with pytest.raises(InvalidJointState, match="belong to /driver"):
            feed("/fuzzer", fake, later + k * 10_000_000)
    # The respawned driver keeps its stream (restarted after the gap).
    with pytest.raises(InvalidJointState, match="starts"):
        feed("/driver", q, later + 50_000_000)
    assert np.allclose(feed("/driver", q, later + 60_000_000).positions_rad, q)
    # The driver leaves the graph (the node calls release): another may start a stream.
    f.release()
    assert f.owner is None
    with pytest.raises(InvalidJointState, match="starts"):
        feed("/driver2", q, later + 70_000_000)
    assert np.allclose(feed("/driver2", q, later + 80_000_000).positions_rad, q)
    assert f.owner == "/driver2"


def test_two_measured_velocities_give_the_acceleration_and_the_commander_carries_the_state_with_it() -> None:
    """Found by the fault suite: a plan from a 35–150 ms old state extrapolated at constant velocity
    while the arm accelerated needed 10–24 rad/s² from the true state."""
    f = JointStateFilter(0.2)
    a = np.array([2.0, -1.0, 0.5, 0.0, 3.0, -2.0])  # the arm accelerating, rad/s²
    q0, v0 = np.array(Q_HOME), np.array([0.3, -0.2, 0.1, 0.0, 0.4, -0.3])

    def measured(t_s: float) -> JointStateSample:
        q, v = q0 + v0 * t_s + 0.5 * a * t_s**2, v0 + a * t_s
        return joint_state_from_arrays(UR10E_JOINT_NAMES, list(q), list(v), int(t_s * 1e9))

    with pytest.raises(InvalidJointState):
        f.update(measured(0.0))
    assert f.update(measured(0.01)).accelerations_rad_s2 is None  # the first accepted: nothing before it
    s = f.update(measured(0.02))
    np.testing.assert_allclose(s.accelerations_rad_s2, a, atol=1e-6)
    # 120 ms later the commander holds from where the arm really is, not where constant velocity says.
    c = Commander(SafetyConfig(), T_flange_tcp=T_FLANGE_TCP)
    age, t_now = 0.12, 0.14
    hold = c.hold(s.positions_rad, "test", "test", s.velocities_rad_s, now_ns=int(t_now * 1e9),
                  joints_stamp_ns=s.stamp_ns, qdd_current_rad_s2=s.accelerations_rad_s2)
    true_q = q0 + v0 * t_now + 0.5 * a * t_now**2
    np.testing.assert_allclose(hold.start_positions, true_q, atol=1e-9)
    np.testing.assert_allclose(hold.start_velocities, v0 + a * t_now, atol=1e-9)
    constant_velocity = s.positions_rad + s.velocities_rad_s * age
    assert np.abs(constant_velocity - true_q).max() > 0.01  # what the old extrapolation missed
