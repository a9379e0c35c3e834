"""Against ultralytics itself: its ONNX exports load and run through our detectors, and on the shipped
YOLO model our letterbox → decode → NMS → unletterbox gives ultralytics' own ONNX predictions.

Needs the training extras (torch, torchvision, ultralytics, onnx); skipped without them.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
import yaml

# Offline settings before ultralytics is imported (it reads them at import time).
_CONFIG_DIR = Path(tempfile.gettempdir()) / "visuomotor-test-ultralytics"
os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_AUTOINSTALL", "false")
os.environ.setdefault("YOLO_CONFIG_DIR", str(_CONFIG_DIR))

# torchvision at collection time, before any test renders: importing it (torch._dynamo → triton) after a
# MuJoCo EGL context exists crashes the process (segfault) with this torch build.
pytest.importorskip("torchvision", reason="needs the training extras (torch, torchvision)")
ultralytics = pytest.importorskip("ultralytics", reason="needs the training extras (ultralytics)")
pytest.importorskip("onnx", reason="ultralytics' ONNX export needs onnx")

from visuomotor.detection import (  # noqa: E402
    PIXEL_CENTRE_OFFSET,
    DetectorConfig,
    OnnxRtDetrDetector,
    OnnxYoloDetector,
    make_detector,
)
from visuomotor.training.detector_eval import EVAL_SEED, render_frames  # noqa: E402

# The exporter (torch.onnx tracing) warns about its own internals; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore")

NAMES = {0: "red_cube", 1: "green_cube", 2: "blue_cube", 3: "bin"}
CONFIGS = {"yolo": "v8/yolov8.yaml", "rtdetr": "rt-detr/rtdetr-l.yaml"}
SHIPPED_YOLO = Path(__file__).resolve().parents[3] / "models" / "detector_yolov8n.onnx"


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    font = _CONFIG_DIR / "Ultralytics" / "Arial.ttf"
    if not font.exists():  # dataset checks fetch Arial.ttf even offline; any TTF stands in
        fonts = sorted(Path("/usr/share/fonts").rglob("*.ttf"))
        if not fonts:
            pytest.skip("no TTF font to stand in for Arial.ttf")
        font.parent.mkdir(parents=True, exist_ok=True)
        font.write_bytes(fonts[0].read_bytes())
    return tmp_path_factory.mktemp("ultralytics")


def _export(root: Path, arch: str, imgsz: int) -> Path:
    from ultralytics import RTDETR, YOLO
    from ultralytics.utils import SETTINGS

    SETTINGS.update(sync=False)
    cfg = yaml.safe_load((Path(ultralytics.__file__).parent / "cfg" / "models" / CONFIGS[arch]).read_text())
    cfg["nc"] = len(NAMES)
    if arch == "yolo":
        cfg["scale"] = "n"
    name = root / ("yolov8n-cubes.yaml" if arch == "yolo" else "rtdetr-l-cubes.yaml")
    name.write_text(yaml.safe_dump(cfg))
    model = (RTDETR if arch == "rtdetr" else YOLO)(str(name))
    model.model.names = NAMES
    return Path(model.export(format="onnx", imgsz=imgsz, simplify=False, device="cpu"))


@pytest.mark.slow
def test_exported_yolo_loads_from_metadata_and_runs(export_dir: Path) -> None:
    path = _export(export_dir, "yolo", 256)
    det = make_detector(DetectorConfig(model_path=str(path), score_threshold=0.0001))
    assert isinstance(det, OnnxYoloDetector)
    assert det.class_names == tuple(NAMES.values()) and det.input_size == (256, 256)
    assert det.model.output_shape == (1, 8, 1344)  # 4 + nc, anchors of strides 8/16/32 at 256
    rgb = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    for d in det.detect(rgb).detections:
        assert -0.5 <= d.box_px[0] <= d.box_px[2] <= 639.5 and -0.5 <= d.box_px[1] <= d.box_px[3] <= 479.5


@pytest.mark.slow
def test_exported_rtdetr_runs_end_to_end(export_dir: Path) -> None:
    path = _export(export_dir, "rtdetr", 160)
    det = make_detector(DetectorConfig(model_path=str(path), score_threshold=0.0, max_detections=300))
    assert isinstance(det, OnnxRtDetrDetector)
    assert det.model.metadata["head"] == "RTDETRDecoder" and det.model.output_shape[2] == 6
    result = det.detect(np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8), "bgr8")
    assert 0 < len(result.detections) <= 300
    scores = [d.score for d in result.detections]
    assert scores == sorted(scores, reverse=True)
    assert all(0 <= d.class_id < 4 for d in result.detections)


@pytest.mark.skipif(not SHIPPED_YOLO.is_file(), reason=f"{SHIPPED_YOLO.name} not shipped yet")
def test_shipped_yolo_matches_ultralytics_onnx_predictions() -> None:
    import cv2
    from ultralytics import YOLO

    ours = make_detector(
        DetectorConfig(model_path=str(SHIPPED_YOLO), score_threshold=0.25, iou_threshold=0.45)
    )
    theirs = YOLO(str(SHIPPED_YOLO), task="detect")
    compared = 0
    for frame in render_frames(4, EVAL_SEED + 23):
        ref = theirs.predict(
            cv2.cvtColor(frame.rgb, cv2.COLOR_RGB2BGR),
            imgsz=ours.input_size[0],
            conf=0.25,
            iou=0.45,
            verbose=False,
        )[0].boxes
        dets = ours.detect(frame.rgb, "rgb8").detections
        order = np.argsort(-ref.conf.numpy(), kind="stable")
        assert len(dets) == len(order)
        np.testing.assert_allclose([d.score for d in dets], ref.conf.numpy()[order], atol=1e-5)
        assert [d.class_id for d in dets] == ref.cls.numpy().astype(int)[order].tolist()
        boxes = (
            np.array([d.box_px for d in dets]) + PIXEL_CENTRE_OFFSET
        )  # ultralytics: pixel i spans [i, i+1)
        np.testing.assert_allclose(boxes, ref.xyxy.numpy()[order], atol=1e-3)
        compared += len(dets)
    assert compared >= 12
