"""2D object detection: one ``Detector`` interface, ONNX Runtime backends for YOLO and RT-DETR.

``make_detector(DetectorConfig(...))`` loads an ONNX model exported by ultralytics (class names and input
size from its ``metadata_props``), picks the execution provider from the config (the one in use is logged
and exposed as ``detector.provider``; a fallback is a warning or an error, never silent) and returns an
:class:`OnnxYoloDetector` (letterbox → run → decode → class-aware NMS → unletterbox) or an
:class:`OnnxRtDetrDetector` (resize → run → threshold). Boxes are in source pixels with pixel centres at
integers, like every ``Detection``.

``metrics`` computes COCO mAP (faster-coco-eval). The runtime needs only onnxruntime, numpy and OpenCV;
the training data, training, INT8 quantisation and sim evaluation are tools above it, in
``visuomotor.training``.
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
    check_image,
)
from visuomotor.detection.errors import DetectorError, InvalidImageError, ProviderFallbackError
from visuomotor.detection.factory import make_detector
from visuomotor.detection.metrics import ClassAP, MapResult, coco_map, detections_to_coco
from visuomotor.detection.onnx_model import OnnxModel, parse_class_names, to_planes
from visuomotor.detection.onnx_rtdetr import OnnxRtDetrDetector, decode_rtdetr
from visuomotor.detection.onnx_yolo import (
    LetterboxParams,
    OnnxYoloDetector,
    decode_yolo,
    letterbox_params,
    nms,
    unletterbox_boxes,
)
from visuomotor.detection.providers import create_session, expand_provider_names

__all__ = [
    "ARCHS",
    "ENCODINGS",
    "GRAPH_OPTIMIZATIONS",
    "PIXEL_CENTRE_OFFSET",
    "PROVIDER_FALLBACKS",
    "ClassAP",
    "DetectionResult",
    "Detector",
    "DetectorConfig",
    "DetectorError",
    "InvalidImageError",
    "LetterboxParams",
    "MapResult",
    "OnnxModel",
    "OnnxRtDetrDetector",
    "OnnxYoloDetector",
    "ProviderFallbackError",
    "check_image",
    "coco_map",
    "create_session",
    "decode_rtdetr",
    "decode_yolo",
    "detections_to_coco",
    "expand_provider_names",
    "letterbox_params",
    "make_detector",
    "nms",
    "parse_class_names",
    "to_planes",
    "unletterbox_boxes",
]
