"""YOLO (ultralytics) on ONNX Runtime: letterbox → run → decode (1, 4+nc, N) → class-aware NMS → unletterbox.

Everything around the inference is numpy/OpenCV on preallocated buffers, so the non-inference work stays
well under a millisecond at 640×480 (see ``bench/detector.py``). Boxes come back in source-image pixels.

Geometry (as ultralytics' ``LetterBox`` at inference): scale r = min(H_in/h, W_in/w), resized size
(round(w·r), round(h·r)), padding split with ``round(d/2 ∓ 0.1)``, pad value 114. The exact inverse
of what the image went through uses the per-axis scale of the resize actually done (round(w·r)/w), so a
box mapped in and back out returns to itself to float precision. The model's boxes follow its labels'
convention (pixel i spans [i, i+1)); detections are shifted by −0.5 px to ``Detection``'s pixel centres.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import cv2
import numpy as np

from visuomotor.detection.detector import PIXEL_CENTRE_OFFSET, DetectionResult, DetectorConfig, check_image
from visuomotor.detection.errors import DetectorError
from visuomotor.detection.onnx_model import OnnxDetectorBase, OnnxModel, to_planes
from visuomotor.interfaces import Detection

__all__ = [
    "LetterboxParams",
    "OnnxYoloDetector",
    "decode_yolo",
    "letterbox_params",
    "nms",
    "nms_numpy",
    "unletterbox_boxes",
]

log = logging.getLogger(__name__)

#: ultralytics' letterbox grey; the model was trained on it.
PAD_VALUE = 114
#: Most candidates handed to NMS (ultralytics' max_nms); keeps the worst case bounded on untrained models.
MAX_NMS_CANDIDATES = 30000
#: Below this many candidates OpenCV's NMS is faster; above, the vectorised numpy loop is (its cost grows
#: with the boxes kept, OpenCV's with candidates²). Measured on this machine, see bench/detector.py.
_CV2_NMS_MAX = 300


@dataclass(frozen=True, slots=True)
class LetterboxParams:
    """How a (src_h, src_w) image maps into the (dst_h, dst_w) network input.

    Attributes:
        src_hw: source image (height, width), pixels.
        dst_hw: network input (height, width), pixels.
        resized_hw: size of the resized image inside the input, pixels.
        top, left: padding above and left of it, pixels.
        scale_x, scale_y: resized / source size per axis (the exact scale of the pixels).
    """

    src_hw: tuple[int, int]
    dst_hw: tuple[int, int]
    resized_hw: tuple[int, int]
    top: int
    left: int
    scale_x: float
    scale_y: float


def letterbox_params(src_hw: tuple[int, int], dst_hw: tuple[int, int]) -> LetterboxParams:
    """Letterbox geometry of ultralytics' ``LetterBox(auto=False, center=True)``.

    Args:
        src_hw: source (height, width), pixels, each ≥ 1.
        dst_hw: network input (height, width), pixels.
    """
    (h, w), (dh, dw) = src_hw, dst_hw
    r = min(dh / h, dw / w)
    nw, nh = max(round(w * r), 1), max(round(h * r), 1)
    pad_w, pad_h = (dw - nw) / 2, (dh - nh) / 2
    top, left = round(pad_h - 0.1), round(pad_w - 0.1)
    return LetterboxParams((h, w), (dh, dw), (nh, nw), top, left, nw / w, nh / h)


def unletterbox_boxes(boxes: np.ndarray, params: LetterboxParams, clip: bool = True) -> np.ndarray:
    """Map (K, 4) xyxy boxes from network-input pixels back to source pixels (in place, returned).

    Args:
        boxes: (K, 4) float boxes (x0, y0, x1, y1) in the letterboxed input.
        params: the letterbox the input went through.
        clip: clip to the source image extent [0, w] × [0, h].
    """
    boxes[:, 0::2] -= params.left
    boxes[:, 1::2] -= params.top
    boxes[:, 0::2] /= params.scale_x
    boxes[:, 1::2] /= params.scale_y
    if clip:
        h, w = params.src_hw
        np.clip(boxes[:, 0::2], 0.0, w, out=boxes[:, 0::2])
        np.clip(boxes[:, 1::2], 0.0, h, out=boxes[:, 1::2])
    return boxes


def decode_yolo(
    pred: np.ndarray, score_threshold: float, max_candidates: int = MAX_NMS_CANDIDATES
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Candidates of one YOLO output: best class per anchor, thresholded.

    Args:
        pred: (4+nc, N) one image's output: cx, cy, w, h (input pixels) then nc class scores in [0, 1].
        score_threshold: keep anchors whose best class score is > this.
        max_candidates: keep at most this many, highest scores first.

    Returns:
        (boxes (K, 4) float32 xyxy input pixels, scores (K,) float32, classes (K,) int64).
    """
    scores = pred[4:]  # (nc, N); channel rows, never transposing the whole output
    best = scores.max(axis=0)
    idx = np.flatnonzero(best > score_threshold)
    if idx.size > max_candidates:
        idx = idx[np.argpartition(-best[idx], max_candidates)[:max_candidates]]
    cx, cy, w, h = pred[:4, idx]
    # A broken or untrained model can emit NaN or negative sizes; such boxes are no detections.
    sane = np.isfinite(pred[:4, idx]).all(axis=0) & (w >= 0) & (h >= 0)
    if not sane.all():
        idx, cx, cy, w, h = idx[sane], cx[sane], cy[sane], w[sane], h[sane]
    classes = scores[:, idx].argmax(axis=0)
    boxes = np.empty((idx.size, 4), dtype=np.float32)
    boxes[:, 0] = cx - w / 2
    boxes[:, 1] = cy - h / 2
    boxes[:, 2] = cx + w / 2
    boxes[:, 3] = cy + h / 2
    return boxes, best[idx], classes


