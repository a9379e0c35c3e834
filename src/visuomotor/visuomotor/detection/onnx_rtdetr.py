"""RT-DETR (ultralytics) on ONNX Runtime: resize → run → threshold. No letterbox, no NMS.

ultralytics' RT-DETR predictor stretches the image to the input size (``scale_fill``), and the decoder
predicts one box per query, so duplicates are not produced and NMS is not needed. Two output layouts
exist:

* (1, Q, 6): cx, cy, w, h (0–1 of the input), score, class — ultralytics ≥ 8.4 (top-k inside the graph);
* (1, Q, 4+nc): cx, cy, w, h (0–1), then a sigmoid score per class — older exports.

With nc = 2 both have 6 columns; the first (current) layout is assumed.
"""

from __future__ import annotations

import logging
import time

import cv2
import numpy as np

from visuomotor.detection.detector import PIXEL_CENTRE_OFFSET, DetectionResult, DetectorConfig, check_image
from visuomotor.detection.errors import DetectorError
from visuomotor.detection.onnx_model import OnnxDetectorBase, OnnxModel, to_planes
from visuomotor.interfaces import Detection

__all__ = ["OnnxRtDetrDetector", "decode_rtdetr"]

log = logging.getLogger(__name__)


def decode_rtdetr(
    pred: np.ndarray, nc: int, score_threshold: float, max_detections: int, src_hw: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Thresholded detections of one RT-DETR output, boxes in source pixels.

    Args:
        pred: (Q, 6) (cx, cy, w, h, score, class) or (Q, 4+nc) (cx, cy, w, h, nc class scores); box
            values are fractions of the input, which is the whole source image stretched.
        nc: number of classes.
        score_threshold: keep scores > this.
        max_detections: keep at most this many, highest score first.
        src_hw: source image (height, width), pixels.

    Returns:
        (boxes (K, 4) float64 xyxy source pixels (pixel centres at integers, clipped to the image),
        scores (K,), classes (K,) int64), highest score first.
    """
    if pred.shape[1] == 6:
        scores, classes = pred[:, 4], pred[:, 5].astype(np.int64)
    else:
        class_scores = pred[:, 4 : 4 + nc]
        classes = class_scores.argmax(axis=1)
        scores = class_scores[np.arange(pred.shape[0]), classes]
    keep = np.flatnonzero((scores > score_threshold) & (classes >= 0) & (classes < nc))
    keep = keep[np.argsort(-scores[keep], kind="stable")][:max_detections]
    h, w = src_hw
    cx, cy, bw, bh = pred[keep, :4].astype(np.float64).T
    boxes = np.stack([(cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h], axis=1)
    np.clip(boxes[:, 0::2], 0.0, w, out=boxes[:, 0::2])
    np.clip(boxes[:, 1::2], 0.0, h, out=boxes[:, 1::2])
    boxes -= PIXEL_CENTRE_OFFSET  # label convention (pixel i spans [i, i+1)) → pixel centres at integers
    valid = np.isfinite(boxes).all(axis=1) & (boxes[:, 2] >= boxes[:, 0]) & (boxes[:, 3] >= boxes[:, 1])
    return boxes[valid], scores[keep][valid], classes[keep][valid]


class OnnxRtDetrDetector(OnnxDetectorBase):
    """An ultralytics RT-DETR exported to ONNX, run with ONNX Runtime. Not thread-safe (one buffer).

    Args:
        config: thresholds, providers and the model path (``iou_threshold`` and NMS settings are unused).
        model: an already loaded model; loaded from ``config`` when None.

    Raises:
        DetectorError: missing/invalid model, or an output that is not (1, Q, 6) or (1, Q, 4+nc).
    """

    def __init__(self, config: DetectorConfig, model: OnnxModel | None = None) -> None:
        self.config = config
        self._model = model if model is not None else OnnxModel.load(config)
        self._nc = len(self._model.class_names)
        self._check_output_shape(self._model.output_shape, allow_symbolic=True)
        h, w = self._model.input_hw
        self._input = np.empty((1, 3, h, w), dtype=self._model.input_dtype)
        out = self._model.warmup(np.zeros_like(self._input), config.warmup_runs)
        self._check_output_shape(out.shape, allow_symbolic=False)
        log.info(
            "RT-DETR detector %s: input %dx%d, %d classes %s, provider %s",
            self._model.path,
            w,
            h,
            self._nc,
            list(self._model.class_names),
            self._model.provider,
        )

    def _check_output_shape(self, shape: tuple[int | None, ...], allow_symbolic: bool) -> None:
        ok = len(shape) == 3 and shape[0] in (1, None)
        if ok:
            ok = shape[2] in (6, 4 + self._nc) or (allow_symbolic and shape[2] is None)
        if not ok:
            raise DetectorError(
                f"{self._model.path}: output shape {tuple(shape)} is not an RT-DETR output for {self._nc} "
                f"classes (expected (1, queries, 6) or (1, queries, {4 + self._nc})); export an RT-DETR "
                "with ultralytics (format=onnx) or set arch: yolo for a YOLO model"
            )

    def preprocess(self, image: np.ndarray, encoding: str = "rgb8") -> np.ndarray:
        """Stretch ``image`` to the (1, 3, H_in, W_in) RGB input tensor in [0, 1] (this detector's buffer).

        Raises:
            InvalidImageError: see :func:`~visuomotor.detection.detector.check_image`.
        """
        image = check_image(image, encoding)
        h, w = self._model.input_hw
        resized = (
            image if image.shape[:2] == (h, w) else cv2.resize(image, (w, h), interpolation=cv2.INTER_LINEAR)
        )
        to_planes(resized, encoding, self._input[0])
        return self._input

    def postprocess(self, out: np.ndarray, src_hw: tuple[int, int]) -> tuple[Detection, ...]:
        """Decode one (1, Q, 6 | 4+nc) output into detections in source pixels, highest score first."""
        cfg = self.config
        boxes, scores, classes = decode_rtdetr(
            out[0], self._nc, cfg.score_threshold, cfg.max_detections, src_hw
        )
        names = self._model.class_names
        return tuple(
            Detection(c, names[c], s, (b[0], b[1], b[2], b[3]))
            for c, s, b in zip(classes.tolist(), scores.tolist(), boxes.tolist(), strict=True)
        )

    def detect(self, image: np.ndarray, encoding: str = "rgb8") -> DetectionResult:
        """Detect objects in one image; see :meth:`Detector.detect`.

        Raises:
            InvalidImageError: wrong type, dtype, shape or encoding, or an empty image.
        """
        t0 = time.monotonic_ns()
        tensor = self.preprocess(image, encoding)
        t1 = time.monotonic_ns()
        out = self._model.run(tensor)
        t2 = time.monotonic_ns()
        detections = self.postprocess(out, (image.shape[0], image.shape[1]))
        t3 = time.monotonic_ns()
        return DetectionResult(detections, t1 - t0, t2 - t1, t3 - t2)
