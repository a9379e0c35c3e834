"""The JTC-like follower without MuJoCo: interpolation against hand-computed values, every rejection."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from visuomotor.errors import TrajectoryRejected
from visuomotor.kinematics import UR10E_JOINT_NAMES
from visuomotor.sim.jtc import (
    JointTrajectoryCommand,
    JointTrajectoryFollower,
    canonical_trajectory,
    interpolate_trajectory,
)

NAMES = UR10E_JOINT_NAMES
ONES = np.ones(6)


def _cmd(times: Any, positions: Any, velocities: Any = None, names: Any = NAMES) -> JointTrajectoryCommand:
    return JointTrajectoryCommand(tuple(names), times, positions, velocities)


def test_linear_interpolation_from_the_held_state() -> None:
    f = JointTrajectoryFollower()
    f.hold(np.zeros(6))
    p1, p2 = 1.0 * ONES, np.array([3.0, 3.0, 2.0, 3.0, 3.0, 3.0])
    f.start(_cmd([1.0, 3.0], [p1, p2]), t0_s=10.0)
    q, qd = f.sample(10.5)  # half-way to p1
    np.testing.assert_allclose(q, 0.5 * ONES)
    np.testing.assert_allclose(qd, ONES)
    q, qd = f.sample(12.0)  # half-way from p1 to p2 (segment of 2 s)
    np.testing.assert_allclose(q, [2.0, 2.0, 1.5, 2.0, 2.0, 2.0])
    np.testing.assert_allclose(qd, [1.0, 1.0, 0.5, 1.0, 1.0, 1.0])
    assert f.is_active(12.9) and not f.is_active(13.0)
    q, qd = f.sample(20.0)  # holds the last point
    np.testing.assert_allclose(q, p2)
    np.testing.assert_allclose(qd, np.zeros(6))


def test_cubic_hermite_matches_hand_computed_values() -> None:
    # One segment 0 → 1 rad over T = 2 s, start velocity 0, end velocity 2 rad/s (tangent v·T = 4).
    knots = [0.0, 2.0]
    pos = np.array([[0.0], [1.0]])
    vel = np.array([[0.0], [2.0]])
    # s = 0.25: h01 = −2/64 + 3/16 = 0.15625, h11 = 1/64 − 1/16 = −0.046875 → q = 0.15625 + 4·(−0.046875).
    q, _ = interpolate_trajectory(0.5, knots, pos, vel)
    assert q[0] == pytest.approx(-0.03125, abs=1e-12)
    # s = 0.5: q = 0.5 + 4·(1/8 − 1/4) = 0; dq/ds = 1.5·1 + (3/4 − 1)·4 = 0.5 → qd = 0.25 rad/s.
    q, qd = interpolate_trajectory(1.0, knots, pos, vel)
    assert q[0] == pytest.approx(0.0, abs=1e-12)
    assert qd[0] == pytest.approx(0.25, abs=1e-12)
    # End points: the state at the knots, then hold with zero velocity.
    q, qd = interpolate_trajectory(2.0 - 1e-9, knots, pos, vel)
    assert q[0] == pytest.approx(1.0, abs=1e-8)
    assert qd[0] == pytest.approx(2.0, abs=1e-6)
    q, qd = interpolate_trajectory(5.0, knots, pos, vel)
    assert (q[0], qd[0]) == (1.0, 0.0)


def test_hermite_velocity_is_the_derivative_of_position() -> None:
    rng = np.random.default_rng(3)
    knots = [0.0, 0.7, 1.5, 2.2]
    pos, vel = rng.normal(size=(4, 6)), rng.normal(size=(4, 6))
    h = 1e-6
    for t in np.linspace(0.01, 2.19, 37):
        q_plus, _ = interpolate_trajectory(t + h, knots, pos, vel)
        q_minus, _ = interpolate_trajectory(t - h, knots, pos, vel)
        _, qd = interpolate_trajectory(t, knots, pos, vel)
        np.testing.assert_allclose(qd, (q_plus - q_minus) / (2 * h), atol=1e-5)
    for k, t in enumerate(knots):  # passes through every point with its velocity
        q, _ = interpolate_trajectory(t + 1e-12, knots, pos, vel)
        np.testing.assert_allclose(q, pos[k], atol=1e-9)


def test_replacing_a_trajectory_continues_from_the_current_sample() -> None:
    f = JointTrajectoryFollower()
    f.hold(np.zeros(6))
    f.start(_cmd([2.0], [ONES], [np.zeros(6)]), t0_s=0.0)
    q_mid, qd_mid = f.sample(1.0)
    assert qd_mid[0] == pytest.approx(0.75)  # smoothstep 0 → 1 over 2 s at s = 0.5
    f.start(_cmd([1.0], [-ONES], [np.zeros(6)]), t0_s=1.0)
    q, qd = f.sample(1.0)
    np.testing.assert_allclose(q, q_mid)
    np.testing.assert_allclose(qd, qd_mid)  # Hermite start tangent = the previous command's velocity
    np.testing.assert_allclose(f.sample(2.5)[0], -ONES)


def test_any_joint_order_is_reordered() -> None:
    order = [5, 3, 0, 1, 4, 2]
    names = [NAMES[i] for i in order]
    target = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    canon = canonical_trajectory(_cmd([1.0], [target[order]], [np.zeros(6)], names=names))
    assert canon.joint_names == NAMES
    np.testing.assert_allclose(canon.positions[0], target)
    f = JointTrajectoryFollower()
    f.start(_cmd([1.0], [target[order]], names=names), t0_s=0.0)
    np.testing.assert_allclose(f.sample(1.0)[0], target)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"names": (*NAMES[:5], NAMES[0])}, r"duplicate joint names \['shoulder_pan_joint'\]"),
        ({"names": ()}, r"joint_names must be a non-empty list"),
        ({"times": [], "positions": np.zeros((0, 6))}, r"empty trajectory"),
        ({"times": [0.0, 1.0]}, r"times_s must be > 0"),
        ({"times": [-1.0, 1.0]}, r"times_s must be > 0"),
        ({"times": [1.0, 0.5]}, r"times_s must increase strictly, but point 1"),
        ({"times": [1.0, 1.0]}, r"times_s must increase strictly"),
        ({"times": [1.0, math.inf]}, r"times_s contains NaN or inf"),
        ({"times": [[1.0, 2.0]]}, r"times_s must be 1-D"),
        ({"positions": [ONES, ONES * math.nan]}, r"positions contains NaN or inf"),
        ({"positions": np.zeros((2, 5))}, r"positions must have shape \(2, 6\)"),
        ({"positions": np.zeros((3, 6))}, r"positions must have shape \(2, 6\)"),
        ({"positions": [[0.0] * 6, [0.0] * 5]}, r"positions is not a numeric array"),
        ({"positions": None}, r"positions are required"),
        ({"velocities": np.zeros((2, 4))}, r"velocities must have shape \(2, 6\)"),
        ({"velocities": [ONES, ONES * math.inf]}, r"velocities contains NaN or inf"),
    ],
)
def test_structural_rejections(kwargs: dict[str, Any], match: str) -> None:
    args: dict[str, Any] = {"times": [1.0, 2.0], "positions": [ONES * 0.1, ONES * 0.2], "names": NAMES}
    args.update(kwargs)
    with pytest.raises(TrajectoryRejected, match=match):
        _cmd(args["times"], args["positions"], args.get("velocities"), names=args["names"])


@pytest.mark.parametrize(
    ("names", "positions", "match"),
    [
        (NAMES[:5], np.zeros((1, 5)), r"missing \['wrist_3_joint'\], unknown \[\]"),
        (
            (*NAMES[:5], "gripper_joint"),
            np.zeros((1, 6)),
            r"missing \['wrist_3_joint'\], unknown \['gripper_joint'\]",
        ),
        (
            NAMES,
            [[0.0, 0.0, 3.5, 0.0, 0.0, 0.0]],
            r"point 0: elbow_joint = 3\.5000 rad is outside its limits",
        ),
        (NAMES, [[0.0, -6.3, 0.0, 0.0, 0.0, 0.0]], r"shoulder_lift_joint = -6\.3000 rad is outside"),
    ],
)
def test_robot_rejections(names: tuple[str, ...], positions: Any, match: str) -> None:
    traj = _cmd([1.0], positions, names=names)
    with pytest.raises(TrajectoryRejected, match=match):
        canonical_trajectory(traj)
    follower = JointTrajectoryFollower()
    with pytest.raises(TrajectoryRejected, match=match):
        follower.start(traj, t0_s=0.0)


def test_a_rejected_trajectory_leaves_the_active_one_running() -> None:
    f = JointTrajectoryFollower()
    f.hold(np.zeros(6))
    f.start(_cmd([2.0], [ONES]), t0_s=0.0)
    before = f.sample(1.0)[0]
    with pytest.raises(TrajectoryRejected, match="outside its limits"):
        f.start(_cmd([1.0], [ONES * 7.0]), t0_s=0.5)
    np.testing.assert_allclose(f.sample(1.0)[0], before)


@pytest.mark.parametrize(
    ("q", "match"),
    [
        (np.zeros(5), r"arm target must have shape \(6,\)"),
        (np.array([0, 0, 0, 0, 0, math.nan]), r"arm target contains NaN"),
        (np.array([0, 0, -3.2, 0, 0, 0]), r"arm target elbow_joint = -3\.2000 rad is outside"),
    ],
)
def test_hold_rejections(q: np.ndarray, match: str) -> None:
    f = JointTrajectoryFollower()
    with pytest.raises(TrajectoryRejected, match=match):
        f.hold(q)


def test_command_arrays_are_read_only_copies() -> None:
    positions = np.zeros((1, 6))
    cmd = _cmd([1.0], positions)
    positions[0, 0] = 1.0
    assert cmd.positions[0, 0] == 0.0
    with pytest.raises(ValueError, match="read-only"):
        cmd.positions[0, 0] = 2.0
    assert cmd.duration_s == 1.0
