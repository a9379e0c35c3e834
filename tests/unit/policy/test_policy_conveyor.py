"""The conveyor task: intercepting expert, demos in its layout, model export and the runtime task check."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from visuomotor.errors import ConfigError
from visuomotor.policy import ACTION_DIM, ActConfig, ActOnnxPolicy, NormStats, PolicyError
from visuomotor.policy.observation import CONVEYOR_OBS_DIM, CONVEYOR_OBS_LAYOUT
from visuomotor.sim.pick_task import ObservationNoise, PickEnv
from visuomotor.training.conveyor_expert import ConveyorExpert, intercept_point
from visuomotor.training.policy_demos import PHASES, DemoConfig, ExpertParams, load_episodes, record_demos


def test_intercept_point_solves_the_meeting_time() -> None:
    # Mover at the origin at 0.3 m/s, cube 0.3 m away along x moving 0.1 m/s along y: they meet when
    # 0.3·t = √(0.3² + (0.1·t)²), t = √(0.09 / 0.08) = 1.0607 s, at y = 0.10607 m.
    p = intercept_point(np.zeros(3), [0.3, 0.0, 0.0], [0.0, 0.1, 0.0], 0.3, iterations=30)
    np.testing.assert_allclose(p, [0.3, 0.1 * math.sqrt(0.09 / 0.08), 0.0], atol=1e-9)
    # A lead of 0.15 s adds 0.15 s of travel to the cube before the meeting.
    q = intercept_point(np.zeros(3), [0.3, 0.0, 0.0], [0.0, 0.1, 0.0], 0.3, lead_s=0.15, iterations=30)
    t = (q[1] / 0.1) - 0.15
    assert 0.3 * t == pytest.approx(math.hypot(0.3, q[1]), abs=1e-9)
    np.testing.assert_allclose(intercept_point(np.zeros(3), [0.3, 0, 0], [0, 0, 0], 0.3), [0.3, 0, 0])


def test_the_intercepting_expert_grasps_the_moving_cube_centred() -> None:
    env = PickEnv(0.1, task="conveyor")
    from visuomotor.training.policy_demos import _home_yaw

    for seed, speed in ((0, 0.05), (1, 0.15)):
        env.reset(seed, conveyor_speed_m_s=speed)
        expert = ConveyorExpert(ExpertParams(action_noise_m=0.0))
        expert.reset(env.commanded_tcp_pose(), _home_yaw(env))
        offsets = []
        for _ in range(200):
            obs = env.observe()
            assert obs.shape == (CONVEYOR_OBS_DIM,)
            np.testing.assert_allclose(obs[13:16], [0.0, speed, 0.0], atol=1e-6)
            phase = expert.phase
            action = expert.act(obs)
            if phase == "settle":  # the gripper rides on the cube: lead compensates the arm's lag
                offsets.append(env.world.tcp_pose()[:3, 3] - env.target.position_m)
            if expert.done:
                break
            env.apply(action)
            env.step()
        env.settle(0.5)
        assert expert.done and env.success(), (seed, expert.phase)
        assert np.abs(np.array(offsets)[:, :2]).max() < 0.003


def test_conveyor_demos_round_trip_with_their_layout(tmp_path: Path) -> None:
    config = DemoConfig(task="conveyor", miss_probability=0.0)
    manifest = record_demos(tmp_path, 1, seed=5, config=config, command="test")
    assert manifest["successes"] == 1 and manifest["task"] == "conveyor"
    on_disk = json.loads((tmp_path / "manifest.json").read_text())
    assert on_disk["obs_layout"]["v_base_link_target_m_s"] == [13, 16]
    (ep,), _ = load_episodes(tmp_path)
    assert ep.observations.shape[1] == CONVEYOR_OBS_DIM and ep.actions.shape[1] == ACTION_DIM
    speeds = ep.observations[:, 14]
    assert 0.04 < float(np.median(speeds)) < 0.16  # the belt's speed of this episode, with noise
    order = [PHASES[i] for i in dict.fromkeys(ep.phases.tolist())]
    assert order[:4] == ["approach", "descend", "settle", "close"]
    with pytest.raises(ConfigError, match=r"DemoConfig\.task must be one of"):
        DemoConfig(task="juggle")
    with pytest.raises(ConfigError, match="needs a sim config with conveyor"):
        from visuomotor.sim import SimConfig

        PickEnv(0.1, ObservationNoise(), SimConfig(), task="conveyor")


def test_a_conveyor_model_exports_and_the_runtime_checks_the_task(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    from visuomotor.training.policy import export_onnx
    from visuomotor.training.policy_model import ActModel

    tiny = ActConfig(chunk_size=4, d_model=16, n_heads=2, dim_feedforward=32, latent_dim=4, dropout=0.0)
    torch.manual_seed(0)
    model = ActModel(tiny, CONVEYOR_OBS_LAYOUT).eval()
    assert len(model.tokens) == 4  # robot state, target, bin, target velocity
    rng = np.random.default_rng(0)
    stats = NormStats.from_data(rng.normal(size=(50, CONVEYOR_OBS_DIM)), rng.normal(size=(50, ACTION_DIM)))
    assert stats.obs_dim == CONVEYOR_OBS_DIM
    model.fk.set_obs_stats(stats.obs_mean, stats.obs_std)
    path = tmp_path / "act_conveyor.onnx"
    assert export_onnx(model, stats, path) < 1e-4
    policy = ActOnnxPolicy(path, task="conveyor")
    assert policy.task == "conveyor" and policy.obs_dim == CONVEYOR_OBS_DIM
    assert policy.predict_action_chunk(np.zeros(CONVEYOR_OBS_DIM)).shape == (4, ACTION_DIM)
    wrong_task = r"takes a 16-number observation \(conveyor task\) but the pick task needs 13: set policy"
    with pytest.raises(PolicyError, match=wrong_task):
        ActOnnxPolicy(path, task="pick")
    with pytest.raises(PolicyError, match="must have shape"):
        policy.predict_action_chunk(np.zeros(13))
