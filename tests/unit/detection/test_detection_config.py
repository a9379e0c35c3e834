"""DetectorConfig: validation with the key in the message, ROS parameter mapping, the shipped params file."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from visuomotor.detection import DetectionResult, DetectorConfig
from visuomotor.errors import ConfigError

PARAMS = Path(__file__).resolve().parents[3] / "config" / "detector.yaml"


def test_shipped_params_file_maps_onto_the_defaults() -> None:
    params = yaml.safe_load(PARAMS.read_text())["detector"]["ros__parameters"]
    config = DetectorConfig.from_flat(params)
    assert config == DetectorConfig()
    assert set(params) <= set(config.to_flat_dict())
    assert DetectorConfig.from_flat(config.to_flat_dict()) == config


def test_from_flat_coerces_ros_types() -> None:
    c = DetectorConfig.from_flat(
        {"score_threshold": 1, "providers": ["cuda", "cpu"], "class_names": ["a", "b"]}
    )
    assert c.score_threshold == 1.0 and isinstance(c.score_threshold, float)
    assert c.providers == ("cuda", "cpu") and c.class_names == ("a", "b")


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"scor_threshold": 0.5}, "unknown detector parameter.*scor_threshold.*known keys"),
        ({"score_threshold": 1.5}, r"score_threshold must be in \[0, 1\]"),
        ({"iou_threshold": float("nan")}, "iou_threshold must be a finite number"),
        ({"score_threshold": "high"}, "score_threshold must be a finite number"),
        ({"max_detections": 0}, r"max_detections must be an integer in \[1, 10000\]"),
        ({"max_detections": 2.0}, "max_detections must be an integer"),
        ({"intra_op_threads": True}, "intra_op_threads must be an integer"),
        ({"arch": "ssd"}, r"arch must be one of \['auto', 'yolo', 'rtdetr'\]"),
        ({"graph_optimization": "max"}, "graph_optimization must be one of"),
        ({"providers": "cuda"}, "providers must be a list"),
        ({"class_names": ["a", "a"]}, "class_names has duplicates"),
        ({"class_agnostic_nms": "yes"}, "class_agnostic_nms must be true or false"),
        ({"model_path": ""}, "model_path must be a non-empty path"),
        ({"warmup_runs": 0}, r"warmup_runs must be an integer in \[1, 100\]"),
    ],
)
def test_bad_parameters_name_the_key(params: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        DetectorConfig.from_flat(params)


def test_from_flat_needs_a_mapping() -> None:
    with pytest.raises(ConfigError, match="must be a mapping"):
        DetectorConfig.from_flat([("arch", "yolo")])  # type: ignore[arg-type]


def test_detection_result_totals() -> None:
    r = DetectionResult((), 1, 20, 300)
    assert r.total_ns == 321
    assert r.sub_stages("det") == (("det.pre", 1), ("det.infer", 20), ("det.post", 300))
