"""SimConfig: defaults, the flat-dict round trip, config/sim.yaml and every validation message."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from visuomotor.errors import ConfigError
from visuomotor.sim.config import CameraConfig, SceneConfig, SimConfig

SIM_YAML = Path(__file__).resolve().parents[3] / "config" / "sim.yaml"


def _flatten_yaml(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten nested YAML the way ROS 2 flattens a nested parameters file (dots between levels)."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(_flatten_yaml(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def test_defaults_round_trip_through_flat_dict() -> None:
    cfg = SimConfig()
    flat = cfg.to_flat_dict()
    assert flat["camera.fovy_deg"] == 60.0
    assert flat["scene.workspace_x_m"] == [0.4, 0.9]
    assert SimConfig.from_flat(flat) == cfg


def test_partial_dict_keeps_defaults_and_coerces_ros_types() -> None:
    cfg = SimConfig.from_flat({"seed": 7, "camera.fovy_deg": 58, "scene.bin_size_m": [0.3, 0.3, 0.12]})
    assert cfg.seed == 7
    assert cfg.camera.fovy_deg == 58.0 and isinstance(cfg.camera.fovy_deg, float)
    assert cfg.scene.bin_size_m == (0.3, 0.3, 0.12)
    assert cfg.scene.num_cubes == SceneConfig().num_cubes


def test_nested_dicts_are_accepted_like_dotted_keys() -> None:
    nested = SimConfig.from_flat({"camera": {"fovy_deg": 58.0}, "scene": {"num_cubes": 4}})
    assert nested == SimConfig.from_flat({"camera.fovy_deg": 58.0, "scene.num_cubes": 4})
    with pytest.raises(ConfigError, match=r"unknown sim parameter 'camera\.fov'"):
        SimConfig.from_flat({"camera": {"fov": 58.0}})


def test_sim_yaml_maps_one_to_one_onto_the_dataclass() -> None:
    doc = yaml.safe_load(SIM_YAML.read_text())
    flat = _flatten_yaml(doc["sim"]["ros__parameters"])
    assert set(flat) == set(SimConfig().to_flat_dict())
    cfg = SimConfig.from_flat(flat)
    assert cfg == SimConfig(), "config/sim.yaml must hold the dataclass defaults"
    assert cfg.publish_rate_hz == 30.0


@pytest.mark.parametrize(
    ("flat", "match"),
    [
        ({"camera.fovy": 60.0}, r"unknown sim parameter 'camera\.fovy'"),
        ({"frobnicate": 1}, r"unknown sim parameter 'frobnicate'"),
        ({"camera": 1}, r"unknown sim parameter 'camera'"),
        (
            {"camera": {}, "camera.fovy_deg": 1.0, "camera.fovy_deg ": 2.0},
            r"unknown sim parameter 'camera\.fovy_deg '",
        ),
        ({"seed.x": 1}, r"unknown sim parameter 'seed\.x'"),
        ({"seed": 1.5}, r"seed must be an integer"),
        ({"seed": True}, r"seed must be an integer"),
        ({"seed": -1}, r"seed must be ≥ 0"),
        ({"timestep_s": "fast"}, r"timestep_s must be a finite number"),
        ({"timestep_s": 0.02}, r"timestep_s must be in"),
        ({"clock_mode": "turbo"}, r"clock_mode must be one of"),
        ({"publish_rate_hz": 0}, r"publish_rate_hz must be in"),
        ({"camera.fovy_deg": float("nan")}, r"camera\.fovy_deg must be a finite number"),
        ({"camera.fovy_deg": 200.0}, r"camera\.fovy_deg must be in"),
        ({"camera.width_px": 8}, r"camera\.width_px/height_px"),
        ({"camera.position_m": [1.0, 2.0]}, r"camera\.position_m must have 3 entries"),
        ({"camera.position_m": "here"}, r"camera\.position_m must be a list"),
        ({"camera.look_at_m": [1.4, 0.0, 1.25]}, r"camera\.look_at_m must differ"),
        ({"camera.min_range_m": 7.0}, r"camera\.max_range_m .* must exceed camera\.min_range_m"),
        ({"depth_noise.enabled": 1}, r"depth_noise\.enabled must be true or false"),
        (
            {"depth_noise.edge_hole_probability": 1.5},
            r"depth_noise\.edge_hole_probability must be in \[0, 1\]",
        ),
        ({"depth_noise.sigma_base_m": -0.1}, r"depth_noise\.sigma_base_m must be ≥ 0"),
        ({"scene.num_cubes": 2}, r"scene\.num_cubes must be in \[3, 12\]"),
        ({"scene.cube_size_m": 0.1}, r"scene\.cube_size_m must be in"),
        ({"scene.workspace_x_m": [0.9, 0.4]}, r"scene\.workspace_x_m must be \[min, max\]"),
        ({"scene.min_cube_separation_m": 0.05}, r"scene\.min_cube_separation_m .* cube diagonal"),
        ({"scene.home_q_rad": [0.0] * 5}, r"scene\.home_q_rad must have 6 entries"),
        ({"scene.home_q_rad": [0.0, 0.0, 4.0, 0.0, 0.0, 0.0]}, r"scene\.home_q_rad: elbow_joint = 4\.0 rad"),
        ({"scene.bin_size_m": [0.3, 0.3, 0.01]}, r"scene\.bin_size_m must all exceed"),
    ],
)
def test_bad_values_name_the_key(flat: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        SimConfig.from_flat(flat)


def test_config_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match=r"camera\.fovy_deg"):
        CameraConfig(fovy_deg=0.0)
