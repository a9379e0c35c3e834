"""SafetyConfig: defaults, config/safety.yaml, the flat-dict round trip and every validation message."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from visuomotor.control import UR10E_MAX_JOINT_SPEED_RAD_S, SafetyConfig
from visuomotor.errors import ConfigError

SAFETY_YAML = Path(__file__).resolve().parents[3] / "config" / "safety.yaml"


def test_safety_yaml_maps_one_to_one_onto_the_dataclass() -> None:
    params = yaml.safe_load(SAFETY_YAML.read_text())["commander"]["ros__parameters"]
    assert set(params) == set(SafetyConfig().to_flat_dict())
    assert SafetyConfig.from_flat(params) == SafetyConfig(), "config/safety.yaml must hold the defaults"


def test_defaults_are_on_and_conservative() -> None:
    cfg = SafetyConfig()
    assert cfg.enabled and not cfg.dry_run
    assert SafetyConfig.from_flat(cfg.to_flat_dict()) == cfg
    v = np.array(cfg.joint_velocity_limits_rad_s)
    assert (v < np.array(UR10E_MAX_JOINT_SPEED_RAD_S)).all()
    np.testing.assert_allclose(v, [1.0, 1.0, 1.5, 2.0, 2.0, 2.0])
    limits = cfg.joint_limits_rad()
    assert limits.shape == (6, 2)
    assert (np.abs(limits) < 2 * np.pi).all() and (np.abs(limits[2]) < np.pi).all()


def test_disabling_needs_the_loud_key_and_falls_back_to_hardware_limits(caplog: Any) -> None:
    with caplog.at_level(logging.WARNING):
        cfg = SafetyConfig.from_flat({"unsafe_disable_safety": True})
    assert not cfg.enabled
    assert "SAFETY DISABLED" in caplog.text
    np.testing.assert_allclose(cfg.velocity_limits_rad_s(), UR10E_MAX_JOINT_SPEED_RAD_S)
    np.testing.assert_allclose(cfg.joint_limits_rad()[2], [-np.pi, np.pi])
    with pytest.raises(ConfigError, match="unknown commander parameter 'enabled'"):
        SafetyConfig.from_flat({"enabled": False})


@pytest.mark.parametrize(
    ("flat", "match"),
    [
        ({"joint_upper_rad": [6.1, 6.1, 3.2, 6.1, 6.1, 6.1]}, r"joint_upper_rad\[2\] \(elbow_joint\)"),
        ({"joint_lower_rad": [7.0, -6.1, -3.0, -6.1, -6.1, -6.1]}, r"joint_lower_rad\[0\]"),
        ({"joint_velocity_limits_rad_s": [2.2, 1, 1, 1, 1, 1]}, r"joint_velocity_limits_rad_s\[0\].*2.094"),
        ({"joint_velocity_limits_rad_s": [1, 1, 1, 1, 1, 0]}, r"joint_velocity_limits_rad_s\[5\]"),
        ({"joint_acceleration_limits_rad_s2": [1, 1, -1, 1, 1, 1]}, r"joint_acceleration_limits_rad_s2\[2\]"),
        ({"joint_velocity_limits_rad_s": [1, 1, 1]}, "joint_velocity_limits_rad_s must have 6 entries"),
        ({"workspace_min_m": [0.5, 0, 0], "workspace_max_m": [0.4, 1, 1]}, r"workspace_min_m\[0\].*x axis"),
        ({"min_tcp_height_m": -0.01}, "min_tcp_height_m must be ≥ 0"),
        ({"min_tcp_height_m": 1.0}, "workspace_max_m.*min_tcp_height_m"),
        ({"max_ik_jump_rad": 0}, r"max_ik_jump_rad must be in \(0, 3.14159\]"),
        ({"perception_timeout_s": -1}, r"perception_timeout_s must be in \(0, 2\]"),
        # probe: 1e12 s switched the staleness check off without a word
        ({"perception_timeout_s": 1e12}, r"perception_timeout_s must be in \(0, 2\]"),
        ({"joint_state_timeout_s": 0.0}, r"joint_state_timeout_s must be in \(0, 1\]"),
        ({"joint_state_timeout_s": 30.0}, r"joint_state_timeout_s must be in \(0, 1\]"),
        ({"hold_time_s": 60.0}, r"hold_time_s must be in \(0, 2\]"),
        ({"max_tracking_error_rad": 0.0}, "max_tracking_error_rad must be in"),
        ({"max_chunk_steps": 0}, r"max_chunk_steps must be an integer in \[1, 1000\]"),
        ({"path_sample_step_rad": 1.0}, r"path_sample_step_rad must be in \(0, 0.5\]"),
        ({"max_time_scale": 0.5}, r"max_time_scale must be in \[1, 100\]"),
        ({"dry_run": "yes"}, "dry_run must be true or false"),
        ({"hold_time_s": float("nan")}, "hold_time_s must be a finite number"),
    ],
)
def test_bad_values_name_the_key(flat: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        SafetyConfig.from_flat(flat)
