"""INT8 static quantisation on a small hand-built YOLO-like graph: head decode stays float, metadata kept."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from visuomotor.detection import DetectorConfig, DetectorError, OnnxYoloDetector, make_detector

onnx = pytest.importorskip("onnx", reason="quantisation needs the onnx package (pip install onnx)")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from visuomotor.training.quantize import head_decode_nodes, quantize_yolo  # noqa: E402

# Without VNNI, onnxruntime's x86 U8S8 kernels add pairs of u8 × s8 products in int16 (VPMADDUBSW):
# exact only while 2 · 255 · |w| ≤ 32767, i.e. |w| ≤ 64 (7-bit reduce_range weights).
SATURATION_SAFE_WEIGHT = 32767 // (2 * 255)

DECODE = ["/model.1/Reshape", "/model.1/Reshape_1", "/model.1/Sigmoid", "/model.1/Mul", "/model.1/Concat"]


@pytest.fixture(scope="module")
def fp32_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """images (1, 3, 32, 32) → conv s2 → box/class 1×1 convs → (1, 4 + 2, 256), ultralytics-style names."""
    rng = np.random.default_rng(0)

    def init(name: str, shape: tuple[int, ...], scale: float = 0.3) -> onnx.TensorProto:
        return numpy_helper.from_array((rng.standard_normal(shape) * scale).astype(np.float32), name)

    inits = [
        init("w0", (8, 3, 3, 3)),
        init("b0", (8,), 0.1),
        init("wb", (4, 8, 1, 1)),
        init("bb", (4,), 0.1),
        init("wc", (2, 8, 1, 1)),
        init("bc", (2,), 0.1),
        numpy_helper.from_array(np.array([1, 4, 256], np.int64), "shape_box"),
        numpy_helper.from_array(np.array([1, 2, 256], np.int64), "shape_cls"),
        numpy_helper.from_array(np.array(32.0, np.float32), "stride"),
    ]
    nodes = [
        helper.make_node(
            "Conv", ["images", "w0", "b0"], ["f0"], "/model.0/conv/Conv", pads=[1, 1, 1, 1], strides=[2, 2]
        ),
        helper.make_node("Relu", ["f0"], ["f1"], "/model.0/act/Relu"),
        helper.make_node("Conv", ["f1", "wb", "bb"], ["box"], "/model.1/cv2.0/Conv"),
        helper.make_node("Conv", ["f1", "wc", "bc"], ["cls"], "/model.1/cv3.0/Conv"),
        helper.make_node("Reshape", ["box", "shape_box"], ["box_r"], DECODE[0]),
        helper.make_node("Reshape", ["cls", "shape_cls"], ["cls_r"], DECODE[1]),
        helper.make_node("Sigmoid", ["cls_r"], ["scores"], DECODE[2]),
        helper.make_node("Mul", ["box_r", "stride"], ["box_px"], DECODE[3]),
        helper.make_node("Concat", ["box_px", "scores"], ["output0"], DECODE[4], axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_yolo",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 32, 32])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 6, 256])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    for k, v in {"names": "{0: 'red_cube', 1: 'bin'}", "imgsz": "[32, 32]", "head": "Detect"}.items():
        model.metadata_props.add(key=k, value=v)
    path = tmp_path_factory.mktemp("quant") / "tiny.onnx"
    onnx.save(model, str(path))
    return path


def test_head_decode_nodes_are_the_non_conv_head_nodes(fp32_path: Path) -> None:
    assert sorted(head_decode_nodes(onnx.load(str(fp32_path)))) == sorted(DECODE)


def test_head_decode_nodes_need_ultralytics_names() -> None:
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"], "relu")],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )
    with pytest.raises(DetectorError, match="no ultralytics node names"):
        head_decode_nodes(helper.make_model(graph))


def test_quantized_model_keeps_metadata_float_decode_and_accuracy(fp32_path: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    calib = [rng.random((1, 3, 32, 32), dtype=np.float32) for _ in range(16)]
    out = quantize_yolo(fp32_path, tmp_path / "tiny_int8.onnx", calib, note="test")
    q = onnx.load(str(out))
    meta = {p.key: p.value for p in q.metadata_props}
    assert meta["names"] == "{0: 'red_cube', 1: 'bin'}" and meta["imgsz"] == "[32, 32]"
    assert meta["quantization"].startswith("int8 static QDQ") and "16 frames" in meta["quantization"]
    assert "7-bit reduce_range" in meta["quantization"]  # the default is safe on CPUs without VNNI
    ops = [n.op_type for n in q.graph.node]
    assert ops.count("QuantizeLinear") >= 2 and ops.count("DequantizeLinear") >= 4
    # The decode reads float tensors: nothing quantises the sigmoid scores or the concatenated output.
    producers = {o: n for n in q.graph.node for o in n.output}
    for node in q.graph.node:
        if node.name in ("/model.1/Sigmoid", "/model.1/Concat"):
            assert all(producers[i].op_type != "DequantizeLinear" for i in node.input if i in producers)
    fp32 = ort.InferenceSession(str(fp32_path), providers=["CPUExecutionProvider"])
    int8 = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    x = rng.random((1, 3, 32, 32), dtype=np.float32)
    a, b = fp32.run(None, {"images": x})[0], int8.run(None, {"images": x})[0]
    assert np.abs(a[0, 4:] - b[0, 4:]).max() < 0.05  # scores
    assert np.abs(a[0, :4] - b[0, :4]).max() < 0.05 * np.abs(a[0, :4]).max()  # boxes, relative to their range
    det = make_detector(DetectorConfig(model_path=str(out), warmup_runs=1))
    assert isinstance(det, OnnxYoloDetector) and det.class_names == ("red_cube", "bin")


def conv_weights(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    """Each Conv's quantised weight (the initializer its weight input is dequantised from), by Conv name."""
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    producers = {o: n for n in model.graph.node for o in n.output}
    weights = {}
    for node in model.graph.node:
        if node.op_type == "Conv":
            dq = producers.get(node.input[1])
            assert dq is not None and dq.op_type == "DequantizeLinear", f"{node.name}: float weight"
            weights[node.name] = inits[dq.input[0]]
    return weights


