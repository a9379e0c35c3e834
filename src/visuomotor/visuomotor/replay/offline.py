"""Offline replay: a bag's RGB-D frames through detect → localise → track in this process, no ROS graph.

One pass over the bag in log-time order. Colour images are paired with the nearest depth image
(:class:`~visuomotor.bag.camera.FramePairer`) and camera_info; each pair is decoded, detected, localised
and tracked at once, as fast as the CPU allows. The tracker's time is the colour image's header stamp, so
the result depends on the bag and the configuration only — never on the wall clock or the machine's speed,
unlike the live graph, which drops frames when it falls behind. Ground truth (``SimGroundTruth``) is
matched to each frame by nearest stamp afterwards; status/rejection topics and the graph's recorded frame
trails are collected on the way.

``skipped`` counts (only non-zero ones are written): ``no_depth_partner``, ``no_camera_info``,
``bad_camera_info``, ``colour_out_of_order``, ``unpaired_depth`` (from the pairing); ``bad_image``
(undecodable or malformed colour/depth; the frame is dropped); ``no_depth`` (a bag without depth: the frame
is detected only); ``detect_failed``, ``localise_failed``, ``track_failed`` (the stage raised; later stages
do not run on that frame); ``box_without_depth`` (detections the localiser could not lift);
``no_ground_truth`` (frames without a ground-truth message within tolerance, when the bag has some);
``bad_frame_trail`` (recorded trails that are not a valid chain); ``bad_side_message`` (an undecodable
status, rejection or trail message).
"""

from __future__ import annotations

import bisect
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

from visuomotor.bag import (
    BagError,
    BagFrame,
    BagMessage,
    BagReader,
    CameraLayout,
    FramePairer,
    color_array,
    detect_camera_layout,
    header_stamp_ns,
)
from visuomotor.bag.camera import depth_image
from visuomotor.detection import make_detector
from visuomotor.errors import CameraError, ConfigError
from visuomotor.geometry import CameraIntrinsics, Extrinsics, load_extrinsics
from visuomotor.latency import FrameTrail, LatencyError, StageTiming
from visuomotor.perception import PerceptionFrame, PerceptionPipeline
from visuomotor.replay.config import ReplayConfig, resolve_path
from visuomotor.replay.ground_truth import ground_truth_objects
from visuomotor.replay.result import CameraSummary, FrameResult, OfflineRun, PolicyLog

__all__ = ["replay_offline"]

_STRING = "std_msgs/msg/String"
_GROUND_TRUTH = "visuomotor_interfaces/msg/SimGroundTruth"
_FRAME_TRAIL = "visuomotor_interfaces/msg/FrameTrail"


