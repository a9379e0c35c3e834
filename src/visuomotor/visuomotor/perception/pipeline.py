"""The in-process perception pipeline: an RGB-D frame → detections → 3D objects → tracks, timed.

One class for every caller that runs the chain — the ``perception`` node, offline replay, the closed-loop
evaluation and the benchmarks — so they cannot diverge: the same depth handling, the same stage names,
the same clock, the same skip reasons.

Depth goes to the localiser in one way (:func:`localiser_depth`): ``16UC1``/``mono16`` millimetres as they
come (the localiser converts only the pixels it samples, ≈ 0.4 ms saved per 640×480 frame), ``32FC1``
metres with invalid values made NaN.

A frame that cannot be used is never an exception to the caller: it comes back with ``skipped`` naming
why (and is counted in :attr:`PerceptionPipeline.skipped`), because a live node must keep going and an
offline run must account for every frame. Reasons: ``bad_image`` (undecodable colour or depth: the frame
is dropped), ``detect_failed``, ``no_depth`` (a frame without depth: detected only), ``localise_failed``,
``track_failed``, ``out_of_order`` (a stamp not after the last tracked one: never fed backwards in time
to the filter); per box, ``box_without_depth``.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from visuomotor.detection import Detector
from visuomotor.errors import VisuomotorError
from visuomotor.geometry import CameraIntrinsics, Extrinsics, Localiser, LocaliserConfig, depth_to_metres
from visuomotor.interfaces import Detection, Object3D, Track
from visuomotor.latency import FrameTrail, StageTiming
from visuomotor.tracking import HungarianTracker, TrackerConfig

__all__ = ["STAGES", "PerceptionFrame", "PerceptionPipeline", "PerceptionResult", "localiser_depth"]

#: Stage names of a frame's trail, in order.
STAGES = ("detect.pre", "detect.infer", "detect.post", "localise", "track")
_RAW_MM = ("16UC1", "mono16")


def localiser_depth(depth: np.ndarray, encoding: str) -> np.ndarray:
    """Depth as the localiser takes it: uint16 millimetres untouched, anything else float metres (NaN =
    no data).

    Raises:
        CameraError: an encoding that is not depth.
    """
    if encoding in _RAW_MM and isinstance(depth, np.ndarray) and depth.dtype == np.uint16:
        return depth
    return depth_to_metres(depth, encoding)


@dataclass(frozen=True, slots=True)
class PerceptionFrame:
    """One RGB-D frame.

    Attributes:
        stamp_ns: the camera stamp (the tracker's time).
        rgb: (H, W, 3) uint8 colour image.
        color_encoding: ``rgb8`` or ``bgr8``.
        depth: (H, W) depth aligned to colour, or None when the frame has none.
        depth_encoding: ``16UC1``/``mono16`` (mm) or ``32FC1`` (m); ignored without depth.
        intrinsics: the colour camera's pinhole model (depth is aligned to it).
    """

    stamp_ns: int
    rgb: np.ndarray
    color_encoding: str
    depth: np.ndarray | None
    depth_encoding: str | None
    intrinsics: CameraIntrinsics


@dataclass(frozen=True, slots=True)
class PerceptionResult:
    """What one frame gave.

    Attributes:
        stamp_ns: the frame's camera stamp.
        detections, objects, tracks: each stage's output (empty where a stage did not run).
        trail: the stages that ran, timed on ``CLOCK_MONOTONIC`` (see :data:`STAGES`).
        skipped: why a stage did not run, or ``""`` when every stage ran.
        boxes_without_depth: detections the localiser could not lift.
        detail: the error behind ``skipped`` (its message names the fix), or ``""``.
    """

    stamp_ns: int
    detections: tuple[Detection, ...]
    objects: tuple[Object3D, ...]
    tracks: tuple[Track, ...]
    trail: FrameTrail
    skipped: str = ""
    boxes_without_depth: int = 0
    detail: str = ""


class PerceptionPipeline:
    """Detector → localiser → tracker on one frame at a time, with stage timings and skip counts.

    Args:
        detector: an opened detector (``make_detector``).
        localiser: localiser parameters; the localiser itself is rebuilt whenever the intrinsics change.
        tracker: tracker parameters.
        extrinsics: ``T_<target_frame>_camera``.
        clock: a nanosecond monotonic clock (tests may pass their own).
    """

    def __init__(
        self,
        detector: Detector,
        localiser: LocaliserConfig,
        tracker: TrackerConfig,
        extrinsics: Extrinsics,
        clock: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        self.detector = detector
        self.localiser_config = localiser
        self.tracker_config = tracker
        self.extrinsics = extrinsics
        self.clock = clock
        self.tracker = HungarianTracker(tracker)
        self.skipped: Counter[str] = Counter()
        self._localisers: dict[CameraIntrinsics, Localiser] = {}
        self._last_stamp_ns: int | None = None
        # Fail at construction, not on the first frame, when the frames do not fit.
        Localiser(localiser, _probe_intrinsics(), extrinsics)

    def reset(self) -> None:
        """Forget every track and the last stamp (a new episode or a rewound bag); counts are kept."""
        self.tracker = HungarianTracker(self.tracker_config)
        self._last_stamp_ns = None

    def localiser(self, intrinsics: CameraIntrinsics) -> Localiser:
        """The localiser for these intrinsics (one per distinct camera model, kept)."""
        loc = self._localisers.get(intrinsics)
        if loc is None:
            loc = self._localisers[intrinsics] = Localiser(self.localiser_config, intrinsics, self.extrinsics)
        return loc

    def _skip(self, frame: PerceptionFrame, reason: str, timings: list[StageTiming],
              detections: tuple[Detection, ...] = (), objects: tuple[Object3D, ...] = (),
              boxes_without_depth: int = 0, error: Exception | None = None) -> PerceptionResult:
        self.skipped[reason] += 1
        trail = FrameTrail(frame.stamp_ns, tuple(timings))
        return PerceptionResult(frame.stamp_ns, detections, objects, (), trail, reason, boxes_without_depth,
                                "" if error is None else str(error))

    def process(self, frame: PerceptionFrame) -> PerceptionResult:
        """Run every stage the frame allows (see the module docstring for what a skip means)."""
        clock = self.clock
        timings: list[StageTiming] = []
        if self._last_stamp_ns is not None and frame.stamp_ns <= self._last_stamp_ns:
            return self._skip(frame, "out_of_order", timings)
        t0 = clock()
        try:
            result = self.detector.detect(frame.rgb, frame.color_encoding)
        except VisuomotorError as err:
            return self._skip(frame, "detect_failed", timings, error=err)
        t_end = clock()
        timings += result.stage_timings(t0, t_end)
        detections = result.detections
        if frame.depth is None or frame.depth_encoding is None:
            return self._skip(frame, "no_depth", timings, detections)
        t3 = clock()
        try:
            depth = localiser_depth(frame.depth, frame.depth_encoding)
            located = self.localiser(frame.intrinsics).localise(detections, depth)
        except VisuomotorError as err:
            return self._skip(frame, "localise_failed", timings, detections, error=err)
        t4 = clock()
        timings.append(StageTiming("localise", t3, t4))
        missing = len(located.skipped)
        self.skipped["box_without_depth"] += missing
        try:
            tracks = self.tracker.update(located.objects, frame.stamp_ns)
        except VisuomotorError as err:
            return self._skip(frame, "track_failed", timings, detections, located.objects, missing, err)
        timings.append(StageTiming("track", t4, clock()))
        self._last_stamp_ns = frame.stamp_ns
        return PerceptionResult(frame.stamp_ns, detections, located.objects, tuple(tracks),
                                FrameTrail(frame.stamp_ns, tuple(timings)), "", missing)


def _probe_intrinsics() -> CameraIntrinsics:
    """A valid pinhole model, only to check the localiser config against the extrinsics at start."""
    return CameraIntrinsics(640, 480, 600.0, 600.0, 320.0, 240.0)