def nms(
    boxes: np.ndarray,
    scores: np.ndarray,
    classes: np.ndarray,
    iou_threshold: float,
    max_detections: int,
    agnostic: bool = False,
) -> np.ndarray:
    """Class-aware non-maximum suppression in one batched call.

    Each class is shifted by ``class × offset`` (offset larger than any box coordinate), so boxes of
    different classes never overlap and one NMS pass suppresses within classes only — ultralytics'
    class-offset trick.

    Args:
        boxes: (K, 4) xyxy boxes, pixels.
        scores: (K,) scores.
        classes: (K,) class indices.
        iou_threshold: a box whose IoU with a higher-scored kept box of its class is > this is dropped.
        max_detections: keep at most this many.
        agnostic: suppress across classes too.

    Returns:
        Indices into the inputs of the kept boxes, highest score first.
    """
    if boxes.shape[0] == 0:
        return np.empty(0, dtype=np.int64)
    shifted = boxes.astype(np.float64)  # float64: class offsets must not eat coordinate precision
    if not agnostic:
        offset = float(np.abs(shifted).max()) * 2.0 + 1.0
        shifted += (classes.astype(np.float64) * offset)[:, None]
    # OpenCV drops scores ≤ its (non-negative) score threshold; decoded scores are > 0 anyway.
    if boxes.shape[0] <= _CV2_NMS_MAX and scores.min() > 0:
        xywh = shifted.copy()
        xywh[:, 2:] -= xywh[:, :2]
        keep = np.asarray(cv2.dnn.NMSBoxes(xywh, scores.astype(np.float32), 0.0, iou_threshold), np.int64)
        keep = keep.reshape(-1)
        # OpenCV's order is by score; a stable re-sort keeps ties deterministic across backends.
        keep = keep[np.argsort(-scores[keep], kind="stable")]
    else:
        keep = nms_numpy(shifted, scores, iou_threshold, max_detections)
    return keep[:max_detections]


def nms_numpy(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float, max_keep: int) -> np.ndarray:
    """Greedy NMS; one vectorised IoU row per kept box (cost grows with boxes kept, not candidates²)."""
    order = np.argsort(-scores, kind="stable")
    x0, y0, x1, y1 = boxes.T
    area = (x1 - x0) * (y1 - y0)
    keep = []
    while order.size and len(keep) < max_keep:
        i, rest = order[0], order[1:]
        keep.append(i)
        iw = np.minimum(x1[i], x1[rest]) - np.maximum(x0[i], x0[rest])
        ih = np.minimum(y1[i], y1[rest]) - np.maximum(y0[i], y0[rest])
        inter = np.maximum(iw, 0.0) * np.maximum(ih, 0.0)
        iou = inter / np.maximum(area[i] + area[rest] - inter, 1e-12)
        order = rest[iou <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)


