"""ActConfig / PolicyConfig validation and the shipped config/policy.yaml."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from visuomotor.errors import ConfigError
from visuomotor.policy import ActConfig, PolicyConfig

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (
            {"d_model": 100, "n_heads": 3},
            r"ActConfig.d_model \(100\) must be divisible by ActConfig.n_heads \(3\)",
        ),
        (
            {"chunk_size": 5, "n_action_steps": 6, "temporal_ensembling": False},
            "n_action_steps .* cannot exceed",
        ),
        ({"n_action_steps": 4}, "ActConfig.temporal_ensembling .* ActConfig.n_action_steps must be 1"),
        ({"chunk_size": 0}, "ActConfig.chunk_size must be an integer"),
        ({"kl_weight": -1.0}, r"ActConfig.kl_weight must be a number in \[0, 1e\+06\]"),
        ({"dropout": 1.0}, "ActConfig.dropout"),
        ({"control_period_s": 0.0}, "ActConfig.control_period_s"),
    ],
)
def test_act_config_rejects_bad_combinations(kwargs: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        ActConfig(**kwargs)


def test_act_config_flat_round_trip() -> None:
    cfg = ActConfig(chunk_size=8, temporal_ensembling=False, n_action_steps=4)
    assert ActConfig.from_flat(cfg.to_flat()) == cfg
    with pytest.raises(ConfigError, match="unknown act parameter 'chunk'"):
        ActConfig.from_flat({"chunk": 3})


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_action_steps": 3}, "policy.temporal_ensembling needs policy.n_action_steps = 1"),
        ({"target_class": "yellow_cube"}, "policy.target_class must be one of"),
        ({"target_track_id": -2}, "policy.target_track_id"),
        ({"provider_fallback": "ignore"}, "policy.provider_fallback"),
        ({"control_rate_hz": 0.0}, "policy.control_rate_hz"),
        ({"model_path": ""}, "policy.model_path"),
    ],
)
def test_policy_config_rejects_bad_values(kwargs: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        PolicyConfig(**kwargs)


def test_params_file_matches_the_defaults() -> None:
    params = yaml.safe_load((ROOT / "config" / "policy.yaml").read_text())["policy"]["ros__parameters"]
    cfg = PolicyConfig.from_flat(params)
    assert cfg == PolicyConfig()
    assert cfg.to_flat() == params
    assert cfg.control_period_s == pytest.approx(0.1)
    with pytest.raises(ConfigError, match="policy: ensemble_coeff must be a finite number"):
        PolicyConfig.from_flat({**params, "ensemble_coeff": "high"})
