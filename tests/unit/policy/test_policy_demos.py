"""The closed-loop expert and the demo recorder on short runs in the real sim."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from visuomotor.errors import ConfigError
from visuomotor.policy import ACTION_DIM, OBS_DIM, PolicyError, pose_from_action
from visuomotor.sim.pick_task import ObservationNoise, PickEnv
from visuomotor.training.policy_demos import (
    PHASES,
    DemoConfig,
    ExpertParams,
    load_episodes,
    record_demos,
    record_episode,
)


def test_two_recorded_episodes_succeed_with_consistent_shapes(tmp_path: Path) -> None:
    seen = []
    manifest = record_demos(tmp_path, 2, seed=3, progress=lambda i, ep: seen.append(i), command="test")
    assert seen == [0, 1]
    assert manifest["successes"] == 2
    on_disk = json.loads((tmp_path / "manifest.json").read_text())
    assert on_disk["episodes"][0]["file"] == "episode_00000.npz" and on_disk["command"] == "test"
    episodes, _ = load_episodes(tmp_path)
    assert [ep.seed for ep in episodes] == [3, 4]
    for ep in episodes:
        T = ep.actions.shape[0]
        assert 40 < T < 200  # ≈ 8 s at 10 Hz
        assert ep.observations.shape == (T, OBS_DIM) and ep.observations.dtype == np.float32
        assert ep.actions.shape == (T, ACTION_DIM) and ep.phases.shape == (T,)
        assert ep.success
        # Phases in order, each present: approach … hold.
        order = [PHASES[i] for i in dict.fromkeys(ep.phases.tolist()) if PHASES[i] != "retreat"]
        assert order == list(PHASES[:8])
        # Gripper closed exactly from close to carry; tool top-down everywhere.
        closed = ep.actions[:, 9] > 0.5
        phases = np.array([PHASES[i] for i in ep.phases])
        np.testing.assert_array_equal(closed, np.isin(phases, ["close", "lift", "carry"]))
        R = np.stack([pose_from_action(a)[0][:3, :3] for a in ep.actions])
        np.testing.assert_allclose(R[:, 2, 2], -1.0, atol=1e-6)
        # The grasp command sits on the (noisy) observed target centre.
        settle = ep.actions[phases == "settle"][0]
        target = ep.observations[phases == "settle"][0, 7:10]
        assert np.linalg.norm(settle[:3] - target) < 0.01


def test_noise_free_expert_grasps_at_the_true_cube_centre() -> None:
    config = DemoConfig(
        noise=ObservationNoise(), start_joint_noise_rad=0.0, expert=ExpertParams(action_noise_m=0.0)
    )
    env = PickEnv(config.control_period_s, config.noise)
    ep = record_episode(env, 11, config)
    assert ep.success
    phases = np.array([PHASES[i] for i in ep.phases])
    obs0 = ep.observations[0]
    grasp = ep.actions[phases == "settle"][0, :3]
    # Noise-free: the grasp is the cube centre (the cube settles ~50 µm into the table meanwhile).
    np.testing.assert_allclose(grasp, obs0[7:10], atol=5e-4)


def test_load_errors_and_config_validation(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match=r"manifest\.json not found; record demos first"):
        load_episodes(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({"version": 99}))
    with pytest.raises(PolicyError, match="re-record it"):
        load_episodes(tmp_path)
    with pytest.raises(ConfigError, match="episodes must be ≥ 1"):
        record_demos(tmp_path, 0)
    with pytest.raises(ConfigError, match=r"ExpertParams\.max_speed_m_s must be a positive number"):
        ExpertParams(max_speed_m_s=0.0)
    with pytest.raises(ConfigError, match=r"ObservationNoise\.bias_std_m"):
        ObservationNoise(bias_std_m=-1.0)