class _Replay:
    """State of one replay: the pipeline, the pairing, the collected side topics."""

    def __init__(self, reader: BagReader, config: ReplayConfig, extrinsics: Extrinsics) -> None:
        self.reader = reader
        self.config = config
        self.pipeline: PerceptionPipeline | None = None
        self.extrinsics = extrinsics
        topics = reader.topics
        self.layout: CameraLayout = detect_camera_layout(
            topics,
            color_topic=config.color_topic,
            depth_topic=config.depth_topic,
            info_topic=config.info_topic,
            bag=f"bag {reader.path}",
        )

        def has(topic: str, msgtype: str) -> bool:
            return bool(topic) and topic in topics and topics[topic].msgtype == msgtype

        self.gt_topic = config.ground_truth_topic if has(config.ground_truth_topic, _GROUND_TRUTH) else None
        self.trail_topic = config.frame_trail_topic if has(config.frame_trail_topic, _FRAME_TRAIL) else None
        self.status_topics = {t for t in config.status_topics if has(t, _STRING)} | {
            t for t in topics if t.startswith("/visuomotor/") and t.endswith("status") and has(t, _STRING)
        }
        self.rejection_topic = config.rejection_topic if has(config.rejection_topic, _STRING) else None
        self.pairer = FramePairer(
            self.layout, round(config.sync_tolerance_ms * 1e6), self._stamp_of, reader.decode
        )
        self.skipped: Counter[str] = Counter()
        self.frames: list[FrameResult] = []
        self.timings: list[FrameTrail] = []
        self.intrinsics: list[CameraIntrinsics] = []
        self.bad_images = 0
        self.encodings: tuple[str, str | None] | None = None
        self.ground_truth: list[tuple[int, BagMessage]] = []
        self.trails: list[FrameTrail] = []
        self.status: list[str] = []
        self.rejections: Counter[str] = Counter()

    # ------------------------------------------------------------------ reading
    def _stamp_of(self, message: BagMessage) -> int:
        stamp = header_stamp_ns(message.data)
        if stamp is None:  # not plain CDR: decode the whole message for its header
            s = self.reader.decode(message).header.stamp
            stamp = s.sec * 1_000_000_000 + s.nanosec
        return stamp

    def topics(self) -> set[str]:
        side = {self.gt_topic, self.trail_topic, self.rejection_topic, *self.status_topics}
        return set(self.layout.topics) | {t for t in side if t}

    def run(self, pipeline: PerceptionPipeline, progress: Any) -> None:
        self.pipeline = pipeline
        start = None
        if self.config.start_offset_s > 0:
            start = self.reader.start_time_ns + round(self.config.start_offset_s * 1e9)
        camera = set(self.layout.topics)
        for message in self.reader.messages(self.topics(), start):
            if message.topic in camera:
                for frame in self.pairer.push(message):
                    if self._full():
                        return
                    self._process(frame)
                    progress.update(1)
            else:
                self._side(message)
        for frame in self.pairer.finish():
            if self._full():
                return
            self._process(frame)
            progress.update(1)

    def _full(self) -> bool:
        return 0 < self.config.max_frames <= len(self.frames)

    def _side(self, message: BagMessage) -> None:
        topic = message.topic
        if topic == self.gt_topic:  # decoded later, only for the stamps nearest a frame
            self.ground_truth.append((self._stamp_of(message), message))
            return
        try:
            msg = self.reader.decode(message)
        except BagError:  # one corrupt side message must not end the replay
            self.skipped["bad_side_message"] += 1
            return
        if topic == self.trail_topic:
            stamp = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
            try:
                self.trails.append(
                    FrameTrail(stamp, tuple(StageTiming(t.stage, t.start_ns, t.end_ns) for t in msg.timings))
                )
            except LatencyError:
                self.skipped["bad_frame_trail"] += 1
        elif topic == self.rejection_topic:
            self.rejections[msg.data or "unspecified"] += 1
        elif topic in self.status_topics and (not self.status or self.status[-1] != msg.data):
            self.status.append(msg.data)

    # ------------------------------------------------------------------ the pipeline
    def _process(self, frame: BagFrame) -> None:
        t0 = time.monotonic_ns()
        try:
            color_msg = self.reader.decode(frame.color)
            depth_msg = None if frame.depth is None else self.reader.decode(frame.depth)
        except BagError:  # one corrupt message: drop the frame, keep replaying
            self.skipped["bad_image"] += 1
            self.bad_images += 1
            return
        try:
            # Unsupported encodings raise BagError: the whole stream is unusable, stop with the reason.
            rgb, color_encoding = color_array(color_msg)
            depth, depth_encoding = (None, None) if depth_msg is None else depth_image(depth_msg)
        except CameraError:
            self.skipped["bad_image"] += 1
            self.bad_images += 1
            return
        t1 = time.monotonic_ns()
        if self.encodings is None:
            self.encodings = (color_encoding, depth_encoding)
        assert self.pipeline is not None  # set by run()
        out = self.pipeline.process(
            PerceptionFrame(frame.stamp_ns, rgb, color_encoding, depth, depth_encoding, frame.intrinsics)
        )
        # The pipeline counts its own skips (read in result()); this run's timing file has one detect stage.
        timings = [StageTiming("decode", t0, t1)]
        stages = {t.stage: t for t in out.trail.timings}
        if "detect.pre" in stages:
            timings.append(StageTiming("detect", stages["detect.pre"].start_ns, stages["detect.post"].end_ns))
        timings += [stages[s] for s in ("localise", "track") if s in stages]
        index = len(self.frames)
        self.frames.append(FrameResult(index, frame.stamp_ns, out.detections, out.objects, out.tracks))
        self.timings.append(FrameTrail(frame.stamp_ns, tuple(timings)))
        self.intrinsics.append(frame.intrinsics)

    # ------------------------------------------------------------------ results
    def _attach_ground_truth(self) -> list[FrameResult]:
        if self.gt_topic is None:
            return self.frames
        self.ground_truth.sort(key=lambda sm: sm[0])
        stamps = [s for s, _ in self.ground_truth]
        tolerance = round(self.config.ground_truth_tolerance_ms * 1e6)
        decoded: dict[int, Any] = {}
        out = []
        for frame, K in zip(self.frames, self.intrinsics, strict=True):
            i = bisect.bisect_left(stamps, frame.stamp_ns)
            near = [j for j in (i - 1, i) if 0 <= j < len(stamps)]
            j = min(near, key=lambda j: abs(stamps[j] - frame.stamp_ns), default=None)
            if j is None or abs(stamps[j] - frame.stamp_ns) > tolerance:
                self.skipped["no_ground_truth"] += 1
                out.append(frame)
                continue
            if j not in decoded:
                try:
                    decoded[j] = self.reader.decode(self.ground_truth[j][1])
                except BagError:
                    decoded[j] = None
                    self.skipped["bad_side_message"] += 1
            if decoded[j] is None:
                out.append(frame)
                continue
            gt = ground_truth_objects(decoded[j], K, self.extrinsics.matrix)
            out.append(replace(frame, ground_truth=gt))
        return out

    def result(self, wall_s: float) -> OfflineRun:
        frames = self._attach_ground_truth()
        skipped = dict(self.skipped)
        if self.pipeline is not None:
            for reason, count in self.pipeline.skipped.items():
                skipped[reason] = skipped.get(reason, 0) + count
        for reason, count in self.pairer.skipped.items():
            skipped[reason] = skipped.get(reason, 0) + count
        lay = self.layout
        camera = CameraSummary(lay.color_topic, lay.depth_topic, lay.info_topic)
        if self.intrinsics and self.encodings is not None:
            K = self.intrinsics[0]
            camera = replace(
                camera,
                width=K.width_px,
                height=K.height_px,
                fx=K.fx_px,
                fy=K.fy_px,
                cx=K.cx_px,
                cy=K.cy_px,
                color_encoding=self.encodings[0],
                depth_encoding=self.encodings[1],
            )
        policy = None
        if self.status_topics or self.rejection_topic:
            policy = PolicyLog(tuple(self.status), dict(self.rejections))
        return OfflineRun(
            bag=self.reader.name,
            camera=camera,
            frames=frames,
            dropped_frames=self.pairer.dropped_frames + self.bad_images,
            skipped=skipped,
            policy=policy,
            timings=self.timings,
            recorded_trails=self.trails,
            wall_s=wall_s,
        )


