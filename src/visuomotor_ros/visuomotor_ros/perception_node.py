"""perception: colour + aligned depth + camera_info → detections, 3D objects and tracks in one node.

The core's :class:`~visuomotor.perception.PerceptionPipeline` (detector → localiser → tracker) called
directly: no DDS hop between the stages. The three inputs are matched by stamp in the subscription
callbacks; a worker thread runs the pipeline on the newest complete frame. Latest frame only: a frame
that completes while the worker is still busy replaces the one waiting, and the replaced frame is counted
as ``stale`` (skipped on purpose, not lost) — a stage that cannot keep up works on the freshest frame
instead of a growing queue. Outputs keep the camera stamp and the frame's trail (``detect.pre``,
``detect.infer``, ``detect.post``, ``localise``, ``track``), on the same topics as the one-node-per-stage
graph.

Stage parameters come from the stage files (``detector_params``, ``localiser_params``,
``tracker_params``, the ``detector``/``localiser``/``tracker`` sections of ``config/*.yaml``), and any key
can be overridden here as ``detector.<key>``, ``localiser.<key>`` or ``tracker.<key>``.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image

from visuomotor.config import read_params_file
from visuomotor.detection import DetectorConfig, make_detector
from visuomotor.errors import VisuomotorError
from visuomotor.geometry import LocaliserConfig, load_extrinsics
from visuomotor.perception import PerceptionFrame, PerceptionPipeline, PerceptionResult
from visuomotor.tracking import TrackerConfig
from visuomotor_interfaces.msg import Detection2DArray, Object3DArray, TrackArray
from visuomotor_ros.convert import (
    detection_to_msg,
    image_array,
    intrinsics_from_camera_info,
    ns_to_stamp,
    object_to_msg,
    stamp_to_ns,
    timings_to_msg,
    track_to_msg,
)
from visuomotor_ros.params import declare_flat, reject_unknown_parameters, resolve_config_path
from visuomotor_ros.qos import SENSOR, STATE
from visuomotor_ros.runner import run_node
from visuomotor_ros.sync import ApproximateTimeSync

__all__ = ["PerceptionNode", "main"]

NODE_DEFAULTS: dict[str, Any] = {
    "detector_params": "detector.yaml",
    "localiser_params": "localiser.yaml",
    "tracker_params": "tracker.yaml",
    "extrinsics_file": "extrinsics/sim.yaml",
    "topics.color": "/camera/camera/color/image_raw",
    "topics.depth": "/camera/camera/aligned_depth_to_color/image_raw",
    "topics.camera_info": "/camera/camera/color/camera_info",
    "topics.detections": "/visuomotor/detections",
    "topics.objects": "/visuomotor/objects",
    "topics.tracks": "/visuomotor/tracks",
    "sync.slop_ms": 5.0,
    "sync.queue_size": 10,
    "diagnostics_period_s": 0.5,
}
#: A frame this much older than the newest one processed starts a new stream (sim reset, bag loop).
_REWIND_NS = 1_000_000_000
_STAGES = (("detector", DetectorConfig), ("localiser", LocaliserConfig), ("tracker", TrackerConfig))


class PerceptionNode(Node):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__("perception", **kwargs)
        p = declare_flat(self, NODE_DEFAULTS)
        configs: dict[str, Any] = {}
        for name, cls in _STAGES:
            defaults = cls().to_flat_dict()
            defaults.update(read_params_file(resolve_config_path(p[f"{name}_params"]), name, required=False))
            values = declare_flat(self, {f"{name}.{k}": v for k, v in defaults.items()})
            configs[name] = {k.removeprefix(f"{name}."): v for k, v in values.items()}
        reject_unknown_parameters(self)
        model = configs["detector"]["model_path"] = str(resolve_config_path(configs["detector"]["model_path"],
                                                                            "model"))
        detector = make_detector(DetectorConfig.from_flat(configs["detector"]))
        self.pipeline = PerceptionPipeline(
            detector,
            LocaliserConfig.from_flat(configs["localiser"]),
            TrackerConfig.from_flat(configs["tracker"]),
            load_extrinsics(resolve_config_path(p["extrinsics_file"])),
        )
        self._frame_id = self.pipeline.localiser_config.target_frame
        self._sync = ApproximateTimeSync(
            ("color", "depth", "camera_info"), round(p["sync.slop_ms"] * 1e6), int(p["sync.queue_size"])
        )
        #: frames matched, processed, and replaced while waiting (stale: skipped on purpose).
        self.counts: Counter[str] = Counter()
        self._last_stamp_ns: int | None = None  # newest frame stamp processed (a rewind resets the tracks)
        self._lock = threading.Condition()
        self._waiting: dict[str, Any] | None = None
        self._stop = False
        self._skip_logged: dict[str, float] = {}
        self._pubs = (
            self.create_publisher(Detection2DArray, p["topics.detections"], STATE),
            self.create_publisher(Object3DArray, p["topics.objects"], STATE),
            self.create_publisher(TrackArray, p["topics.tracks"], STATE),
        )
        for name, msg_type in (("color", Image), ("depth", Image), ("camera_info", CameraInfo)):
            self.create_subscription(msg_type, p[f"topics.{name}"], lambda m, n=name: self._push(n, m),
                                     SENSOR)
        self._diagnostics = self.create_publisher(DiagnosticArray, "/diagnostics", STATE)
        self._provider = detector.provider
        self.create_timer(float(p["diagnostics_period_s"]), self._publish_diagnostics)
        self._worker = threading.Thread(target=self._work, name="perception_pipeline", daemon=True)
        self._worker.start()
        self.get_logger().info(
            f"model {model}: {type(detector).__name__}, input {detector.input_size}, "
            f"provider {detector.provider}; tracks in {self._frame_id} on {p['topics.tracks']}"
        )

    def _push(self, name: str, msg: Any) -> None:
        if name != "camera_info":  # a bad image is refused on arrival (a zero-copy view), not at its turn
            try:
                msg = (msg, image_array(msg))
            except VisuomotorError as err:
                self.counts["bad_image"] += 1
                self._log_skip(str(err))
                return
        matched = self._sync.push(name, stamp_to_ns(msg[0].header.stamp if name != "camera_info"
                                                    else msg.header.stamp), msg)
        if matched is None:
            return
        with self._lock:
            self.counts["matched"] += 1
            if self._waiting is not None:
                self.counts["stale"] += 1
            self._waiting = {k: v[1] for k, v in matched.items()}
            self._lock.notify()

    def _work(self) -> None:
        while True:
            with self._lock:
                while self._waiting is None and not self._stop:
                    self._lock.wait()
                if self._stop:
                    return
                frame, self._waiting = self._waiting, None
            try:
                self._process(frame["color"], frame["depth"], frame["camera_info"])
            except Exception as err:  # the worker must outlive any one frame
                self._log_skip(f"{type(err).__name__}: {err}")

    def _log_skip(self, why: str) -> None:
        now = time.monotonic()  # throttled per reason, so one bad stream cannot hide another
        if now - self._skip_logged.get(why, -1e9) >= 2.0:
            self._skip_logged[why] = now
            self.get_logger().warning(f"skipping a frame: {why}")

    def _process(self, color: tuple[Image, Any], depth: tuple[Image, Any], info: CameraInfo) -> None:
        (color_msg, rgb), (depth_msg, depth_img) = color, depth
        try:
            frame = PerceptionFrame(stamp_to_ns(color_msg.header.stamp), rgb, color_msg.encoding, depth_img,
                                    depth_msg.encoding, intrinsics_from_camera_info(info))
        except VisuomotorError as err:
            self.counts["bad_image"] += 1
            self._log_skip(str(err))
            return
        last = self._last_stamp_ns
        if last is not None and last - frame.stamp_ns > _REWIND_NS:
            # Time went back (a sim reset, a looping bag): a new stream, not a late frame. Start the tracks
            # afresh; otherwise every frame is skipped as out_of_order until time passes the old stamps.
            self.pipeline.reset()
            self.counts["rewinds"] += 1
            self.get_logger().info(f"time went back {(last - frame.stamp_ns) * 1e-9:.2f} s: tracks reset")
            last = None
        self._last_stamp_ns = frame.stamp_ns if last is None else max(last, frame.stamp_ns)
        result = self.pipeline.process(frame)
        self.counts["processed"] += 1
        if result.skipped and result.skipped != "no_depth":
            self._log_skip(f"{result.skipped}: {result.detail}" if result.detail else result.skipped)
        self._publish(result, color_msg)

    def _publish(self, result: PerceptionResult, color: Image) -> None:
        stages = result.trail.timings
        det = Detection2DArray(header=color.header,
                               detections=[detection_to_msg(d) for d in result.detections])
        det.timings = timings_to_msg(stages[:3])
        self._pubs[0].publish(det)
        if len(stages) < 4:
            return
        stamp = ns_to_stamp(result.stamp_ns)
        objects = Object3DArray(objects=[object_to_msg(o) for o in result.objects])
        objects.header.stamp, objects.header.frame_id = stamp, self._frame_id
        objects.timings = timings_to_msg(stages[:4])
        self._pubs[1].publish(objects)
        if len(stages) < 5:
            return
        tracks = TrackArray(tracks=[track_to_msg(t) for t in result.tracks])
        tracks.header.stamp, tracks.header.frame_id = stamp, self.pipeline.tracker_config.frame_id
        tracks.timings = timings_to_msg(stages)
        self._pubs[2].publish(tracks)

    def _publish_diagnostics(self) -> None:
        """Frame counts on /diagnostics (rqt_runtime_monitor, Foxglove): matched, processed, skipped
        on purpose (stale) and for cause."""
        with self._lock:
            counts = dict(self.counts)
        counts |= {k: v for k, v in self.pipeline.skipped.items() if v}
        level = DiagnosticStatus.WARN if counts.get("bad_image") else DiagnosticStatus.OK
        status = DiagnosticStatus(level=level, name=f"{self.get_name()}: pipeline",
                                  hardware_id=self._provider, message="newest frame first")
        status.values = [KeyValue(key=k, value=str(v)) for k, v in sorted(counts.items())]
        msg = DiagnosticArray(status=[status])
        msg.header.stamp = self.get_clock().now().to_msg()
        self._diagnostics.publish(msg)

    def close(self) -> None:
        """Stop the worker (it finishes the frame in hand) and report the counts."""
        with self._lock:
            self._stop = True
            self._lock.notify()
        self._worker.join(5.0)
        counts = dict(self.counts) | {k: v for k, v in self.pipeline.skipped.items() if v}
        self.get_logger().info(f"frames: {counts}")


def main(args: list[str] | None = None) -> int:
    return run_node(PerceptionNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
