"""PickEnv: observation from ground truth, IK-backed commands, success judgement."""

from __future__ import annotations

import numpy as np
import pytest

from visuomotor.policy import OBS_DIM, PolicyError, action_from_pose
from visuomotor.sim import top_down_tcp_pose
from visuomotor.sim.pick_task import ObservationNoise, PickEnv, cube_in_bin


def test_observation_is_ground_truth_without_noise_and_biased_with_it() -> None:
    env = PickEnv()
    env.reset(5, target_index=2)
    obs = env.observe()
    assert obs.shape == (OBS_DIM,)
    np.testing.assert_allclose(obs[:6], env.world.joint_positions(), atol=1e-6)
    np.testing.assert_allclose(obs[7:10], env.target.position_m, atol=1e-6)
    np.testing.assert_allclose(obs[10:13], env.bin.position_m, atol=1e-6)
    noisy = PickEnv(noise=ObservationNoise(bias_std_m=0.002, jitter_std_m=0.0))
    noisy.reset(5, target_index=2)
    a, b = noisy.observe(), noisy.observe()
    np.testing.assert_array_equal(a, b)  # a per-episode bias only
    assert 0 < np.abs(a[7:10] - env.target.position_m).max() < 0.01


def test_apply_moves_the_arm_and_counts_unreachable_poses() -> None:
    env = PickEnv()
    env.reset(0)
    goal = env.commanded_tcp_pose()
    goal[:3, 3] += (0.02, 0.0, -0.03)
    assert env.apply(action_from_pose(goal, 0.0))
    for _ in range(5):
        env.step()
    np.testing.assert_allclose(env.world.tcp_pose()[:3, 3], goal[:3, 3], atol=3e-3)
    far = top_down_tcp_pose(np.array([3.0, 0.0, 0.5]), 0.0)
    assert not env.apply(action_from_pose(far, 0.0))
    assert env.ik_failures == 1
    with pytest.raises(PolicyError, match="NaN or inf"):
        env.apply(np.full(10, np.nan))


def test_cube_in_bin_and_target_choice() -> None:
    env = PickEnv()
    env.reset(1)
    assert not env.success()
    assert not cube_in_bin(env.target, env.bin)
    choices = set()
    for seed in range(12):
        env.reset(seed)
        choices.add(env.target.class_name)
    assert choices == {"red_cube", "green_cube", "blue_cube"}
