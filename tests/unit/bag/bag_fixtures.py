"""Paths and configs shared by the bag tests (a plain module: conftest files are not for importing)."""

from __future__ import annotations

from pathlib import Path

from visuomotor.detection import DetectorConfig
from visuomotor.replay import ReplayConfig

ROOT = Path(__file__).resolve().parents[3]
MODEL = ROOT / "models" / "detector_yolov8n.onnx"
EXTRINSICS = ROOT / "config" / "extrinsics" / "sim.yaml"
SIM_FRAMES = 15


def replay_config(**overrides: object) -> ReplayConfig:
    """The shipped model and the sim extrinsics by absolute path (tests run from any directory)."""
    return ReplayConfig(
        detector=DetectorConfig(model_path=str(MODEL)),
        extrinsics_path=str(EXTRINSICS),
        **overrides,  # type: ignore[arg-type]
    )
