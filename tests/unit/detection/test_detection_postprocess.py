"""Letterbox geometry, YOLO decode, class-aware NMS and RT-DETR decode against plain reference code."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from visuomotor.detection import decode_rtdetr, decode_yolo, letterbox_params, nms, unletterbox_boxes
from visuomotor.detection.onnx_yolo import PAD_VALUE

SIZES = [
    ((480, 640), (320, 320)),
    ((480, 640), (384, 384)),
    ((480, 640), (640, 640)),
    ((719, 1281), (384, 640)),
]


def _ultralytics_letterbox(img: np.ndarray, dst_hw: tuple[int, int]) -> tuple[np.ndarray, float, int, int]:
    """ultralytics.data.augment.LetterBox (auto=False, center=True) transcribed, the reference."""
    h, w = img.shape[:2]
    r = min(dst_hw[0] / h, dst_hw[1] / w)
    new_unpad = round(w * r), round(h * r)
    dw, dh = (dst_hw[1] - new_unpad[0]) / 2, (dst_hw[0] - new_unpad[1]) / 2
    if (w, h) != new_unpad:
        img = cv2.resize(img, new_unpad, interpolation=cv2.INTER_LINEAR)
    top, bottom = round(dh - 0.1), round(dh + 0.1)
    left, right = round(dw - 0.1), round(dw + 0.1)
    img = cv2.copyMakeBorder(img, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(PAD_VALUE,) * 3)
    return img, r, top, left


@pytest.mark.parametrize(("src_hw", "dst_hw"), SIZES)
def test_letterbox_params_match_ultralytics(src_hw: tuple[int, int], dst_hw: tuple[int, int]) -> None:
    img = np.zeros((*src_hw, 3), np.uint8)
    ref, _, top, left = _ultralytics_letterbox(img, dst_hw)
    p = letterbox_params(src_hw, dst_hw)
    assert ref.shape[:2] == dst_hw
    assert (p.top, p.left) == (top, left)
    assert p.top + p.resized_hw[0] <= dst_hw[0] and p.left + p.resized_hw[1] <= dst_hw[1]


@pytest.mark.parametrize(("src_hw", "dst_hw"), SIZES)
def test_letterbox_then_unletterbox_is_exact(src_hw: tuple[int, int], dst_hw: tuple[int, int]) -> None:
    rng = np.random.default_rng(0)
    h, w = src_hw
    xy0 = rng.uniform(0, [w - 20, h - 20], (50, 2))
    boxes = np.hstack([xy0, xy0 + rng.uniform(1, 20, (50, 2))])
    p = letterbox_params(src_hw, dst_hw)
    # Forward: what the resize + pad did to the pixels (per-axis scale of the resize, then the offset).
    net = boxes.copy()
    net[:, 0::2] = net[:, 0::2] * p.scale_x + p.left
    net[:, 1::2] = net[:, 1::2] * p.scale_y + p.top
    back = unletterbox_boxes(net, p)
    np.testing.assert_allclose(back, boxes, rtol=0, atol=1e-9)


def test_unletterbox_clips_to_the_image() -> None:
    p = letterbox_params((480, 640), (320, 320))
    boxes = np.array([[-5.0, 30.0, 330.0, 300.0]])  # outside the resized region on every side
    out = unletterbox_boxes(boxes, p)
    assert out.tolist() == [[0.0, 0.0, 640.0, 480.0]]


def _random_yolo_output(rng: np.random.Generator, nc: int, n: int, objects: int = 6) -> np.ndarray:
    """(4+nc, n): anchors clustered around a few objects, as a trained model's output looks."""
    centres = rng.uniform(40, 280, (objects, 2))
    k = rng.integers(0, objects, n)
    cxcy = centres[k] + rng.normal(0, 3, (n, 2))
    wh = rng.uniform(20, 40, (n, 2))
    scores = rng.random((nc, n)) ** 4  # mostly low, some high
    return np.vstack([cxcy.T, wh.T, scores]).astype(np.float32)


def _reference_decode_nms(
    pred: np.ndarray, score_thr: float, iou_thr: float, max_det: int, agnostic: bool
) -> list:
    """Straightforward per-anchor decode + per-class greedy NMS with Python loops."""
    cands = []
    for j in range(pred.shape[1]):
        c = int(np.argmax(pred[4:, j]))
        s = float(pred[4 + c, j])
        if s > score_thr:
            cx, cy, w, h = (float(v) for v in pred[:4, j])
            cands.append((s, c, (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)))
    cands.sort(key=lambda t: -t[0])

    def iou(a: tuple, b: tuple) -> float:
        iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
        ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
        inter = iw * ih
        return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)

    kept: list = []
    for s, c, box in cands:
        if all((not agnostic and kc != c) or iou(box, kb) <= iou_thr for _, kc, kb in kept):
            kept.append((s, c, box))
    return kept[:max_det]


