"""Model files that are not models, and images that are not images, with nothing but onnxruntime installed.

The error cases that need a crafted graph (wrong output shape, no metadata) live in
test_detection_onnx_graphs.py; these need no ``onnx`` package.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from visuomotor.detection import (
    DetectionResult,
    DetectorConfig,
    DetectorError,
    InvalidImageError,
    make_detector,
)

SHIPPED_YOLO = Path(__file__).resolve().parents[3] / "models" / "detector_yolov8n.onnx"


def _config(path: Path) -> DetectorConfig:
    return DetectorConfig(model_path=str(path), warmup_runs=1)


def test_missing_model_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(DetectorError, match=r"not found.*visuomotor train detector"):
        make_detector(_config(tmp_path / "nope.onnx"))
    with pytest.raises(DetectorError, match="it is a directory"):
        make_detector(_config(tmp_path))


@pytest.mark.parametrize(
    "content",
    [
        b"version https://git-lfs.github.com/spec/v1\noid sha256:0\nsize 12120348\n",  # an LFS pointer
        b"PK\x03\x04" + bytes(64),  # a torch .pt (zip)
        b"",
    ],
    ids=["lfs-pointer", "pt-zip", "empty"],
)
def test_files_that_are_not_onnx(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(content)
    with pytest.raises(DetectorError, match=r"cannot load .*not a valid ONNX model.*re-export"):
        make_detector(_config(path))


@pytest.mark.skipif(not SHIPPED_YOLO.is_file(), reason=f"{SHIPPED_YOLO.name} not shipped yet")
@pytest.mark.parametrize(
    ("image", "encoding", "match"),
    [
        (np.zeros((480, 640, 3), np.uint8), "16UC1", "encoding '16UC1' is not supported"),
        (np.zeros((480, 640), np.uint16), "rgb8", r"shape \(H, W, 3\)"),
        (np.zeros((0, 0, 3), np.uint8), "rgb8", "image is empty"),
        (np.zeros((480, 640, 3), np.float64), "bgr8", "dtype must be uint8"),
        (None, "rgb8", "numpy array"),
    ],
)
def test_bad_images_on_the_shipped_model(image: object, encoding: str, match: str) -> None:
    det = make_detector(_config(SHIPPED_YOLO))
    with pytest.raises(InvalidImageError, match=match):
        det.detect(image, encoding)  # type: ignore[arg-type]
    assert isinstance(det.detect(np.zeros((480, 640, 3), np.uint8)), DetectionResult)