def test_quantized_weights_cannot_saturate_without_vnni(fp32_path: Path, tmp_path: Path) -> None:
    """The check runs on any CPU: on VNNI machines saturation cannot show in outputs, only in the weights."""
    rng = np.random.default_rng(2)
    calib = [rng.random((1, 3, 32, 32), dtype=np.float32) for _ in range(8)]
    q = onnx.load(str(quantize_yolo(fp32_path, tmp_path / "safe.onnx", calib)))
    weights = conv_weights(q)
    assert sorted(weights) == ["/model.0/conv/Conv", "/model.1/cv2.0/Conv", "/model.1/cv3.0/Conv"]
    for name, w in weights.items():
        assert w.dtype == np.int8, name
        assert np.abs(w.astype(np.int32)).max() <= SATURATION_SAFE_WEIGHT == 64, name
    assert "7-bit reduce_range" in {p.key: p.value for p in q.metadata_props}["quantization"]
    # The check tells the settings apart: full 8-bit weights use the range up to 127.
    full = onnx.load(str(quantize_yolo(fp32_path, tmp_path / "full.onnx", calib, reduce_range=False)))
    assert max(np.abs(w.astype(np.int32)).max() for w in conv_weights(full).values()) > SATURATION_SAFE_WEIGHT
    assert "full 8-bit" in {p.key: p.value for p in full.metadata_props}["quantization"]


def test_quantize_refuses_bad_inputs(fp32_path: Path, tmp_path: Path) -> None:
    with pytest.raises(DetectorError, match="at least one calibration tensor"):
        quantize_yolo(fp32_path, tmp_path / "x.onnx", [])
    with pytest.raises(DetectorError, match="calibration method must be one of"):
        quantize_yolo(fp32_path, tmp_path / "x.onnx", [np.zeros((1, 3, 32, 32), np.float32)], method="magic")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x00garbage")
    with pytest.raises(DetectorError, match=r"cannot read .* as ONNX"):
        quantize_yolo(bad, tmp_path / "x.onnx", [np.zeros((1, 3, 32, 32), np.float32)])
