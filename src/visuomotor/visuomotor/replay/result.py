"""The outcome of an offline replay and its two files.

``result.json`` (schema ``visuomotor.replay/1``) is deterministic: the same bag, model and config give the
same bytes — no wall clock, no absolute paths, floats rounded to :data:`DECIMALS` decimals, sorted keys::

    {"schema": "visuomotor.replay/1", "bag": <bag directory name>,
     "camera": {"color_topic", "depth_topic", "info_topic", "width", "height", "fx", "fy", "cx", "cy",
                "color_encoding", "depth_encoding"},
     "frames": [{"index", "stamp_ns",
                 "detections": [{"class_name", "score", "box_px": [x1, y1, x2, y2]}],
                 "objects": [{"class_name", "position_m": [x, y, z]}],
                 "tracks": [{"track_id", "class_name", "state", "position_m"}],
                 "ground_truth": [{"name", "class_name", "position_m", "extent_m", "box_px" | null}] | null}],
     "dropped_frames": int, "skipped": {reason: count},
     "policy": {"status": [str], "rejections": {reason_code: count}} | null}

Boxes are in pixels with pixel centres at integers (``Detection.box_px``), positions in ``base_link``
metres, ``state`` is ``tentative``/``confirmed``/``lost``; ``depth_topic``/``depth_encoding`` are null for
a bag without depth. ``timing.json`` (schema ``visuomotor.replay-timing/1``) holds this run's per-frame
stage times (host ``CLOCK_MONOTONIC`` ns, so it differs between runs) and the recorded graph run's trails::

    {"schema": "visuomotor.replay-timing/1", "stages": ["decode", "detect", "localise", "track"],
     "frames": [{"index", "stamp_ns", "stages": {stage: {"start_ns", "end_ns"}}}],
     "recorded_trails": [{"stamp_ns", "stages": [{"stage", "start_ns", "end_ns"}]}]}
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from visuomotor.interfaces import Detection, Object3D, Track
from visuomotor.latency import FrameTrail
from visuomotor.replay.ground_truth import GroundTruthObject

__all__ = [
    "DECIMALS",
    "RESULT_FILE",
    "RESULT_SCHEMA",
    "STAGES",
    "TIMING_FILE",
    "TIMING_SCHEMA",
    "CameraSummary",
    "FrameResult",
    "OfflineRun",
    "PolicyLog",
    "dump_json",
]

RESULT_SCHEMA = "visuomotor.replay/1"
TIMING_SCHEMA = "visuomotor.replay-timing/1"
RESULT_FILE = "result.json"
TIMING_FILE = "timing.json"
#: the stages an offline replay times per frame, in order
STAGES = ("decode", "detect", "localise", "track")
#: decimals kept of every float in result.json (µm, µpx: far below any real difference)
DECIMALS = 6


def _r(x: float) -> float:
    # + 0.0 turns -0.0 into 0.0, so a sign flip of a rounded zero cannot change the bytes.
    return round(float(x), DECIMALS) + 0.0


def _rs(values: Sequence[float]) -> list[float]:
    return [_r(v) for v in values]


def dump_json(doc: Any) -> str:
    """Canonical JSON: sorted keys, compact separators, no NaN, UTF-8 text, one trailing newline."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), allow_nan=False, ensure_ascii=False) + "\n"


@dataclass(frozen=True, slots=True)
class CameraSummary:
    """The camera stream a replay read (topics, intrinsics, encodings); numbers None when no frame was."""

    color_topic: str
    depth_topic: str | None
    info_topic: str
    width: int | None = None
    height: int | None = None
    fx: float | None = None
    fy: float | None = None
    cx: float | None = None
    cy: float | None = None
    color_encoding: str | None = None
    depth_encoding: str | None = None

    def to_dict(self) -> dict[str, Any]:
        def num(x: float | None) -> float | None:
            return None if x is None else _r(x)

        return {
            "color_topic": self.color_topic,
            "depth_topic": self.depth_topic,
            "info_topic": self.info_topic,
            "width": self.width,
            "height": self.height,
            "fx": num(self.fx),
            "fy": num(self.fy),
            "cx": num(self.cx),
            "cy": num(self.cy),
            "color_encoding": self.color_encoding,
            "depth_encoding": self.depth_encoding,
        }