class OnnxYoloDetector(OnnxDetectorBase):
    """An ultralytics YOLO detector exported to ONNX, run with ONNX Runtime.

    Accepts the classic head output (1, 4+nc, N) (cx, cy, w, h in input pixels, then class scores) and
    the end-to-end one (1, K, 6) (x0, y0, x1, y1, score, class; ``end2end`` in the metadata, no NMS).
    Not thread-safe: it reuses one input buffer; use one detector per thread.

    Args:
        config: thresholds, providers and the model path.
        model: an already loaded model (``make_detector`` passes it); loaded from ``config`` when None.

    Raises:
        DetectorError: missing/invalid model, or an output that is not a YOLO layout for its classes.
    """

    def __init__(self, config: DetectorConfig, model: OnnxModel | None = None) -> None:
        self.config = config
        self._model = model if model is not None else OnnxModel.load(config)
        nc = len(self._model.class_names)
        self._end2end = self._model.metadata.get("end2end") == "True"
        self._check_output_shape(self._model.output_shape, allow_symbolic=True)
        h, w = self._model.input_hw
        # Padding is written once per source size; each frame only overwrites the resized region.
        self._input = np.empty((1, 3, h, w), dtype=self._model.input_dtype)
        self._params: LetterboxParams | None = None
        self._nc = nc
        out = self._model.warmup(np.full_like(self._input, PAD_VALUE / 255.0), config.warmup_runs)
        self._check_output_shape(out.shape, allow_symbolic=False)  # the real shape, dynamic dims resolved
        log.info(
            "YOLO detector %s: input %dx%d, %d classes %s, provider %s",
            self._model.path,
            w,
            h,
            nc,
            list(self._model.class_names),
            self._model.provider,
        )

    def _check_output_shape(self, shape: tuple[int | None, ...], allow_symbolic: bool) -> None:
        nc = len(self._model.class_names)
        expected = "(1, K, 6) end-to-end" if self._end2end else f"(1, {4 + nc}, N) = (1, 4 + nc, anchors)"
        dims_ok = len(shape) == 3 and shape[0] in (1, None)
        if dims_ok:
            dim = shape[2] if self._end2end else shape[1]
            want = 6 if self._end2end else 4 + nc
            dims_ok = dim == want or (allow_symbolic and dim is None)
        if not dims_ok:
            raise DetectorError(
                f"{self._model.path}: output shape {tuple(shape)} is not a YOLO output for {nc} classes "
                f"(expected {expected}); export a detect model with ultralytics (format=onnx), set arch to "
                "match the model (rtdetr for RT-DETR), or fix the class names"
            )

    def preprocess(self, image: np.ndarray, encoding: str = "rgb8") -> tuple[np.ndarray, LetterboxParams]:
        """Letterbox ``image`` into the (1, 3, H_in, W_in) RGB input tensor, values in [0, 1].

        The returned tensor is this detector's reusable buffer: copy it to keep it past the next call.

        Raises:
            InvalidImageError: see :func:`~visuomotor.detection.detector.check_image`.
        """
        image = check_image(image, encoding)
        src_hw = (image.shape[0], image.shape[1])
        params = self._params
        if params is None or params.src_hw != src_hw:
            params = self._params = letterbox_params(src_hw, self._model.input_hw)
            self._input.fill(PAD_VALUE / 255.0)
        nh, nw = params.resized_hw
        resized = image if (nh, nw) == src_hw else cv2.resize(image, (nw, nh), interpolation=cv2.INTER_LINEAR)
        # (h, w, 3) uint8 → (3, h, w) float in [0, 1], RGB, written straight into the padded input.
        to_planes(
            resized, encoding, self._input[0, :, params.top : params.top + nh, params.left : params.left + nw]
        )
        return self._input, params

    def postprocess(self, out: np.ndarray, params: LetterboxParams) -> tuple[Detection, ...]:
        """Decode one model output into detections in source pixels (highest score first).

        Args:
            out: (1, 4+nc, N) or, end to end, (1, K, 6) model output.
            params: the letterbox of the input that produced it.
        """
        cfg = self.config
        if self._end2end:
            pred = out[0]
            keep = np.flatnonzero(pred[:, 4] > cfg.score_threshold)
            keep = keep[np.argsort(-pred[keep, 4], kind="stable")][: cfg.max_detections]
            boxes, scores, classes = pred[keep, :4].copy(), pred[keep, 4], pred[keep, 5].astype(np.int64)
        else:
            boxes, scores, classes = decode_yolo(out[0], cfg.score_threshold)
            keep = nms(boxes, scores, classes, cfg.iou_threshold, cfg.max_detections, cfg.class_agnostic_nms)
            boxes, scores, classes = boxes[keep], scores[keep], classes[keep]
        unletterbox_boxes(boxes, params)
        boxes -= PIXEL_CENTRE_OFFSET
        names = self._model.class_names
        # One tolist() per array: Python floats/ints for the dataclasses without per-element numpy calls.
        return tuple(
            Detection(c, names[c], s, (b[0], b[1], b[2], b[3]))
            for c, s, b in zip(classes.tolist(), scores.tolist(), boxes.tolist(), strict=True)
            if 0 <= c < self._nc
        )

    def detect(self, image: np.ndarray, encoding: str = "rgb8") -> DetectionResult:
        """Detect objects in one image; see :meth:`Detector.detect`.

        Args:
            image: (H, W, 3) uint8.
            encoding: ``rgb8`` or ``bgr8``.

        Returns:
            Detections in source pixels, highest score first, and pre/infer/post times (ns).

        Raises:
            InvalidImageError: wrong type, dtype, shape or encoding, or an empty image.
        """
        t0 = time.monotonic_ns()
        tensor, params = self.preprocess(image, encoding)
        t1 = time.monotonic_ns()
        out = self._model.run(tensor)
        t2 = time.monotonic_ns()
        detections = self.postprocess(out, params)
        t3 = time.monotonic_ns()
        return DetectionResult(detections, t1 - t0, t2 - t1, t3 - t2)
