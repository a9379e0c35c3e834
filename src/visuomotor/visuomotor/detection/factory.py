"""``make_detector``: a detector config → the ONNX backend its model needs (the one module that knows them
all, so the backends and the shared types in ``detector`` import no one above them)."""

from __future__ import annotations

from visuomotor.detection.detector import Detector, DetectorConfig
from visuomotor.detection.onnx_model import OnnxModel
from visuomotor.detection.onnx_rtdetr import OnnxRtDetrDetector
from visuomotor.detection.onnx_yolo import OnnxYoloDetector

__all__ = ["make_detector"]


def make_detector(config: DetectorConfig) -> Detector:
    """Load the model of ``config`` and return the matching detector.

    ``arch: auto`` asks the model: ultralytics metadata naming RT-DETR, or an output of shape
    (1, Q, 4+nc) with Q queries, selects :class:`OnnxRtDetrDetector`; anything else
    :class:`OnnxYoloDetector`.

    Raises:
        DetectorError: the model is missing, not ONNX, or its inputs/outputs do not fit the architecture.
        ProviderFallbackError: the first provider asked for is not the one running and
            ``provider_fallback`` is ``error``.
    """
    model = OnnxModel.load(config)
    arch = config.arch if config.arch != "auto" else model.guess_arch()
    if arch == "rtdetr":
        return OnnxRtDetrDetector(config, model=model)
    return OnnxYoloDetector(config, model=model)
