"""Detectors on small hand-built ONNX graphs run by ONNX Runtime: decode, layouts, metadata and bad models.

Each graph outputs a fixed tensor (plus 0 × the input's mean, so the input is a real dependency), which
makes the expected detections exact.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from visuomotor.detection import (
    DetectionResult,
    Detector,
    DetectorConfig,
    DetectorError,
    InvalidImageError,
    OnnxRtDetrDetector,
    OnnxYoloDetector,
    make_detector,
)
from visuomotor.detection.onnx_yolo import PAD_VALUE

onnx = pytest.importorskip("onnx", reason="hand-built graphs need the onnx package (pip install onnx)")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

NAMES = ("red_cube", "green_cube", "blue_cube", "bin")
NAMES_META = "{0: 'red_cube', 1: 'green_cube', 2: 'blue_cube', 3: 'bin'}"


def write_graph(
    path: Path,
    output: np.ndarray,
    in_shape: tuple[int | str, ...] = (1, 3, 64, 64),
    meta: dict[str, str] | None = None,
    extra_input: bool = False,
) -> Path:
    """An ONNX model: images (in_shape) → output0 = output + 0·mean(images)."""
    inputs = [helper.make_tensor_value_info("images", TensorProto.FLOAT, list(in_shape))]
    if extra_input:
        inputs.append(helper.make_tensor_value_info("extra", TensorProto.FLOAT, [1]))
    const = numpy_helper.from_array(output.astype(np.float32), "table")
    zero = numpy_helper.from_array(np.zeros((), np.float32), "zero")
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["mean"], keepdims=0),
        helper.make_node("Mul", ["mean", "zero"], ["nothing"]),
        helper.make_node("Add", ["table", "nothing"], ["output0"]),
    ]
    out = helper.make_tensor_value_info("output0", TensorProto.FLOAT, list(output.shape))
    graph = helper.make_graph(nodes, "g", inputs, [out], initializer=[const, zero])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    for k, v in ({"names": NAMES_META, "imgsz": "[64, 64]"} if meta is None else meta).items():
        model.metadata_props.add(key=k, value=v)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def yolo_table(n: int = 84) -> np.ndarray:
    """(1, 8, n) YOLO output, 64×64 input pixels: two overlapping boxes of two classes + a duplicate."""
    t = np.zeros((1, 4 + len(NAMES), n), np.float32)
    t[0, :4, :] = [[32], [32], [4], [4]]
    t[0, :4, 0] = [32, 32, 16, 8]  # red, 0.9
    t[0, 4, 0] = 0.9
    t[0, :4, 1] = [33, 32, 16, 8]  # red duplicate, 0.6: suppressed
    t[0, 4, 1] = 0.6
    t[0, :4, 2] = [32, 33, 16, 8]  # green on top of the red one, 0.8: kept (class-aware)
    t[0, 5, 2] = 0.8
    t[0, :4, 3] = [10, 30, 4, 4]  # bin in the top padding? no: y 30 is inside; 0.1 → under threshold
    t[0, 7, 3] = 0.1
    return t


def config(path: Path, **kw: object) -> DetectorConfig:
    return DetectorConfig(model_path=str(path), warmup_runs=1, **kw)  # type: ignore[arg-type]


@pytest.fixture
def yolo_path(tmp_path: Path) -> Path:
    return write_graph(tmp_path / "yolo.onnx", yolo_table(), meta={"names": NAMES_META, "head": "Detect"})


def test_yolo_detections_are_unletterboxed_into_source_pixels(yolo_path: Path) -> None:
    det = make_detector(config(yolo_path))
    assert isinstance(det, OnnxYoloDetector) and isinstance(det, Detector)
    assert det.class_names == NAMES and det.input_size == (64, 64) and det.provider == "CPUExecutionProvider"
    result = det.detect(np.zeros((480, 640, 3), np.uint8))
    # 640×480 → 64×48 (scale 0.1) with 8 px of padding on top: x = x_in / 0.1, y = (y_in − 8) / 0.1.
    assert [(d.class_name, round(d.score, 3)) for d in result.detections] == [
        ("red_cube", 0.9),
        ("green_cube", 0.8),
    ]
    np.testing.assert_allclose(result.detections[0].box_px, np.array([240, 200, 400, 280]) - 0.5, atol=1e-3)
    np.testing.assert_allclose(result.detections[1].box_px, np.array([240, 210, 400, 290]) - 0.5, atol=1e-3)
    assert result.pre_ns > 0 and result.infer_ns > 0 and result.post_ns > 0
    assert [name for name, _ in result.sub_stages()] == ["detect.pre", "detect.infer", "detect.post"]


def test_yolo_thresholds_come_from_the_config(yolo_path: Path) -> None:
    img = np.zeros((480, 640, 3), np.uint8)
    assert len(make_detector(config(yolo_path, score_threshold=0.85)).detect(img).detections) == 1
    assert len(make_detector(config(yolo_path, class_agnostic_nms=True)).detect(img).detections) == 1
    assert len(make_detector(config(yolo_path, iou_threshold=0.95)).detect(img).detections) == 3
    assert len(make_detector(config(yolo_path, score_threshold=0.05)).detect(img).detections) == 3
    assert len(make_detector(config(yolo_path, max_detections=1)).detect(img).detections) == 1


def test_yolo_preprocess_matches_ultralytics_letterbox(yolo_path: Path) -> None:
    det = make_detector(config(yolo_path))
    assert isinstance(det, OnnxYoloDetector)
    rgb = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    tensor, params = det.preprocess(rgb, "rgb8")
    resized = cv2.resize(rgb, (64, 48), interpolation=cv2.INTER_LINEAR)
    ref = cv2.copyMakeBorder(resized, 8, 8, 0, 0, cv2.BORDER_CONSTANT, value=(PAD_VALUE,) * 3)
    np.testing.assert_allclose(tensor[0], ref.transpose(2, 0, 1) / 255.0, atol=1e-6)
    assert (params.top, params.left, params.resized_hw) == (8, 0, (48, 64))
    rgb_tensor = tensor.copy()
    bgr_tensor, _ = det.preprocess(np.ascontiguousarray(rgb[..., ::-1]), "bgr8")
    np.testing.assert_array_equal(bgr_tensor, rgb_tensor)
    # A strided view (e.g. a crop) is accepted; a new source size re-pads the buffer.
    tensor, params = det.preprocess(rgb[100:300, 50:250], "rgb8")
    assert (params.top, params.left) == (0, 0) and params.resized_hw == (64, 64)


def test_yolo_end_to_end_layout(tmp_path: Path) -> None:
    table = np.zeros((1, 300, 6), np.float32)
    table[0, 0] = [16, 24, 48, 40, 0.7, 3]  # x0, y0, x1, y1 (input px), score, class
    table[0, 1] = [0, 8, 8, 16, 0.95, 1]
    meta = {"names": NAMES_META, "end2end": "True", "head": "Detect"}
    det = make_detector(config(write_graph(tmp_path / "e2e.onnx", table, meta=meta)))
    assert isinstance(det, OnnxYoloDetector)
    result = det.detect(np.zeros((480, 640, 3), np.uint8))
    assert [d.class_name for d in result.detections] == ["green_cube", "bin"]
    np.testing.assert_allclose(result.detections[1].box_px, np.array([160, 160, 480, 320]) - 0.5, atol=1e-3)


@pytest.mark.parametrize("layout", ["score_class", "per_class"])
def test_rtdetr_detector_on_both_output_layouts(tmp_path: Path, layout: str) -> None:
    if layout == "score_class":
        table = np.zeros((1, 300, 6), np.float32)
        table[0, 0] = [0.5, 0.5, 0.25, 0.5, 0.9, 2]
        table[0, 1] = [0.25, 0.25, 0.1, 0.1, 0.3, 0]
    else:
        table = np.zeros((1, 300, 4 + len(NAMES)), np.float32)
        table[0, :, :4] = 0.5
        table[0, 0, :4] = [0.5, 0.5, 0.25, 0.5]
        table[0, 0, 4:] = [0.1, 0.2, 0.9, 0.0]
        table[0, 1, :4] = [0.25, 0.25, 0.1, 0.1]
        table[0, 1, 4] = 0.3
    meta = {"names": NAMES_META, "head": "RTDETRDecoder", "imgsz": "[64, 64]"}
    det = make_detector(config(write_graph(tmp_path / "rtdetr.onnx", table, meta=meta), score_threshold=0.25))
    assert isinstance(det, OnnxRtDetrDetector) and isinstance(det, Detector)
    result = det.detect(np.zeros((480, 640, 3), np.uint8), "bgr8")
    assert [(d.class_name, round(d.score, 2)) for d in result.detections] == [
        ("blue_cube", 0.9),
        ("red_cube", 0.3),
    ]
    np.testing.assert_allclose(result.detections[0].box_px, np.array([240, 120, 400, 360]) - 0.5, atol=1e-3)


def test_rtdetr_is_recognised_by_output_layout_without_head_metadata(tmp_path: Path) -> None:
    table = np.zeros((1, 300, 6), np.float32)
    det = make_detector(config(write_graph(tmp_path / "r.onnx", table, meta={"names": NAMES_META})))
    assert isinstance(det, OnnxRtDetrDetector)
    assert det.detect(np.zeros((10, 10, 3), np.uint8)).detections == ()


def test_rtdetr_stretches_the_image(tmp_path: Path) -> None:
    det = make_detector(config(write_graph(tmp_path / "r.onnx", np.zeros((1, 300, 6), np.float32))))
    assert isinstance(det, OnnxRtDetrDetector)
    rgb = np.random.default_rng(1).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    ref = cv2.resize(rgb, (64, 64), interpolation=cv2.INTER_LINEAR).transpose(2, 0, 1) / 255.0
    np.testing.assert_allclose(det.preprocess(rgb)[0], ref, atol=1e-6)


# ---------------------------------------------------------------------------- bad models


def test_wrong_yolo_output_shape(tmp_path: Path) -> None:
    path = write_graph(
        tmp_path / "bad.onnx", np.zeros((1, 9, 84), np.float32), meta={"names": NAMES_META, "head": "Detect"}
    )
    with pytest.raises(DetectorError, match=r"output shape \(1, 9, 84\) is not a YOLO output for 4 classes"):
        make_detector(config(path))
    path = write_graph(tmp_path / "flat.onnx", np.zeros((8, 84), np.float32), meta={"names": NAMES_META})
    with pytest.raises(DetectorError, match=r"is not a YOLO output"):
        make_detector(config(path, arch="yolo"))


def test_wrong_rtdetr_output_shape(tmp_path: Path) -> None:
    path = write_graph(tmp_path / "bad.onnx", np.zeros((1, 300, 5), np.float32))
    with pytest.raises(DetectorError, match=r"output shape \(1, 300, 5\) is not an RT-DETR output"):
        make_detector(config(path, arch="rtdetr"))


def test_class_names_from_config_when_the_metadata_has_none(tmp_path: Path) -> None:
    path = write_graph(tmp_path / "anon.onnx", yolo_table(), meta={})
    with pytest.raises(DetectorError, match=r"no class names in its metadata_props.*set class_names"):
        make_detector(config(path))
    det = make_detector(config(path, class_names=NAMES))
    assert det.class_names == NAMES and det.input_size == (64, 64)


def test_bad_names_metadata(tmp_path: Path) -> None:
    path = write_graph(tmp_path / "bad.onnx", yolo_table(), meta={"names": "{1: 'a'}"})
    with pytest.raises(DetectorError, match=r"keys 0\.\.n-1"):
        make_detector(config(path))


def test_dynamic_input_needs_imgsz(tmp_path: Path) -> None:
    shape = (1, 3, "height", "width")
    path = write_graph(
        tmp_path / "dyn.onnx", yolo_table(), in_shape=shape, meta={"names": NAMES_META, "imgsz": "[64, 64]"}
    )
    assert make_detector(config(path)).input_size == (64, 64)
    path = write_graph(tmp_path / "dyn2.onnx", yolo_table(), in_shape=shape, meta={"names": NAMES_META})
    with pytest.raises(DetectorError, match=r"input size is dynamic.*fixed imgsz"):
        make_detector(config(path))


def test_models_with_two_inputs_are_refused(tmp_path: Path) -> None:
    path = write_graph(tmp_path / "two.onnx", yolo_table(), extra_input=True)
    with pytest.raises(DetectorError, match=r"expected one image input of shape \(1, 3, H, W\)"):
        make_detector(config(path))


# ---------------------------------------------------------------------------- bad images


@pytest.mark.parametrize(
    ("image", "encoding", "match"),
    [
        (np.zeros((48, 64, 3), np.uint8), "mono8", "encoding 'mono8' is not supported"),
        (np.zeros((48, 64, 3), np.uint8), "rgba8", "convert to rgb8 or bgr8"),
        (np.zeros((48, 64), np.uint8), "rgb8", r"shape \(H, W, 3\)"),
        (np.zeros((48, 64, 4), np.uint8), "rgb8", r"got \(48, 64, 4\)"),
        (np.zeros((0, 64, 3), np.uint8), "rgb8", "image is empty"),
        (np.zeros((48, 0, 3), np.uint8), "bgr8", "image is empty"),
        (np.zeros((48, 64, 3), np.uint16), "rgb8", "dtype must be uint8"),
        (np.zeros((48, 64, 3), np.float32), "rgb8", "dtype must be uint8"),
        ([[0, 0, 0]], "rgb8", "numpy array"),
    ],
)
def test_bad_images_raise_a_clear_error(yolo_path: Path, image: object, encoding: str, match: str) -> None:
    det = make_detector(config(yolo_path))
    with pytest.raises(InvalidImageError, match=match):
        det.detect(image, encoding)  # type: ignore[arg-type]
    assert isinstance(det.detect(np.zeros((48, 64, 3), np.uint8)), DetectionResult)  # still usable


def test_a_model_that_fails_to_run_is_a_detector_error(tmp_path: Path) -> None:
    # Gather at index 1000·max(image): out of range for a 10-element table at run time only (the load
    # and its shape inference cannot know the index).
    inits = [
        numpy_helper.from_array(np.zeros(10, np.float32), "data"),
        numpy_helper.from_array(np.array(1000.0, np.float32), "k"),
        numpy_helper.from_array(yolo_table(), "table"),
    ]
    graph = helper.make_graph(
        [
            helper.make_node("ReduceMax", ["images"], ["mx"], keepdims=0),
            helper.make_node("Mul", ["mx", "k"], ["scaled"]),
            helper.make_node("Cast", ["scaled"], ["idx"], to=TensorProto.INT64),
            helper.make_node("Gather", ["data", "idx"], ["g"]),
            helper.make_node("Add", ["table", "g"], ["output0"]),
        ],
        "g",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 64, 64])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 8, 84])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    model.metadata_props.add(key="names", value=NAMES_META)
    path = tmp_path / "fails.onnx"
    onnx.save(model, str(path))
    with pytest.raises(DetectorError, match=r"loads but fails to run on a \(1, 3, 64, 64\) input"):
        make_detector(config(path))
