"""evaluate_policy: rollouts with the scripted expert as the policy, and with the shipped ACT model."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from visuomotor.kinematics import Ur10eKinematics
from visuomotor.policy import ActOnnxPolicy
from visuomotor.sim import SimConfig, SimWorld
from visuomotor.training.policy_demos import ClosedLoopExpert, ExpertParams
from visuomotor.training.policy_eval import EVAL_SEED, evaluate_policy

ROOT = Path(__file__).resolve().parents[3]
SHIPPED = ROOT / "models" / "act_pick.onnx"


class _ExpertPolicy:
    """The closed-loop expert behind the Policy protocol (starts from FK of the first observation)."""

    def __init__(self) -> None:
        self.kin = Ur10eKinematics(T_flange_tcp=SimWorld.T_FLANGE_TCP)
        home = self.kin.forward(np.asarray(SimConfig().scene.home_q_rad))
        self.yaw = math.atan2(home[1, 1], home[0, 1])
        self.expert = ClosedLoopExpert(ExpertParams(action_noise_m=0.0))
        self.fresh = True

    def reset(self) -> None:
        self.fresh = True

    def select_action(self, observation: np.ndarray) -> np.ndarray:
        if self.fresh:
            self.expert.reset(self.kin.forward(observation[:6].astype(np.float64)), self.yaw)
            self.fresh = False
        return self.expert.act(observation)


def test_expert_as_policy_places_every_cube() -> None:
    seen = []
    result = evaluate_policy(_ExpertPolicy(), 2, seed=EVAL_SEED, progress=lambda i, r: seen.append(r.seed))
    assert seen == [EVAL_SEED, EVAL_SEED + 1]
    assert result.success_rate == 1.0 and result.successes == 2
    assert 4.0 < result.mean_time_to_place_s < 15.0
    assert result.ik_failures == 0
    assert all(r.success for r in result.per_episode)
    assert result.to_dict()["episodes"] == 2


@pytest.mark.skipif(not SHIPPED.is_file(), reason="models/act_pick.onnx not trained yet")
def test_shipped_act_model_places_the_cube_with_ground_truth_observations() -> None:
    result = evaluate_policy(ActOnnxPolicy(SHIPPED), 2, seed=EVAL_SEED)
    assert result.success_rate == 1.0, result.per_episode