@pytest.mark.parametrize("n", [60, 2100, 8400])  # few candidates (OpenCV NMS) and many (numpy NMS)
@pytest.mark.parametrize("agnostic", [False, True])
def test_decode_and_nms_match_the_reference(n: int, agnostic: bool) -> None:
    rng = np.random.default_rng(n)
    pred = _random_yolo_output(rng, nc=4, n=n)
    boxes, scores, classes = decode_yolo(pred, 0.25)
    keep = nms(boxes, scores, classes, 0.45, 300, agnostic)
    ref = _reference_decode_nms(pred, 0.25, 0.45, 300, agnostic)
    assert len(keep) == len(ref) > 3
    np.testing.assert_allclose(scores[keep], [r[0] for r in ref], rtol=1e-6)
    assert classes[keep].tolist() == [r[1] for r in ref]
    np.testing.assert_allclose(boxes[keep], [r[2] for r in ref], atol=1e-4)


def test_nms_is_class_aware() -> None:
    boxes = np.array([[10, 10, 50, 50], [11, 11, 51, 51], [12, 12, 52, 52]], np.float32)
    scores = np.array([0.9, 0.8, 0.7], np.float32)
    classes = np.array([0, 1, 0])
    # The class-1 box overlaps the class-0 winner almost entirely and survives; the second class-0 goes.
    assert nms(boxes, scores, classes, 0.5, 10).tolist() == [0, 1]
    assert nms(boxes, scores, classes, 0.5, 10, agnostic=True).tolist() == [0]


def test_nms_keeps_at_most_max_detections_highest_first() -> None:
    rng = np.random.default_rng(1)
    xy = rng.uniform(0, 1000, (500, 2))
    boxes = np.hstack([xy, xy + 5]).astype(np.float32)  # tiny, nearly disjoint
    scores = rng.random(500).astype(np.float32)
    keep = nms(boxes, scores, np.zeros(500, np.int64), 0.45, 7)
    assert keep.tolist() == np.argsort(-scores)[:7].tolist()
    assert nms(np.empty((0, 4), np.float32), np.empty(0, np.float32), np.empty(0, np.int64), 0.5, 5).size == 0


def test_decode_drops_non_finite_and_negative_sizes() -> None:
    pred = np.zeros((6, 4), np.float32)  # nc = 2, 4 anchors
    pred[:4] = [[10, 10, np.nan, 10], [10, 10, 10, 10], [5, -1, 5, 5], [5, 5, 5, 5]]
    pred[4] = 0.9
    boxes, _, _ = decode_yolo(pred, 0.5)
    assert boxes.shape == (2, 4) and np.isfinite(boxes).all()


def test_decode_yolo_caps_candidates() -> None:
    pred = _random_yolo_output(np.random.default_rng(2), nc=3, n=5000)
    boxes, scores, _ = decode_yolo(pred, 0.0, max_candidates=100)
    assert boxes.shape == (100, 4)
    assert scores.min() >= np.sort(pred[4:].max(axis=0))[-100]


def test_decode_rtdetr_score_class_layout() -> None:
    pred = np.array(
        [
            [0.5, 0.5, 0.25, 0.5, 0.9, 2.0],  # centred box, 1/4 of the width, 1/2 of the height
            [0.1, 0.1, 0.1, 0.1, 0.2, 0.0],  # below threshold
            [0.9, 0.9, 0.4, 0.4, 0.95, 1.0],  # runs off the image: clipped
            [0.5, 0.5, 0.1, 0.1, 0.99, 7.0],  # class out of range: dropped
        ],
        np.float32,
    )
    boxes, scores, classes = decode_rtdetr(
        pred, nc=3, score_threshold=0.5, max_detections=10, src_hw=(480, 640)
    )
    assert classes.tolist() == [1, 2]
    np.testing.assert_allclose(scores, [0.95, 0.9])
    # Source pixels, pixel centres at integers: the edge-convention box shifted by −0.5.
    np.testing.assert_allclose(boxes[1], [320 - 80 - 0.5, 240 - 120 - 0.5, 320 + 80 - 0.5, 240 + 120 - 0.5])
    np.testing.assert_allclose(boxes[0], [448 - 0.5, 336 - 0.5, 640 - 0.5, 480 - 0.5])


def test_decode_rtdetr_per_class_scores_layout() -> None:
    nc = 3
    pred = np.zeros((300, 4 + nc), np.float32)
    pred[:, :4] = [0.5, 0.5, 0.1, 0.1]
    pred[7, 4:] = [0.1, 0.8, 0.3]
    pred[9, 4:] = [0.6, 0.1, 0.7]
    boxes, scores, classes = decode_rtdetr(pred, nc, 0.5, 1, (100, 100))
    assert classes.tolist() == [1] and scores.tolist() == pytest.approx([0.8])
    np.testing.assert_allclose(boxes, [[44.5, 44.5, 54.5, 54.5]])
