"""Accuracy of a replay against the bag's ground truth: detection mAP, 3D localisation error, policy outcome.

Ground truth comes from the sim (``/sim/ground_truth``) recorded in the bag. An object whose ``box_px``
is null lies outside the image: it is neither expected to be detected nor localised nor tracked. A run
with no boxes at all carries no visibility information, and then every ground-truth object counts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from visuomotor.detection.metrics import coco_map, detections_to_coco
from visuomotor.errors import ConfigError
from visuomotor.interfaces import Detection
from visuomotor.report.errors import ReportError

__all__ = [
    "MAX_MATCH_DISTANCE_M",
    "detection_section",
    "localisation_errors_m",
    "localisation_section",
    "policy_section",
    "visible_ground_truth",
]

#: An object farther than this from every ground-truth object of its class is a mislocalisation, counted
#: as unmatched rather than averaged in (a missed cube would otherwise dominate the error statistics).
MAX_MATCH_DISTANCE_M = 0.1
_MM_DECIMALS = 2

NO_GROUND_TRUTH = "no ground truth in result.json (replay a bag recorded with the sim's /sim/ground_truth)"


def visible_ground_truth(
    frames: Sequence[Mapping[str, Any]],
) -> list[tuple[Mapping[str, Any], list[Mapping[str, Any]]]]:
    """(frame, its ground-truth entries inside the image) for every frame that has ground truth."""
    with_truth = [f for f in frames if f["ground_truth"] is not None]
    has_boxes = any(g["box_px"] is not None for f in with_truth for g in f["ground_truth"])
    return [
        (f, [g for g in f["ground_truth"] if not has_boxes or g["box_px"] is not None]) for f in with_truth
    ]


def detection_section(frames: Sequence[Mapping[str, Any]], width: int, height: int) -> dict[str, Any]:
    """COCO mAP50 and mAP50-95 of the replay's detections against the ground-truth boxes.

    Every frame with ground truth is an image (one without visible objects still scores its false
    positives). Both sides use the pipeline's pixel-centre box convention; IoU does not change when
    both are shifted to COCO's pixel edges by :func:`detections_to_coco`'s half pixel.

    Returns:
        ``{"available": False, "reason": ...}`` or ``available`` plus :meth:`MapResult.to_dict` (``map50``,
        ``map50_95``, ``per_class`` {name: ``ap50``, ``ap50_95``, ``instances``}, ``images``, ``instances``,
        ``detections``; AP of a class without ground truth is None).
    """
    with_truth = [f for f in frames if f["ground_truth"] is not None]
    boxed = [g for f in with_truth for g in f["ground_truth"] if g["box_px"] is not None]
    if not boxed:
        reason = NO_GROUND_TRUTH if not with_truth else "no ground-truth boxes (box_px) in result.json"
        return {"available": False, "reason": reason}
    names = sorted(
        {g["class_name"] for g in boxed} | {d["class_name"] for f in with_truth for d in f["detections"]}
    )
    class_ids = {name: i for i, name in enumerate(names)}
    images, annotations, predictions = [], [], []
    for image_id, frame in enumerate(with_truth):
        images.append({"id": image_id, "width": width, "height": height})
        for g in frame["ground_truth"]:
            if g["box_px"] is None:
                continue
            detection = _detection(class_ids, g["class_name"], 1.0, g["box_px"], frame["index"])
            # Converted like a detection, so both sides get the same half-pixel shift.
            (coco,) = detections_to_coco(image_id, [detection])
            x, y, w, h = coco["bbox"]
            annotations.append(
                {
                    "id": len(annotations) + 1,  # COCO evaluators treat id 0 as "unmatched"
                    "image_id": image_id,
                    "category_id": coco["category_id"],
                    "bbox": [x, y, w, h],
                    "area": w * h,
                    "iscrowd": 0,
                }
            )
        predictions += detections_to_coco(
            image_id,
            [
                _detection(class_ids, d["class_name"], d["score"], d["box_px"], frame["index"])
                for d in frame["detections"]
            ],
        )
    ground_truth = {
        "images": images,
        "annotations": annotations,
        "categories": [{"id": i, "name": n} for i, n in enumerate(names)],
    }
    return {"available": True, **coco_map(ground_truth, predictions, names).to_dict()}


def _detection(
    class_ids: Mapping[str, int], name: str, score: float, box: Sequence[float], index: int
) -> Detection:
    try:
        return Detection(class_ids[name], name, float(score), (box[0], box[1], box[2], box[3]))
    except ConfigError as err:
        raise ReportError(f"result.json frame {index}: {err}; the replay wrote an invalid box") from err


def localisation_errors_m(
    frames: Sequence[tuple[Mapping[str, Any], Sequence[Mapping[str, Any]]]],
    max_match_distance_m: float = MAX_MATCH_DISTANCE_M,
) -> tuple[dict[str, list[float]], int, int]:
    """3D errors of localised objects against visible ground truth, matched per class and frame.

    Within a class, objects and ground truth are paired one to one by nearest distance (Hungarian
    assignment on the Euclidean distance); a pair farther apart than ``max_match_distance_m`` is split.

    Returns:
        Errors (m) per class, the number of unmatched objects, the number of unmatched ground truth.
    """
    errors: dict[str, list[float]] = {}
    unmatched_objects = unmatched_truth = 0
    for frame, truth in frames:
        classes = {o["class_name"] for o in frame["objects"]} | {g["class_name"] for g in truth}
        for name in sorted(classes):
            p_obj = np.array([o["position_m"] for o in frame["objects"] if o["class_name"] == name]).reshape(
                -1, 3
            )
            p_gt = np.array([g["position_m"] for g in truth if g["class_name"] == name]).reshape(-1, 3)
            dist = np.linalg.norm(p_obj[:, None, :] - p_gt[None, :, :], axis=2)  # (objects, truth)
            rows, cols = linear_sum_assignment(dist) if dist.size else (np.zeros(0, int), np.zeros(0, int))
            matched = [
                float(dist[r, c])
                for r, c in zip(rows, cols, strict=True)
                if dist[r, c] <= max_match_distance_m
            ]
            errors.setdefault(name, []).extend(matched)
            unmatched_objects += len(p_obj) - len(matched)
            unmatched_truth += len(p_gt) - len(matched)
    return errors, unmatched_objects, unmatched_truth


def _error_stats_mm(errors_m: Sequence[float]) -> dict[str, Any]:
    if not errors_m:
        return {"matched": 0, "median_mm": None, "p95_mm": None, "mean_mm": None, "max_mm": None}
    mm = np.asarray(errors_m) * 1000.0
    return {
        "matched": int(mm.size),
        "median_mm": round(float(np.median(mm)), _MM_DECIMALS),
        "p95_mm": round(float(np.percentile(mm, 95.0, method="linear")), _MM_DECIMALS),
        "mean_mm": round(float(mm.mean()), _MM_DECIMALS),
        "max_mm": round(float(mm.max()), _MM_DECIMALS),
    }


def localisation_section(
    frames: Sequence[tuple[Mapping[str, Any], Sequence[Mapping[str, Any]]]],
    max_match_distance_m: float = MAX_MATCH_DISTANCE_M,
) -> tuple[dict[str, Any], dict[str, list[float]]]:
    """The report's localisation numbers (mm, 0.01 mm) and the errors per class (m) behind them.

    Returns:
        ``{"available": False, "reason": ...}`` or ``available``, ``matched``, ``median_mm``,
        ``p95_mm``, ``mean_mm``, ``max_mm``, ``unmatched_objects``, ``unmatched_ground_truth``,
        ``max_match_distance_mm`` and ``per_class`` {name: the same statistics}; and the errors.
    """
    if not any(truth for _, truth in frames):
        return {"available": False, "reason": NO_GROUND_TRUTH}, {}
    errors, unmatched_objects, unmatched_truth = localisation_errors_m(frames, max_match_distance_m)
    section = {
        "available": True,
        **_error_stats_mm([e for v in errors.values() for e in v]),
        "unmatched_objects": unmatched_objects,
        "unmatched_ground_truth": unmatched_truth,
        "max_match_distance_mm": round(max_match_distance_m * 1000.0, _MM_DECIMALS),
        "per_class": {name: _error_stats_mm(errors[name]) for name in sorted(errors)},
    }
    return section, errors


def policy_section(policy: Mapping[str, Any] | None) -> dict[str, Any]:
    """Outcome and safety rejections from result.json's ``policy`` section.

    The pick publishes phase names, then ``done: success`` or ``done: failure — why``; the last ``done:``
    status decides the outcome (``unfinished`` when there is none).

    Returns:
        ``{"available": False, "reason": ...}`` or ``available``, ``outcome``, ``success``,
        ``final_status``, ``status_messages``, ``rejections`` {reason code: count}, ``rejections_total``.
    """
    if policy is None:
        return {
            "available": False,
            "reason": "no policy section in result.json (no policy status in the bag)",
        }
    done = [s for s in policy["status"] if s.startswith("done")]
    final = done[-1] if done else None
    outcome = "unfinished" if final is None else "success" if final.startswith("done: success") else "failure"
    rejections = {str(k): int(v) for k, v in policy["rejections"].items()}
    return {
        "available": True,
        "outcome": outcome,
        "success": outcome == "success",
        "final_status": final if final is not None else (policy["status"][-1] if policy["status"] else None),
        "status_messages": len(policy["status"]),
        "rejections": rejections,
        "rejections_total": sum(rejections.values()),
    }
