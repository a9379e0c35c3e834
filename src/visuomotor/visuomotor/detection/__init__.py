"""2D object detection: one ``Detector`` interface, ONNX Runtime backends for YOLO and RT-DETR.

``make_detector(DetectorConfig(...))`` loads an ONNX model exported by ultralytics (class names and input
size from its ``metadata_props``), picks the execution provider from the config (the one in use is logged
and exposed as ``detector.provider``; a fallback is a warning or an error, never silent) and returns an
:class:`OnnxYoloDetector` (letterbox → run → decode → class-aware NMS → unletterbox) or an
:class:`OnnxRtDetrDetector` (resize → run → threshold). Boxes are in source pixels with pixel centres at
integers, like every ``Detection``.

Beside the runtime: ``quantize`` (INT8 static QDQ YOLO, calibrated on sim frames), ``metrics`` (COCO mAP
with faster-coco-eval) and ``evaluation`` (fresh labelled sim frames → mAP + timing, behind
``visuomotor eval detector``). Training data and training live in ``dataset`` and ``training`` and need
the optional extras; the runtime needs only onnxruntime, numpy and OpenCV.
"""

from visuomotor.detection.detector import (
    ARCHS,
    ENCODINGS,
    GRAPH_OPTIMIZATIONS,
    PIXEL_CENTRE_OFFSET,
    PROVIDER_FALLBACKS,
    DetectionResult,
    Detector,
    DetectorConfig,
    DetectorError,
    InvalidImageError,
    check_image,
    make_detector,
)
from visuomotor.detection.evaluation import (
    CALIBRATION_SEED,
    EVAL_SEED,
    DetectorEvaluation,
    LabelledFrame,
    dataset_frames,
    evaluate_detector,
    render_frames,
    timing_summary,
)
from visuomotor.detection.metrics import ClassAP, MapResult, coco_map, detections_to_coco
from visuomotor.detection.onnx_model import OnnxModel, parse_class_names
from visuomotor.detection.onnx_rtdetr import OnnxRtDetrDetector, decode_rtdetr
from visuomotor.detection.onnx_yolo import (
    LetterboxParams,
    OnnxYoloDetector,
    decode_yolo,
    letterbox_params,
    nms,
    to_planes,
    unletterbox_boxes,
)
from visuomotor.detection.providers import ProviderFallbackError, create_session, expand_provider_names
from visuomotor.detection.quantize import head_decode_nodes, quantize_yolo

__all__ = [
    "ARCHS",
    "CALIBRATION_SEED",
    "ENCODINGS",
    "EVAL_SEED",
    "GRAPH_OPTIMIZATIONS",
    "PIXEL_CENTRE_OFFSET",
    "PROVIDER_FALLBACKS",
    "ClassAP",
    "DetectionResult",
    "Detector",
    "DetectorConfig",
    "DetectorError",
    "DetectorEvaluation",
    "InvalidImageError",
    "LabelledFrame",
    "LetterboxParams",
    "MapResult",
    "OnnxModel",
    "OnnxRtDetrDetector",
    "OnnxYoloDetector",
    "ProviderFallbackError",
    "check_image",
    "coco_map",
    "create_session",
    "dataset_frames",
    "decode_rtdetr",
    "decode_yolo",
    "detections_to_coco",
    "evaluate_detector",
    "expand_provider_names",
    "head_decode_nodes",
    "letterbox_params",
    "make_detector",
    "nms",
    "parse_class_names",
    "quantize_yolo",
    "render_frames",
    "timing_summary",
    "to_planes",
    "unletterbox_boxes",
]
