"""Tracking scores with trackeval (HOTA, CLEAR MOTA, Identity IDF1) on 3D positions.

Similarity between a ground-truth object and a track is ``1 − d / scale`` (clipped to [0, 1]) for the
3D distance ``d`` between them, and 0 across classes: CLEAR and Identity match where the similarity is
≥ 0.5 (``d ≤ scale / 2``), HOTA averages similarity thresholds 0.05–0.95. The same scoring serves the
report (tracks replayed from a bag) and the tracker's sim-sequence tests.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from visuomotor.interfaces import TrackState
from visuomotor.report.errors import ReportError

__all__ = ["SCORED_TRACK_STATES", "TrackingFrame", "TrackingScores", "score_tracking", "tracking_section"]

#: Default similarity scale (m): a track within 5 cm of an object matches it.
SIMILARITY_SCALE_M = 0.1
#: Track states that count as the tracker's output (LOST tracks are coasting predictions, not reported).
SCORED_TRACK_STATES = frozenset({TrackState.CONFIRMED.name})


@dataclass(frozen=True, slots=True)
class TrackingFrame:
    """Ground truth and tracker output of one frame.

    Attributes:
        gt_ids: identity of each ground-truth object (any hashable: a name, an index).
        gt_positions_m: (G, 3) object positions, metres.
        track_ids: identity of each output track.
        track_positions_m: (T, 3) track positions in the same frame as the ground truth, metres.
        gt_classes, track_classes: class names (G and T of them); when both are given a track never
            matches an object of another class.
    """

    gt_ids: Sequence[Hashable]
    gt_positions_m: np.ndarray
    track_ids: Sequence[Hashable]
    track_positions_m: np.ndarray
    gt_classes: Sequence[str] | None = field(default=None)
    track_classes: Sequence[str] | None = field(default=None)


@dataclass(frozen=True, slots=True)
class TrackingScores:
    """trackeval's scores of one sequence.

    Attributes:
        mota: CLEAR MOTA = 1 − (FN + FP + IDSW) / ground-truth detections.
        idf1: Identity F1 = 2·IDTP / (2·IDTP + IDFP + IDFN).
        hota: HOTA averaged over the similarity thresholds.
        id_switches: CLEAR ID switches.
        false_positives, false_negatives: CLEAR FP and FN.
        frames: frames scored; gt_ids, track_ids: distinct identities seen.
    """

    mota: float
    idf1: float
    hota: float
    id_switches: int
    false_positives: int
    false_negatives: int
    frames: int
    gt_ids: int
    track_ids: int


def _similarity(frame: TrackingFrame, scale_m: float) -> np.ndarray:
    gt = np.asarray(frame.gt_positions_m, dtype=np.float64).reshape(-1, 3)
    tr = np.asarray(frame.track_positions_m, dtype=np.float64).reshape(-1, 3)
    dist = np.linalg.norm(gt[:, None, :] - tr[None, :, :], axis=2)  # (G, T)
    sim = np.clip(1.0 - dist / scale_m, 0.0, 1.0)
    if frame.gt_classes is not None and frame.track_classes is not None:
        same = np.asarray(frame.gt_classes, dtype=object)[:, None] == np.asarray(
            frame.track_classes, dtype=object
        )
        sim = np.where(same.reshape(sim.shape), sim, 0.0)
    return sim


def score_tracking(
    frames: Sequence[TrackingFrame], similarity_scale_m: float = SIMILARITY_SCALE_M
) -> TrackingScores:
    """Score a tracked sequence with trackeval's HOTA, CLEAR and Identity metrics.

    Args:
        frames: the sequence, one entry per time step (frames without objects or tracks included).
        similarity_scale_m: distance at which the similarity reaches 0 (m).

    Raises:
        ReportError: no ground-truth object in any frame, or trackeval is not installed.
    """
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # trackeval prints about optional datasets on import
            from trackeval.metrics import CLEAR, HOTA, Identity
    except ImportError as err:
        raise ReportError("tracking scores need trackeval: pip install --no-deps trackeval tabulate") from err
    gt_index: dict[Hashable, int] = {}
    tr_index: dict[Hashable, int] = {}
    data: dict[str, list[np.ndarray]] = {"gt_ids": [], "tracker_ids": [], "similarity_scores": []}
    for f in frames:
        # trackeval wants identities numbered 0..n−1 in order of appearance.
        data["gt_ids"].append(np.array([gt_index.setdefault(g, len(gt_index)) for g in f.gt_ids], dtype=int))
        data["tracker_ids"].append(
            np.array([tr_index.setdefault(t, len(tr_index)) for t in f.track_ids], dtype=int)
        )
        data["similarity_scores"].append(_similarity(f, similarity_scale_m))
    num_gt_dets = sum(len(g) for g in data["gt_ids"])
    if num_gt_dets == 0:
        raise ReportError("score_tracking got no ground-truth object in any frame: nothing to score")
    seq: dict[str, Any] = {
        **data,
        "num_timesteps": len(frames),
        "num_gt_ids": len(gt_index),
        "num_tracker_ids": len(tr_index),
        "num_gt_dets": num_gt_dets,
        "num_tracker_dets": sum(len(t) for t in data["tracker_ids"]),
    }
    res: dict[str, Any] = {}
    for metric in (HOTA(), CLEAR({"PRINT_CONFIG": False}), Identity({"PRINT_CONFIG": False})):
        res.update(metric.eval_sequence(seq))
    return TrackingScores(
        mota=float(res["MOTA"]),
        idf1=float(res["IDF1"]),
        hota=float(np.mean(res["HOTA"])),
        id_switches=int(res["IDSW"]),
        false_positives=int(res["CLR_FP"]),
        false_negatives=int(res["CLR_FN"]),
        frames=len(frames),
        gt_ids=len(gt_index),
        track_ids=len(tr_index),
    )


def _state_name(state: int | str) -> str:
    """``"CONFIRMED"`` for 1, ``"confirmed"`` or ``"CONFIRMED"`` (the replay may write either)."""
    if isinstance(state, int):
        try:
            return TrackState(state).name
        except ValueError:
            return str(state)
    return state.upper()


def tracking_section(
    frames: Sequence[tuple[Mapping[str, Any], Sequence[Mapping[str, Any]]]],
    similarity_scale_m: float = SIMILARITY_SCALE_M,
) -> dict[str, Any]:
    """The report's tracking numbers from result.json frames paired with their visible ground truth.

    Args:
        frames: (result frame, its visible ground-truth entries) for every frame with ground truth.
        similarity_scale_m: see :func:`score_tracking`.

    Returns:
        ``{"available": False, "reason": ...}`` or ``available``, ``mota``, ``idf1``, ``hota`` (4
        decimals), ``id_switches``, ``false_positives``, ``false_negatives``, ``frames``, ``gt_ids``,
        ``track_ids``, ``similarity_scale_m``.
    """
    seq = []
    for frame, truth in frames:
        tracks = [t for t in frame["tracks"] if _state_name(t["state"]) in SCORED_TRACK_STATES]
        seq.append(
            TrackingFrame(
                gt_ids=[g["name"] for g in truth],
                gt_positions_m=np.array([g["position_m"] for g in truth], dtype=np.float64).reshape(-1, 3),
                track_ids=[t["track_id"] for t in tracks],
                track_positions_m=np.array([t["position_m"] for t in tracks], dtype=np.float64).reshape(
                    -1, 3
                ),
                gt_classes=[g["class_name"] for g in truth],
                track_classes=[t["class_name"] for t in tracks],
            )
        )
    if not any(f.gt_ids for f in seq):
        return {
            "available": False,
            "reason": "no ground-truth objects in result.json to score tracks against",
        }
    s = score_tracking(seq, similarity_scale_m)
    return {
        "available": True,
        "mota": round(s.mota, 4),
        "idf1": round(s.idf1, 4),
        "hota": round(s.hota, 4),
        "id_switches": s.id_switches,
        "false_positives": s.false_positives,
        "false_negatives": s.false_negatives,
        "frames": s.frames,
        "gt_ids": s.gt_ids,
        "track_ids": s.track_ids,
        "similarity_scale_m": similarity_scale_m,
    }
