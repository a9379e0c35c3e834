"""Execution providers: what was asked for, what runs, and that a fallback is never silent (CPU build)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from visuomotor.detection import DetectorConfig, DetectorError, ProviderFallbackError, make_detector
from visuomotor.detection.providers import (
    CPU,
    check_provider,
    create_session,
    expand_provider_names,
    session_options,
)
from visuomotor.errors import ConfigError

pytestmark = pytest.mark.skipif(
    "CUDAExecutionProvider" in ort.get_available_providers(),
    reason="these tests check the fallback of a CPU-only onnxruntime build",
)


SHIPPED_YOLO = Path(__file__).resolve().parents[3] / "models" / "detector_yolov8n.onnx"


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny YOLO-shaped graph (images (1, 3, 32, 32) → (1, 5, 21) zeros, one class); without the onnx
    package to build it, the shipped model."""
    try:
        import onnx
        from onnx import TensorProto, helper, numpy_helper
    except ImportError:
        if SHIPPED_YOLO.is_file():
            return SHIPPED_YOLO
        pytest.skip("needs the onnx package (hand-built graph) or a shipped model")
    table = numpy_helper.from_array(np.zeros((1, 5, 21), np.float32), "table")
    zero = numpy_helper.from_array(np.zeros((), np.float32), "zero")
    graph = helper.make_graph(
        [
            helper.make_node("ReduceMean", ["images"], ["m"], keepdims=0),
            helper.make_node("Mul", ["m", "zero"], ["z"]),
            helper.make_node("Add", ["table", "z"], ["output0"]),
        ],
        "g",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 32, 32])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 5, 21])],
        initializer=[table, zero],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    model.metadata_props.add(key="names", value="{0: 'cube'}")
    path = tmp_path_factory.mktemp("providers") / "m.onnx"
    onnx.save(model, str(path))
    return path


def test_asking_for_cuda_on_a_cpu_build_warns_and_runs_on_cpu(
    model_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="visuomotor.detection"):
        det = make_detector(DetectorConfig(model_path=str(model_path), providers=("cuda", "cpu")))
    assert det.provider == CPU
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "asked for CUDAExecutionProvider but runs on CPUExecutionProvider" in warnings[0].getMessage()
    assert "not in this onnxruntime build" in warnings[0].getMessage()
    assert det.detect(np.zeros((32, 32, 3), np.uint8)).detections == ()  # still detects, on CPU


def test_asking_for_tensorrt_only_still_runs_on_cpu_with_warn(
    model_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="visuomotor.detection"):
        det = make_detector(DetectorConfig(model_path=str(model_path), providers=("tensorrt",)))
    assert det.provider == CPU
    assert "asked for TensorrtExecutionProvider" in caplog.text


@pytest.mark.parametrize(
    "providers", [("cuda", "cpu"), ("CUDAExecutionProvider",), ("tensorrt", "cuda", "cpu")]
)
def test_asking_for_cuda_on_a_cpu_build_is_an_error_by_config(
    model_path: Path, providers: tuple[str, ...]
) -> None:
    cfg = DetectorConfig(model_path=str(model_path), providers=providers, provider_fallback="error")
    with pytest.raises(
        ProviderFallbackError,
        match=r"asked for \w+ExecutionProvider but runs on CPUExecution.*providers to \[cpu\]",
    ):
        make_detector(cfg)


@pytest.mark.parametrize("providers", [("auto",), ("cpu",), ("CPUExecutionProvider",)])
def test_auto_and_cpu_on_a_cpu_build_run_without_warning(
    model_path: Path, providers: tuple[str, ...], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="visuomotor.detection"):
        det = make_detector(
            DetectorConfig(model_path=str(model_path), providers=providers, provider_fallback="error")
        )
    assert det.provider == CPU
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert "detector runs on CPUExecutionProvider" in caplog.text  # logged at start


def test_provider_names() -> None:
    available = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert expand_provider_names(["auto"], available) == ["CUDAExecutionProvider", CPU]
    assert expand_provider_names(["auto"], [CPU, "AzureExecutionProvider"]) == [CPU]
    assert expand_provider_names(["TRT", "cuda", "cpu", "cuda"], [CPU]) == [
        "TensorrtExecutionProvider",
        "CUDAExecutionProvider",
        CPU,
    ]
    with pytest.raises(DetectorError, match="unknown execution provider 'gpu'"):
        expand_provider_names(["gpu"], available)


def test_a_provider_that_fails_to_start_is_reported_as_such() -> None:
    available = ["CUDAExecutionProvider", CPU]
    with pytest.raises(ProviderFallbackError, match="in this build but failed to start"):
        check_provider(["CUDAExecutionProvider", CPU], CPU, available, "error")
    check_provider(["CUDAExecutionProvider", CPU], "CUDAExecutionProvider", available, "error")  # no fallback


def test_session_options_and_session(model_path: Path) -> None:
    cfg = DetectorConfig(model_path=str(model_path), intra_op_threads=3, graph_optimization="basic")
    opts = session_options(cfg)
    assert opts.intra_op_num_threads == 3
    assert opts.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    session, provider = create_session(model_path, cfg)
    assert provider == CPU and session.get_providers() == [CPU]


def test_provider_config_is_validated() -> None:
    with pytest.raises(ConfigError, match=r"\[auto\] stands alone"):
        DetectorConfig(providers=("auto", "cpu"))
    with pytest.raises(ConfigError, match="provider_fallback must be one of"):
        DetectorConfig(provider_fallback="ignore")
    with pytest.raises(ConfigError, match="providers must be a non-empty list"):
        DetectorConfig(providers=())
