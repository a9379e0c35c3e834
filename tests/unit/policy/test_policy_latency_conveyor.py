"""Latency compensation and the moving target of the conveyor task, against numbers worked out by hand."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from visuomotor.interfaces import Track, TrackState
from visuomotor.kinematics import T_FLANGE_TCP, Ur10eKinematics
from visuomotor.policy import PolicyConfig, PolicyError
from visuomotor.policy.cycle import PickCycle
from visuomotor.policy.latency import ClockRate, LinearMotionFit, aim_point, frame_latency_s, trail_latency_s
from visuomotor.policy.observation import CONVEYOR_OBS_LAYOUT, build_observation
from visuomotor.policy.targets import MovingTarget

MS = 1_000_000
CONVEYOR = PolicyConfig(task="conveyor", model_path="models/act_conveyor.onnx")


def _track(p, v=(0.0, 0.1, 0.0), *, tid=4, misses=0, cls="red_cube") -> Track:
    return Track(tid, 0, cls, tuple(p), tuple(v), TrackState.CONFIRMED, 10, 10, misses, 0.9, "base_link")


def test_frame_latency_is_tick_minus_stamp_plus_the_command_estimate() -> None:
    # Camera stamp 10.000 s, policy tick 10.180 s, 20 ms more until the arm moves: 0.200 s.
    assert frame_latency_s(10_000 * MS, 10_180 * MS, 0.02) == pytest.approx(0.200)
    assert frame_latency_s(10_000 * MS, 10_000 * MS) == 0.0  # lock-step: the sim stood still
    assert frame_latency_s(10_000 * MS, 9_990 * MS, 0.02) == pytest.approx(0.02)  # clock behind: 0
    with pytest.raises(PolicyError, match="command latency must be a finite number ≥ 0"):
        frame_latency_s(0, 0, -0.01)


def test_trail_latency_scales_the_wall_age_by_the_world_clock_rate() -> None:
    # Captured at 1.000 s monotonic, tick at 1.300 s: 0.3 s of wall time. A sim running at half speed
    # moved its cube for 0.15 s of its clock; plus 0.15 s command path (world time): 0.30 s.
    assert trail_latency_s(1_000 * MS, 1_300 * MS, 0.15, rate=0.5) == pytest.approx(0.30)
    assert trail_latency_s(1_000 * MS, 1_300 * MS) == pytest.approx(0.30)  # the robot: rate 1
    with pytest.raises(PolicyError, match="clock rate must be a finite number ≥ 0"):
        trail_latency_s(0, 0, 0.0, rate=float("nan"))
    rate = ClockRate(window_s=2.0)
    assert rate.rate == 1.0  # nothing seen yet
    for i in range(30):  # a frame every 50 ms of wall time, stamps 20 ms apart: rate 0.4
        rate.add(i * 20 * MS, 10_000 * MS + i * 50 * MS)
    assert rate.rate == pytest.approx(0.4)
    rate.add(0, 20_000 * MS)  # the world's clock went back (a reset): start afresh
    assert rate.rate == 1.0


def test_aim_point_is_where_the_cube_will_be() -> None:
    # A cube at y = 0.10 m moving at 0.1 m/s along +y, seen 0.2 s ago: it is at y = 0.12 m now.
    np.testing.assert_allclose(aim_point([0.72, 0.10, 0.027], [0.0, 0.1, 0.0], 0.2), [0.72, 0.12, 0.027])
    np.testing.assert_allclose(aim_point([0.5, 0.0, 0.0], [0.0, 0.0, 0.0], 0.3), [0.5, 0.0, 0.0])


def test_linear_motion_fit_recovers_a_line_and_forgets_old_samples() -> None:
    fit = LinearMotionFit(window_s=1.0, min_samples=5, min_span_s=0.4)
    p0, v = np.array([0.72, -0.1, 0.027]), np.array([0.0, 0.1, 0.0])
    for i in range(4):
        fit.add(i * 100 * MS, p0 + v * i * 0.1)
    assert fit.estimate(400 * MS) is None  # 4 < min_samples
    for i in range(4, 30):
        fit.add(i * 100 * MS, p0 + v * i * 0.1)
    assert len(fit) == 11  # 2.0 s … 2.9 s: 1 s window (both ends)
    p, v_fit = fit.estimate(3500 * MS)  # 0.6 s after the last sample
    np.testing.assert_allclose(v_fit, v, atol=1e-9)
    np.testing.assert_allclose(p, p0 + v * 3.5, atol=1e-9)
    fit.add(2900 * MS, p0)  # not after the newest: ignored
    assert len(fit) == 11
    noisy = LinearMotionFit(window_s=2.0)
    rng = np.random.default_rng(0)
    for i in range(20):  # 2 mm noise, 20 views over 1.9 s: velocity to ≈ 1 mm/s
        noisy.add(i * 100 * MS, p0 + v * i * 0.1 + rng.normal(0, 0.002, 3))
    assert np.abs(noisy.estimate(1900 * MS)[1] - v).max() < 0.002


def test_moving_target_follows_a_hidden_cube_along_its_fit_and_holds_its_velocity_when_grasped() -> None:
    target = MovingTarget(CONVEYOR)
    far_tcp = np.array([0.3, 0.0, 0.5])
    v = np.array([0.0, 0.1, 0.0])
    for i in range(20):  # clear views: the track as it is (Kalman velocity noisier than the fit)
        p = np.array([0.72, -0.1 + 0.01 * i, 0.027])
        got = target.state(_track(p, (0.0, 0.11, 0.0)), far_tcp, 0.0, i * 100 * MS)
        np.testing.assert_allclose(got[0], p)
        np.testing.assert_allclose(got[1], [0.0, 0.11, 0.0])
    # The gripper hovers over it: fresh matches near the TCP are biased (here by 2 cm) and ignored; the
    # fit of the clear views says where it is 1 s after the last one.
    stamp = 2900 * MS
    truth = np.array([0.72, -0.1 + 0.1 * 2.9, 0.027])
    tcp_above = truth + np.array([0.0, 0.0, 0.15])
    p, v_seen = target.state(_track(truth + np.array([0.0, 0.02, 0.0])), tcp_above, 0.0, stamp)
    np.testing.assert_allclose(p, truth, atol=1e-9)
    np.testing.assert_allclose(v_seen, v, atol=1e-9)
    # Closing on it at the TCP: grasped; the position is the TCP's, the velocity the last one (the belt's).
    tcp = truth + np.array([0.0, 0.0, 0.005])
    p, v_held = target.state(None, tcp, 0.3, stamp + 100 * MS)
    assert target.grasped
    np.testing.assert_allclose(p, tcp)
    np.testing.assert_allclose(v_held, v, atol=1e-9)
    assert target.state(None, tcp, 0.0, stamp + 200 * MS) is not None and not target.grasped
    target.reset()
    assert target.state(None, far_tcp, 0.0, stamp) is None


class _Recorder:
    """A stand-in for ActOnnxPolicy that records the observations it is given."""

    control_period_s = 0.1

    def __init__(self) -> None:
        self.observations: list[np.ndarray] = []

    def reset(self) -> None:
        self.observations.clear()

    def select_chunk(self, observation: np.ndarray, stamp_ns: int | None = None) -> np.ndarray:
        self.observations.append(np.asarray(observation))
        return np.zeros((3, 10))


@pytest.mark.parametrize("compensation", [True, False])
def test_the_cycle_shows_the_policy_the_compensated_aim(compensation: bool) -> None:
    policy = _Recorder()
    config = replace(CONVEYOR, latency_compensation=compensation, command_latency_s=0.02)
    cycle = PickCycle(policy, config, Ur10eKinematics(T_flange_tcp=T_FLANGE_TCP))  # type: ignore[arg-type]
    q_home = np.asarray(config.home_joint_positions_rad)
    cube = np.array([0.72, 0.0, 0.027])
    bin_track = _track((0.55, -0.45, 0.05), (0.0, 0.0, 0.0), tid=1, cls="bin")
    stamp = 5_000 * MS
    # Tracks of the frame at 5.000 s, the policy ticks at 5.180 s: L = 0.18 + 0.02 = 0.2 s → +2 cm.
    cycle.step([_track(cube), bin_track], q_home, 0.0, stamp, now_ns=stamp + 180 * MS)
    obs = policy.observations[-1]
    t0, t1 = CONVEYOR_OBS_LAYOUT["p_base_link_target_m"]
    v0, v1 = CONVEYOR_OBS_LAYOUT["v_base_link_target_m_s"]
    expected = cube + ([0.0, 0.02, 0.0] if compensation else 0.0)
    np.testing.assert_allclose(obs[t0:t1], expected, atol=1e-6)
    np.testing.assert_allclose(obs[v0:v1], [0.0, 0.1, 0.0], atol=1e-6)
    assert cycle.last_latency_s == pytest.approx(0.2 if compensation else 0.0)
    # No tick time: no compensation at all.
    cycle.step([_track(cube), bin_track], q_home, 0.0, stamp + 100 * MS)
    np.testing.assert_allclose(policy.observations[-1][t0:t1], cube, atol=1e-6)


def test_the_conveyor_observation_appends_the_velocity() -> None:
    obs = build_observation(np.zeros(6), 0.0, [1, 2, 3], [4, 5, 6], [0.0, 0.1, 0.0])
    assert obs.shape == (16,)
    np.testing.assert_allclose(obs[13:16], [0.0, 0.1, 0.0])
    with pytest.raises(PolicyError, match="v_base_link_target_m_s needs 3 numbers"):
        build_observation(np.zeros(6), 0.0, [1, 2, 3], [4, 5, 6], [0.1, 0.0])