def replay_offline(bag: str | Path, config: ReplayConfig | None = None) -> OfflineRun:
    """Replay a bag's camera frames through the core pipeline (see the module docstring).

    Args:
        bag: a rosbag2 directory (MCAP or sqlite3) or a single ``.mcap``/``.db3`` file.
        config: what to run and which topics to read (defaults: the shipped YOLO model, sim extrinsics,
            topics detected).

    Returns:
        The run; ``run.write(out_dir)`` writes ``result.json`` and ``timing.json``.

    Raises:
        BagError: the bag is missing, truncated or corrupt, lacks a colour or camera_info topic, or uses an
            image encoding the pipeline cannot read; the message names the topic or encoding and the fix.
        ConfigError: the model or extrinsics file is missing, or the configuration is inconsistent.
        DetectorError: the model cannot be loaded.
    """
    from tqdm import tqdm

    config = config if config is not None else ReplayConfig()
    model = resolve_path(config.detector.model_path, "detector model")
    extrinsics = load_extrinsics(resolve_path(config.extrinsics_path, "extrinsics file"))
    if extrinsics.parent_frame != config.localiser.target_frame:
        raise ConfigError(
            f"extrinsics {config.extrinsics_path} map into {extrinsics.parent_frame!r} but the localiser's "
            f"target_frame is {config.localiser.target_frame!r}"
        )
    with BagReader(bag) as reader:
        replay = _Replay(reader, config, extrinsics)
        # The model loads after the bag checked out, so a wrong topic fails fast.
        detector = make_detector(replace(config.detector, model_path=str(model)))
        pipeline = PerceptionPipeline(detector, config.localiser, config.tracker, extrinsics)
        total = reader.topics[replay.layout.color_topic].count
        if config.max_frames:
            total = min(total, config.max_frames)
        start = time.perf_counter()  # the frame loop only: bag checks and model loading are not frames
        with tqdm(total=total, unit="frame", desc="replay", disable=not config.progress) as bar:
            replay.run(pipeline, bar)
        return replay.result(time.perf_counter() - start)
