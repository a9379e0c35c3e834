"""Detector evaluation on freshly rendered, labelled sim frames: COCO mAP plus per-step timing.

Frames come from the dataset module's renderer (same domain randomisation and labelling rules as the
training data) with a seed of their own, so the numbers are on scenes the model has never seen. The
model sees the raw rendered frame, as in the pipeline (the training images went through JPEG q95).
:func:`dataset_frames` reads a written split instead (e.g. to compare with ultralytics' own ``val``).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from visuomotor.detection.detector import DetectionResult, Detector
from visuomotor.detection.errors import DetectorError
from visuomotor.detection.metrics import MapResult, coco_map, detections_to_coco
from visuomotor.latency import StageStats

__all__ = [
    "CALIBRATION_SEED",
    "EVAL_SEED",
    "DetectorEvaluation",
    "LabelledFrame",
    "dataset_frames",
    "evaluate_detector",
    "render_frames",
    "timing_summary",
]

#: Default seed of evaluation frames: the dataset uses 0 (train) and 1 (held-out val).
EVAL_SEED = 1000
#: Default seed of INT8 calibration frames (disjoint from training, validation and evaluation).
CALIBRATION_SEED = 2000


@dataclass(frozen=True, slots=True)
class LabelledFrame:
    """One rendered frame with its ground truth.

    Attributes:
        index: frame index within its seed.
        rgb: (H, W, 3) uint8, RGB.
        boxes_px: (K, 4) float64 ground-truth boxes x0, y0, x1, y1 in COCO pixels (pixel i spans [i, i+1)).
        class_ids: (K,) int64 class ids.
    """

    index: int
    rgb: np.ndarray
    boxes_px: np.ndarray
    class_ids: np.ndarray


def render_frames(num_frames: int, seed: int = EVAL_SEED, config: Any = None) -> Iterator[LabelledFrame]:
    """Render ``num_frames`` labelled frames; frame i depends only on (seed, i, config).

    Args:
        num_frames: frames to render (≥ 1).
        seed: split seed, as in ``visuomotor.training.detector_data.render_split``.
        config: a ``DatasetConfig`` (its defaults — the training data's — when None).

    Yields:
        Frames in index order (≈ 35 ms each on this CPU: scene reset, colour and segmentation renders).
    """
    # The sim (MuJoCo, EGL) loads only when frames are asked for. visuomotor.sim first: it sets
    # MUJOCO_GL=egl, which must happen before the dataset module imports mujoco.
    import visuomotor.sim  # noqa: F401
    from visuomotor.training.detector_data import DatasetConfig, FrameRenderer, scene_seed

    renderer = FrameRenderer(config if config is not None else DatasetConfig())
    try:
        for i in range(num_frames):
            rgb, _, labels, _ = renderer.render(scene_seed(seed, i), np.random.default_rng([seed, i, 1]))
            boxes = np.array([lb.box_xyxy_px for lb in labels], dtype=np.float64).reshape(-1, 4)
            classes = np.array([lb.class_id for lb in labels], dtype=np.int64)
            yield LabelledFrame(i, rgb, boxes, classes)
    finally:
        renderer.close()


def dataset_frames(data_dir: Path, split: str = "val", limit: int = 0) -> Iterator[LabelledFrame]:
    """Frames of a written dataset: ``images/<split>/`` with ``annotations/<split>.json`` (COCO).

    Args:
        data_dir: dataset folder written by ``visuomotor dataset detector``.
        split: ``val`` (held out) or ``train``.
        limit: at most this many frames (0 = all), in image-id order.

    Raises:
        DetectorError: the folder has no such split.
    """
    ann_path = Path(data_dir) / "annotations" / f"{split}.json"
    if not ann_path.is_file():
        raise DetectorError(
            f"{ann_path} not found: render the dataset with `visuomotor dataset detector` first"
        )
    coco = json.loads(ann_path.read_text())
    by_image: dict[int, list[dict[str, Any]]] = {}
    for a in coco["annotations"]:
        by_image.setdefault(a["image_id"], []).append(a)
    images = sorted(coco["images"], key=lambda im: im["id"])
    for image in images[:limit] if limit > 0 else images:
        path = Path(data_dir) / "images" / split / image["file_name"]
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None:
            raise DetectorError(f"cannot read {path}; the dataset is incomplete")
        anns = by_image.get(image["id"], [])
        xywh = np.array([a["bbox"] for a in anns], dtype=np.float64).reshape(-1, 4)
        boxes = np.hstack([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]])
        classes = np.array([a["category_id"] for a in anns], dtype=np.int64)
        yield LabelledFrame(int(image["id"]), cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), boxes, classes)


def timing_summary(results: Sequence[DetectionResult]) -> dict[str, dict[str, float | int]]:
    """p50/p95/p99/mean/max/min (ms) of pre, infer, post, non-inference (pre + post) and total."""
    series = {
        "pre": [r.pre_ns for r in results],
        "infer": [r.infer_ns for r in results],
        "post": [r.post_ns for r in results],
        "non_inference": [r.pre_ns + r.post_ns for r in results],
        "total": [r.total_ns for r in results],
    }
    return {name: StageStats.from_samples(name, ns).to_dict() for name, ns in series.items()}


#: Frames rendered ahead of detection: timing is not taken while MuJoCo's software renderer (llvmpipe,
#: multi-threaded) competes for the same cores; 50 frames ≈ 46 MB.
_CHUNK = 50


def _rendered_in_chunks(frames: Iterable[LabelledFrame], size: int) -> Iterator[LabelledFrame]:
    it = iter(frames)
    while chunk := list(itertools.islice(it, size)):
        yield from chunk


@dataclass(frozen=True, slots=True)
class DetectorEvaluation:
    """Result of :func:`evaluate_detector`.

    Attributes:
        map: COCO mAP of the detector's detections.
        timing: :func:`timing_summary` of the detector's calls.
        frames: frames evaluated.
        provider: execution provider that ran the model.
    """

    map: MapResult
    timing: dict[str, dict[str, float | int]]
    frames: int
    provider: str


def evaluate_detector(
    detector: Detector,
    frames: Iterable[LabelledFrame],
    progress: Callable[[int], None] | None = None,
    also: Sequence[Detector] = (),
) -> tuple[DetectorEvaluation, ...]:
    """Run detectors over labelled frames and score each with COCO mAP.

    Args:
        detector: the detector to evaluate.
        frames: labelled frames; an iterator is drawn 50 at a time before detecting them, so rendering
            never overlaps the timed calls.
        progress: called with 1 after each frame.
        also: further detectors run on the same frames (e.g. the same model at runtime thresholds, or an
            INT8 variant); each is scored and timed separately.

    Returns:
        One evaluation per detector: ``detector`` first, then ``also`` in order.
    """
    detectors = (detector, *also)
    images, annotations = [], []
    predictions: list[list[dict[str, Any]]] = [[] for _ in detectors]
    results: list[list[DetectionResult]] = [[] for _ in detectors]
    n = 0
    for frame in _rendered_in_chunks(frames, _CHUNK):
        h, w = frame.rgb.shape[:2]
        images.append({"id": n, "width": w, "height": h, "file_name": f"{frame.index:06d}"})
        for box, cls in zip(frame.boxes_px.tolist(), frame.class_ids.tolist(), strict=True):
            x0, y0, x1, y1 = box
            annotations.append(
                {
                    "id": len(annotations) + 1,  # COCO evaluators treat id 0 as "unmatched"
                    "image_id": n,
                    "category_id": cls,
                    "bbox": [x0, y0, x1 - x0, y1 - y0],
                    "area": (x1 - x0) * (y1 - y0),
                    "iscrowd": 0,
                }
            )
        for k, det in enumerate(detectors):
            result = det.detect(frame.rgb, "rgb8")
            results[k].append(result)
            predictions[k] += detections_to_coco(n, result.detections)
        n += 1
        if progress is not None:
            progress(1)
    if n == 0:
        raise DetectorError("evaluate_detector got no frames: ask for at least one")
    names = detector.class_names
    ground_truth = {
        "images": images,
        "annotations": annotations,
        "categories": [{"id": i, "name": name} for i, name in enumerate(names)],
    }
    return tuple(
        DetectorEvaluation(
            coco_map(ground_truth, predictions[k], names), timing_summary(results[k]), n, det.provider
        )
        for k, det in enumerate(detectors)
    )
