"""INT8 static quantisation of a YOLO ONNX model, calibrated on rendered sim frames.

``python -m visuomotor.training.quantize --model models/detector_yolov8n.onnx --eval-frames 500`` writes
``models/detector_yolov8n_int8.onnx`` (``--out`` to choose) and compares FP32 and INT8 on fresh frames.

ONNX Runtime's ``quantize_static`` in QDQ format: per-channel signed weights, unsigned 8-bit
activations, ranges calibrated on frames letterboxed exactly as the detector does. Weights use 7 bits
(``reduce_range``, values in [-64, 64]) by default so the model is right on every x86-64 CPU: without
VNNI, onnxruntime multiplies u8 × s8 with VPMADDUBSW, which sums pairs of products into int16 and
saturates when both are large (255·127·2 > 32767; 255·64·2 = 32640 fits). The detection head's
decode (DFL softmax, box arithmetic, sigmoid, the final concat) stays in float: its output concatenates
box coordinates in pixels (0…640) with class scores (0…1), and one 8-bit scale for both would wipe out
the scores. The metadata (class names, input size) is copied over, so the INT8 model loads like the
FP32 one. Needs the ``onnx`` package (``onnxruntime.quantization`` imports it).
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from visuomotor.detection.detector import DetectorConfig
from visuomotor.detection.errors import DetectorError

__all__ = ["calibration_tensors", "head_decode_nodes", "main", "quantize_yolo"]

_MODULE_RE = re.compile(r"^/model\.(\d+)/")


def head_decode_nodes(model: Any) -> list[str]:
    """Names of the nodes of an ultralytics detection head that are not its convolution branches.

    The head is the highest ``/model.N/`` module; its conv branches are named ``.../cv2.*``, ``.../cv3.*``
    (``one2one_cv2`` ... in end-to-end heads). Everything else there decodes boxes and scores.

    Args:
        model: an ``onnx.ModelProto``.
    """
    indices = [int(m.group(1)) for n in model.graph.node if (m := _MODULE_RE.match(n.name))]
    if not indices:
        raise DetectorError(
            "the model has no ultralytics node names (/model.N/...); pass the nodes to keep in float "
            "explicitly (exclude=...)"
        )
    head = f"/model.{max(indices)}/"
    branch = re.compile(re.escape(head) + r"(one2one_)?cv\d+\.")
    return [n.name for n in model.graph.node if n.name.startswith(head) and not branch.match(n.name)]


def calibration_tensors(model_path: Path, num_frames: int, seed: int) -> list[np.ndarray]:
    """Input tensors (1, 3, H, W) float32 of ``num_frames`` rendered frames, letterboxed by the detector.

    Args:
        model_path: the FP32 model (its input size and letterbox are used).
        num_frames: frames (≥ 1).
        seed: render seed (keep it apart from training/validation/evaluation seeds).
    """
    from visuomotor.detection.onnx_yolo import OnnxYoloDetector
    from visuomotor.training.detector_eval import render_frames

    detector = OnnxYoloDetector(DetectorConfig(model_path=str(model_path), arch="yolo", warmup_runs=1))
    tensors = []
    for frame in render_frames(num_frames, seed):
        tensor, _ = detector.preprocess(frame.rgb, "rgb8")
        tensors.append(tensor.astype(np.float32, copy=True))  # the detector reuses its buffer
    return tensors


def quantize_yolo(
    model_path: Path,
    out_path: Path,
    tensors: Sequence[np.ndarray],
    exclude: Iterable[str] | None = None,
    per_channel: bool = True,
    method: str = "minmax",
    note: str = "",
    reduce_range: bool = True,
) -> Path:
    """Write an INT8 (QDQ) copy of a YOLO ONNX model calibrated on ``tensors``.

    Args:
        model_path: FP32 ultralytics YOLO ONNX model.
        out_path: where the INT8 model goes.
        tensors: calibration inputs (1, 3, H, W) float32 in [0, 1], preprocessed like the detector's.
        exclude: node names kept in float; None = the head's decode (:func:`head_decode_nodes`).
        per_channel: per-output-channel weight scales (better accuracy, same speed on CPU).
        method: ``minmax``, ``percentile`` (99.999 %) or ``entropy`` calibration.
        note: text stored in the model's ``quantization`` metadata (e.g. the calibration seed).
        reduce_range: 7-bit weights (|q| ≤ 64), safe from int16 saturation on x86-64 CPUs without VNNI
            (see the module docstring). False gives full 8-bit weights, correct only on VNNI/ARM CPUs.

    Returns:
        ``out_path``.

    Raises:
        DetectorError: the model cannot be read, no calibration tensors, or ``onnx`` is missing.
    """
    try:
        import onnx
        from onnxruntime.quantization import (
            CalibrationDataReader,
            CalibrationMethod,
            QuantFormat,
            QuantType,
            quantize_static,
        )
        from onnxruntime.quantization.shape_inference import quant_pre_process
    except ImportError as err:
        raise DetectorError(f"INT8 quantisation needs the onnx package ({err}): pip install onnx") from err
    if not tensors:
        raise DetectorError("quantize_yolo needs at least one calibration tensor")
    methods = {
        "minmax": CalibrationMethod.MinMax,
        "percentile": CalibrationMethod.Percentile,
        "entropy": CalibrationMethod.Entropy,
    }
    if method not in methods:
        raise DetectorError(f"calibration method must be one of {sorted(methods)}, got {method!r}")
    model_path, out_path = Path(model_path), Path(out_path)
    try:
        source = onnx.load(str(model_path))
    except Exception as err:  # onnx raises DecodeError / OSError / ValueError for broken files
        raise DetectorError(f"cannot read {model_path} as ONNX ({err}): pass an exported YOLO .onnx") from err
    input_name = source.graph.input[0].name
    excluded = list(exclude) if exclude is not None else head_decode_nodes(source)

    class Reader(CalibrationDataReader):  # type: ignore[misc]  # onnxruntime ships no type hints
        def __init__(self) -> None:
            self._it = iter(tensors)

        def get_next(self) -> dict[str, np.ndarray] | None:
            tensor = next(self._it, None)
            return None if tensor is None else {input_name: tensor}

    out_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        # Shape inference + constant folding first, as onnxruntime recommends before static quantisation.
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(model_path), str(prepared), skip_symbolic_shape=True)
        quantize_static(
            str(prepared),
            str(out_path),
            Reader(),
            quant_format=QuantFormat.QDQ,
            per_channel=per_channel,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            # U8S8 without VNNI runs on VPMADDUBSW (int16 pair sums): 7-bit weights keep every pair
            # sum in range; full 8-bit weights can saturate there (CI: boxes off by pixels).
            reduce_range=reduce_range,
            calibrate_method=methods[method],
            nodes_to_exclude=excluded,
            extra_options={"CalibTensorRangeSymmetric": False},
        )
    # quantize_static drops metadata_props; the runtime needs names/imgsz from them.
    quantized = onnx.load(str(out_path))
    del quantized.metadata_props[:]
    for prop in source.metadata_props:
        quantized.metadata_props.add(key=prop.key, value=prop.value)
    quantized.metadata_props.add(
        key="quantization",
        value=f"int8 static QDQ (u8 activations, s8 {'per-channel' if per_channel else 'per-tensor'} "
        f"weights, {'7-bit reduce_range' if reduce_range else 'full 8-bit (VNNI/ARM CPUs only)'}), "
        f"{method} calibration on {len(tensors)} frames; float head decode. {note}".strip(),
    )
    onnx.save(quantized, str(out_path))
    return out_path


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: quantise, then print FP32 vs INT8 mAP and timing on fresh frames (``--eval-frames``)."""
    from visuomotor.training.detector_eval import CALIBRATION_SEED, EVAL_SEED

    parser = argparse.ArgumentParser(prog="python -m visuomotor.training.quantize", description=__doc__)
    parser.add_argument("--model", type=Path, required=True, help="FP32 YOLO ONNX model")
    parser.add_argument("--out", type=Path, help="INT8 model (default: <model>_int8.onnx)")
    parser.add_argument("--frames", type=int, default=200, help="calibration frames (default 200)")
    parser.add_argument("--seed", type=int, default=CALIBRATION_SEED, help="calibration render seed")
    parser.add_argument("--method", choices=("minmax", "percentile", "entropy"), default="minmax")
    parser.add_argument("--per-tensor", action="store_true", help="per-tensor weight scales")
    parser.add_argument(
        "--full-range",
        action="store_true",
        help="8-bit weights instead of 7-bit reduce_range: wrong results on x86-64 CPUs without VNNI",
    )
    parser.add_argument("--eval-frames", type=int, default=0, help="compare FP32/INT8 on this many frames")
    args = parser.parse_args(argv)
    out = args.out or args.model.with_name(args.model.stem + "_int8.onnx")
    try:
        start = time.perf_counter()
        tensors = calibration_tensors(args.model, args.frames, args.seed)
        rendered = time.perf_counter()
        quantize_yolo(
            args.model,
            out,
            tensors,
            per_channel=not args.per_tensor,
            method=args.method,
            reduce_range=not args.full_range,
            note=f"Calibration frames: visuomotor.training.detector_eval.render_frames seed {args.seed}.",
        )
        print(
            f"wrote {out} ({out.stat().st_size / 2**20:.1f} MiB) from {args.frames} frames: render "
            f"{rendered - start:.0f} s, quantise {time.perf_counter() - rendered:.0f} s"
        )
        if args.eval_frames > 0:
            from visuomotor.detection.factory import make_detector
            from visuomotor.training.detector_eval import evaluate_detector, render_frames

            fp32 = make_detector(
                DetectorConfig(model_path=str(args.model), score_threshold=0.001, max_detections=300)
            )
            int8 = make_detector(
                DetectorConfig(model_path=str(out), score_threshold=0.001, max_detections=300)
            )
            for name, ev in zip(
                ("fp32", "int8"),
                evaluate_detector(fp32, render_frames(args.eval_frames, EVAL_SEED), also=[int8]),
                strict=True,
            ):
                t = ev.timing
                print(
                    f"{name}: mAP50 {ev.map.map50:.4f} mAP50-95 {ev.map.map50_95:.4f} on {ev.frames} frames; "
                    f"infer p50 {t['infer']['p50_ms']:.2f} ms p99 {t['infer']['p99_ms']:.2f} ms"
                )
    except DetectorError as err:
        print(f"quantize: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
