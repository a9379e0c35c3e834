"""COCO mAP with faster-coco-eval on cases whose answer is known by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from visuomotor.interfaces import Detection

pytest.importorskip("faster_coco_eval", reason="COCO mAP needs faster-coco-eval")

from visuomotor.detection.metrics import coco_map, detections_to_coco

NAMES = ("red_cube", "green_cube", "blue_cube", "bin")


def _gt(boxes_per_image: list[list[tuple[int, tuple[float, float, float, float]]]]) -> dict:
    images, anns = [], []
    for i, boxes in enumerate(boxes_per_image):
        images.append({"id": i, "width": 640, "height": 480})
        for cls, (x0, y0, x1, y1) in boxes:
            anns.append(
                {"id": len(anns) + 1, "image_id": i, "category_id": cls, "bbox": [x0, y0, x1 - x0, y1 - y0]}
            )
    return {
        "images": images,
        "annotations": anns,
        "categories": [{"id": k, "name": n} for k, n in enumerate(NAMES)],
    }


def _det(cls: int, box: tuple[float, float, float, float], score: float = 0.9) -> Detection:
    # Detections put pixel centres at integers: a COCO box [x0, x1) is (x0 − 0.5, x1 − 0.5) here.
    return Detection(cls, NAMES[cls], score, tuple(v - 0.5 for v in box))  # type: ignore[arg-type]


GT = [
    [(0, (10, 10, 60, 60)), (1, (100, 100, 150, 160)), (3, (300, 200, 500, 400))],
    [(0, (20, 30, 70, 80)), (2, (200, 50, 240, 90))],
]


def test_perfect_detections_score_one() -> None:
    dets = [detections_to_coco(i, [_det(c, b) for c, b in boxes]) for i, boxes in enumerate(GT)]
    np.testing.assert_allclose(dets[0][0]["bbox"], [10, 10, 50, 50])  # back in COCO pixels
    result = coco_map(_gt(GT), [d for per in dets for d in per], NAMES)
    assert result.map50 == pytest.approx(1.0) and result.map50_95 == pytest.approx(1.0)
    assert result.instances == 5 and result.images == 2 and result.detections == 5
    assert [c.instances for c in result.per_class] == [2, 1, 1, 1]
    d = result.to_dict()
    assert d["per_class"]["bin"] == {"ap50": 1.0, "ap50_95": 1.0, "instances": 1}


def test_a_missed_object_halves_its_class_ap() -> None:
    dets = detections_to_coco(0, [_det(c, b) for c, b in GT[0]]) + detections_to_coco(
        1, [_det(2, GT[1][1][1])]
    )
    result = coco_map(_gt(GT), dets, NAMES)
    red = result.per_class[0]
    # Recall of red_cube stops at 0.5 with precision 1: COCO's 101-point AP = 51/101.
    assert red.ap50 == pytest.approx(51 / 101, abs=1e-6)
    assert result.map50 == pytest.approx((51 / 101 + 3) / 4, abs=1e-6)


def test_wrong_class_and_poor_overlap_count_as_misses() -> None:
    gt = [[(0, (0, 0, 100, 100))]]
    # IoU 0.6: a hit at the thresholds 0.5, 0.55 and 0.6, a miss at the 7 above: AP50-95 = 3/10.
    result = coco_map(
        _gt(gt), detections_to_coco(0, [_det(0, (0, 0, 100, 60)), _det(1, (0, 0, 100, 100))]), NAMES
    )
    assert result.per_class[0].ap50 == pytest.approx(1.0)
    assert result.per_class[0].ap50_95 == pytest.approx(0.3)
    assert math.isnan(result.per_class[1].ap50)  # no green ground truth: left out of the mean
    assert result.map50 == pytest.approx(1.0)


def test_no_detections_is_zero_not_an_error() -> None:
    result = coco_map(_gt(GT), [], NAMES)
    assert result.map50 == 0.0 and result.map50_95 == 0.0
    assert result.to_dict()["per_class"]["red_cube"]["ap50"] == 0.0
