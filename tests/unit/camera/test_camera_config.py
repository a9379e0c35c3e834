"""RealSenseConfig: defaults, the flat-dict round trip, config/camera.yaml and every validation message."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from visuomotor.camera import RealSenseConfig
from visuomotor.errors import ConfigError

CAMERA_YAML = Path(__file__).resolve().parents[3] / "config" / "camera.yaml"


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
    cfg = RealSenseConfig()
    flat = cfg.to_flat_dict()
    assert flat["colour.width_px"] == 640 and flat["depth.width_px"] == 848
    assert flat["reconnect.initial_backoff_s"] == 0.25
    assert RealSenseConfig.from_flat(flat) == cfg


def test_camera_yaml_maps_one_to_one_onto_the_dataclass() -> None:
    doc = yaml.safe_load(CAMERA_YAML.read_text())
    flat = _flatten_yaml(doc["camera"]["ros__parameters"])
    assert set(flat) == set(RealSenseConfig().to_flat_dict())
    assert RealSenseConfig.from_flat(flat) == RealSenseConfig(), (
        "config/camera.yaml must hold the defaults"
    )


def test_partial_and_nested_dicts_keep_defaults_and_coerce_ros_types() -> None:
    cfg = RealSenseConfig.from_flat({"serial": "123456789012", "frame_timeout_s": 1, "depth.fps": 30})
    assert cfg.serial == "123456789012"
    assert cfg.frame_timeout_s == 1.0 and isinstance(cfg.frame_timeout_s, float)
    nested = RealSenseConfig.from_flat(
        {"colour": {"format": "bgr8"}, "timestamps": {"use_global_time": False}}
    )
    assert nested.colour.format == "bgr8" and nested.timestamps.use_global_time is False
    assert nested.depth == RealSenseConfig().depth


@pytest.mark.parametrize(
    ("flat", "match"),
    [
        (
            {"colour.widht_px": 640},
            r"unknown camera parameter 'colour\.widht_px'; known keys: .*colour\.width_px",
        ),
        ({"colour": 5}, r"unknown camera parameter 'colour'"),
        ({"exposure": 100}, r"unknown camera parameter 'exposure'"),
        ({"serial": 123456789012}, r"serial must be a string \(quote it in YAML if it is all digits\)"),
        ({"serial": "12 34"}, r"serial must not contain whitespace"),
        ({"colour.width_px": 640.0}, r"colour\.width_px must be an integer"),
        ({"colour.width_px": 8}, r"colour\.width_px/colour\.height_px must be in \[16, 4096\]"),
        ({"depth.height_px": 5000}, r"depth\.width_px/depth\.height_px must be in \[16, 4096\]"),
        ({"colour.fps": 0, "depth.fps": 0}, r"colour\.fps must be in \[1, 300\]"),
        ({"colour.format": "yuyv"}, r"colour\.format must be one of \('rgb8', 'bgr8'\), got 'yuyv'"),
        ({"depth.format": "y16"}, r"depth\.format must be one of \('z16',\)"),
        ({"colour.fps": 15}, r"colour\.fps \(15\) must equal depth\.fps \(30\)"),
        ({"frame_timeout_s": 0.0}, r"frame_timeout_s must be a positive finite number"),
        ({"frame_timeout_s": 0.05}, r"frame_timeout_s \(0\.05\) must cover at least two frame periods"),
        ({"frame_timeout_s": "2"}, r"frame_timeout_s must be a finite number"),
        ({"reconnect.enabled": 1}, r"reconnect\.enabled must be true or false"),
        ({"reconnect.initial_backoff_s": -1}, r"reconnect\.initial_backoff_s must be a positive"),
        ({"reconnect.max_backoff_s": 0.1}, r"reconnect\.max_backoff_s \(0\.1\) must be ≥ reconnect\.initial"),
        ({"reconnect.max_backoff_s": 120}, r"reconnect\.max_backoff_s must be ≤ 60 s"),
        ({"timestamps.offset_window_s": float("nan")}, r"offset_window_s must be a finite number"),
        ({"timestamps.offset_window_s": 0}, r"timestamps\.offset_window_s must be a positive"),
    ],
)
def test_bad_values_name_their_dotted_key(flat: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        RealSenseConfig.from_flat(flat)
