"""COCO box mAP of detections against ground truth, with faster-coco-eval (matches pycocotools, ~5× faster).

Box conventions: COCO (and the dataset's labels) let pixel ``i`` span ``[i, i + 1)``; a
:class:`~visuomotor.interfaces.Detection` puts pixel centres at integers. :func:`detections_to_coco`
shifts by :data:`~visuomotor.detection.detector.PIXEL_CENTRE_OFFSET` so both sides are compared in COCO's.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from visuomotor.detection.detector import PIXEL_CENTRE_OFFSET
from visuomotor.detection.errors import DetectorError
from visuomotor.interfaces import Detection

__all__ = ["ClassAP", "MapResult", "coco_map", "detections_to_coco"]


@dataclass(frozen=True, slots=True)
class ClassAP:
    """Average precision of one class.

    Attributes:
        name: class name.
        ap50: AP at IoU 0.5, in [0, 1] (NaN when the class has no ground truth).
        ap50_95: AP averaged over IoU 0.50:0.05:0.95 (COCO's AP), in [0, 1] or NaN.
        instances: ground-truth boxes of the class.
    """

    name: str
    ap50: float
    ap50_95: float
    instances: int


@dataclass(frozen=True, slots=True)
class MapResult:
    """COCO bbox evaluation over a set of images.

    Attributes:
        map50: mean over classes with ground truth of AP at IoU 0.5.
        map50_95: mean over those classes of AP at IoU 0.50:0.95.
        per_class: AP per class, in class-id order.
        images: images evaluated.
        instances: ground-truth boxes.
        detections: detections scored.
    """

    map50: float
    map50_95: float
    per_class: tuple[ClassAP, ...]
    images: int
    instances: int
    detections: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (NaN → None)."""

        def num(v: float) -> float | None:
            return None if np.isnan(v) else round(float(v), 6)

        return {
            "map50": num(self.map50),
            "map50_95": num(self.map50_95),
            "per_class": {
                c.name: {"ap50": num(c.ap50), "ap50_95": num(c.ap50_95), "instances": c.instances}
                for c in self.per_class
            },
            "images": self.images,
            "instances": self.instances,
            "detections": self.detections,
        }


def detections_to_coco(image_id: int, detections: Sequence[Detection]) -> list[dict[str, Any]]:
    """COCO result entries (``image_id``, ``category_id`` = class id, ``bbox`` [x, y, w, h], ``score``).

    Boxes are shifted from pixel-centre to COCO pixel-edge coordinates (+0.5 px).
    """
    out = []
    for d in detections:
        x0, y0, x1, y1 = d.box_px
        out.append(
            {
                "image_id": image_id,
                "category_id": d.class_id,
                "bbox": [x0 + PIXEL_CENTRE_OFFSET, y0 + PIXEL_CENTRE_OFFSET, x1 - x0, y1 - y0],
                "score": d.score,
            }
        )
    return out


def coco_map(
    ground_truth: Mapping[str, Any], detections: Sequence[Mapping[str, Any]], class_names: Sequence[str]
) -> MapResult:
    """COCO bbox mAP (all areas, 100 detections per image) of ``detections`` against ``ground_truth``.

    Args:
        ground_truth: COCO dict (``images``, ``annotations`` with ``bbox`` [x, y, w, h] px, ``categories``
            with ids = class ids), as ``visuomotor.training.detector_data.coco_ground_truth`` writes it.
        detections: COCO result entries (see :func:`detections_to_coco`).
        class_names: names by class id; classes without ground truth get NaN and are left out of the means.

    Returns:
        mAP50, mAP50-95 and per-class AP.

    Raises:
        DetectorError: faster-coco-eval is not installed (``pip install faster-coco-eval``).
    """
    try:
        from faster_coco_eval import COCO, COCOeval_faster
    except ImportError as err:
        raise DetectorError("COCO mAP needs faster-coco-eval: pip install faster-coco-eval") from err
    gt = {
        "images": list(ground_truth["images"]),
        "annotations": [dict(a) for a in ground_truth["annotations"]],
        "categories": list(ground_truth["categories"]),
    }
    for a in gt["annotations"]:
        a.setdefault("area", a["bbox"][2] * a["bbox"][3])
        a.setdefault("iscrowd", 0)
    counts = np.bincount([a["category_id"] for a in gt["annotations"]], minlength=len(class_names)).astype(
        int
    )
    n_images, n_instances = len(gt["images"]), len(gt["annotations"])
    if not detections or not n_instances:
        per_class = tuple(
            ClassAP(name, 0.0 if counts[i] else np.nan, 0.0 if counts[i] else np.nan, int(counts[i]))
            for i, name in enumerate(class_names)
        )
        zero = 0.0 if n_instances else np.nan
        return MapResult(zero, zero, per_class, n_images, n_instances, len(detections))
    # faster-coco-eval prints its summary table; the numbers are returned instead.
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO(gt)
        coco_dt = coco_gt.loadRes([dict(d) for d in detections])
        ev = COCOeval_faster(coco_gt, coco_dt, iouType="bbox")
        ev.evaluate()
        ev.accumulate()
    # precision: [T IoU thresholds, R recall points, K categories, A area ranges, M maxDets]; −1 = none.
    precision = np.asarray(ev.eval["precision"])
    cat_index = {cat_id: k for k, cat_id in enumerate(ev.params.catIds)}
    per_class = []
    for class_id, name in enumerate(class_names):
        k = cat_index.get(class_id)
        if k is None or counts[class_id] == 0:
            per_class.append(ClassAP(name, np.nan, np.nan, int(counts[class_id])))
            continue
        p = precision[:, :, k, 0, -1]
        ap50 = _mean_valid(p[0])
        ap = _mean_valid(p)
        per_class.append(ClassAP(name, ap50, ap, int(counts[class_id])))
    ap50s = [c.ap50 for c in per_class if not np.isnan(c.ap50)]
    aps = [c.ap50_95 for c in per_class if not np.isnan(c.ap50_95)]
    return MapResult(
        float(np.mean(ap50s)) if ap50s else np.nan,
        float(np.mean(aps)) if aps else np.nan,
        tuple(per_class),
        n_images,
        n_instances,
        len(detections),
    )


def _mean_valid(p: np.ndarray) -> float:
    valid = p[p > -1]
    return float(valid.mean()) if valid.size else 0.0