@dataclass(frozen=True, slots=True)
class FrameResult:
    """The pipeline's output on one frame.

    Attributes:
        index: position among the replayed frames (0, 1, ...).
        stamp_ns: the colour image's header stamp (the tracker's time).
        detections, objects, tracks: the stages' outputs (empty when a stage did not run on the frame).
        ground_truth: the sim's objects at the nearest ground-truth stamp; None without ground truth.
    """

    index: int
    stamp_ns: int
    detections: tuple[Detection, ...]
    objects: tuple[Object3D, ...]
    tracks: tuple[Track, ...]
    ground_truth: tuple[GroundTruthObject, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        gt = None
        if self.ground_truth is not None:
            gt = [
                {
                    "name": g.name,
                    "class_name": g.class_name,
                    "position_m": _rs(g.position_m),
                    "extent_m": _rs(g.extent_m),
                    "box_px": None if g.box_px is None else _rs(g.box_px),
                }
                for g in self.ground_truth
            ]
        return {
            "index": self.index,
            "stamp_ns": self.stamp_ns,
            "detections": [
                {"class_name": d.class_name, "score": _r(d.score), "box_px": _rs(d.box_px)}
                for d in self.detections
            ],
            "objects": [{"class_name": o.class_name, "position_m": _rs(o.position_m)} for o in self.objects],
            "tracks": [
                {
                    "track_id": t.track_id,
                    "class_name": t.class_name,
                    "state": t.state.name.lower(),
                    "position_m": _rs(t.position_m),
                }
                for t in self.tracks
            ],
            "ground_truth": gt,
        }


@dataclass(frozen=True, slots=True)
class PolicyLog:
    """What the policy side said during the recording.

    Attributes:
        status: texts of the status topics in log-time order (a text repeated back to back counts once).
        rejections: reason code → rejected commands.
    """

    status: tuple[str, ...] = ()
    rejections: Mapping[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"status": list(self.status), "rejections": dict(sorted(self.rejections.items()))}


@dataclass(slots=True)
class OfflineRun:
    """Everything an offline replay produced.

    Attributes:
        bag: the bag's directory name.
        camera: the camera stream read.
        frames: one result per replayed frame.
        dropped_frames: colour images that did not become frames (no depth partner, no camera_info,
            undecodable).
        skipped: reason → count, for frames, boxes and messages left out (see ``replay_offline``).
        policy: status and rejections; None when the bag has none of those topics.
        timings: per frame, this run's stage timings (``STAGES`` that ran), on ``time.monotonic_ns``.
        recorded_trails: the live graph's frame trails recorded in the bag.
        wall_s: wall time of the frame loop, s (not written: it differs between runs).
    """

    bag: str
    camera: CameraSummary
    frames: list[FrameResult]
    dropped_frames: int
    skipped: dict[str, int]
    policy: PolicyLog | None
    timings: list[FrameTrail]
    recorded_trails: list[FrameTrail]
    wall_s: float = 0.0

    @property
    def frames_per_s(self) -> float:
        """Replayed frames per second of wall time (0 when nothing ran)."""
        return len(self.frames) / self.wall_s if self.wall_s > 0 else 0.0

    def result_dict(self) -> dict[str, Any]:
        """The ``result.json`` document."""
        return {
            "schema": RESULT_SCHEMA,
            "bag": self.bag,
            "camera": self.camera.to_dict(),
            "frames": [f.to_dict() for f in self.frames],
            "dropped_frames": self.dropped_frames,
            "skipped": {k: v for k, v in sorted(self.skipped.items()) if v},
            "policy": None if self.policy is None else self.policy.to_dict(),
        }

    def timing_dict(self) -> dict[str, Any]:
        """The ``timing.json`` document."""
        return {
            "schema": TIMING_SCHEMA,
            "stages": list(STAGES),
            "frames": [
                {
                    "index": f.index,
                    "stamp_ns": trail.stamp_ns,
                    "stages": {t.stage: {"start_ns": t.start_ns, "end_ns": t.end_ns} for t in trail.timings},
                }
                for f, trail in zip(self.frames, self.timings, strict=True)
            ],
            "recorded_trails": [
                {
                    "stamp_ns": trail.stamp_ns,
                    "stages": [
                        {"stage": t.stage, "start_ns": t.start_ns, "end_ns": t.end_ns} for t in trail.timings
                    ],
                }
                for trail in self.recorded_trails
            ],
        }

    def write(self, out_dir: str | Path) -> tuple[Path, Path]:
        """Write ``result.json`` and ``timing.json`` into ``out_dir`` (created if needed).

        Returns:
            (result path, timing path).
        """
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        result, timing = out / RESULT_FILE, out / TIMING_FILE
        result.write_text(dump_json(self.result_dict()), encoding="utf-8")
        timing.write_text(dump_json(self.timing_dict()), encoding="utf-8")
        return result, timing
