"""localiser: detections + aligned depth + camera_info (matched by stamp) → 3D objects in base_link.

Intrinsics come from camera_info (the localiser is rebuilt when they change); the extrinsics
``T_base_link_camera`` from a YAML file under ``config/extrinsics/``. A frame that cannot be used (bad
encoding, size mismatch) is skipped with a throttled log and counted; a box without valid depth is
skipped alone. Output stamp = the camera stamp; the trail gains a ``localise`` stage.
"""

from __future__ import annotations

import time
from typing import Any

from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image

from visuomotor.errors import VisuomotorError
from visuomotor.geometry import (
    CameraIntrinsics,
    Localiser,
    LocaliserConfig,
    depth_to_metres,
    load_extrinsics,
)
from visuomotor.latency import StageTiming
from visuomotor_interfaces.msg import Detection2DArray, Object3DArray
from visuomotor_ros.convert import (
    detection_from_msg,
    image_array,
    intrinsics_from_camera_info,
    object_to_msg,
    stamp_to_ns,
    timings_to_msg,
    trail_from_msg,
)
from visuomotor_ros.params import declare_flat, reject_unknown_parameters, resolve_config_path
from visuomotor_ros.qos import SENSOR, STATE
from visuomotor_ros.runner import run_node
from visuomotor_ros.sync import ApproximateTimeSync

__all__ = ["LocaliserNode", "main"]

NODE_DEFAULTS: dict[str, Any] = {
    "extrinsics_file": "extrinsics/sim.yaml",
    "topics.detections": "/visuomotor/detections",
    "topics.depth": "/camera/camera/aligned_depth_to_color/image_raw",
    "topics.camera_info": "/camera/camera/color/camera_info",
    "topics.objects": "/visuomotor/objects",
    "sync.slop_ms": 5.0,
    "sync.queue_size": 10,
}


class LocaliserNode(Node):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__("localiser", **kwargs)
        cfg_values = declare_flat(self, LocaliserConfig().to_flat_dict())
        p = declare_flat(self, NODE_DEFAULTS)
        reject_unknown_parameters(self)
        self._config = LocaliserConfig.from_flat(cfg_values)
        self._extrinsics = load_extrinsics(resolve_config_path(p["extrinsics_file"]))
        self._p = p
        self._localiser: Localiser | None = None
        self._intrinsics: CameraIntrinsics | None = None
        self._sync = ApproximateTimeSync(
            ("detections", "depth", "camera_info"), round(p["sync.slop_ms"] * 1e6), int(p["sync.queue_size"])
        )
        self.frames = 0
        self._frames_at_watch = 0
        self._seen = {"detections": 0, "depth": 0, "camera_info": 0}
        self.skipped_frames = 0
        self.skipped_boxes = 0
        self._pub = self.create_publisher(Object3DArray, p["topics.objects"], STATE)
        self.create_subscription(
            Detection2DArray, p["topics.detections"], lambda m: self._push("detections", m), STATE
        )
        self.create_subscription(Image, p["topics.depth"], lambda m: self._push("depth", m), SENSOR)
        self.create_subscription(
            CameraInfo, p["topics.camera_info"], lambda m: self._push("camera_info", m), SENSOR
        )
        self.create_timer(2.0, self._watch_inputs)
        self.get_logger().info(
            f"localising {p['topics.detections']} with depth {p['topics.depth']} into "
            f"{self._config.target_frame} (extrinsics {self._extrinsics.child_frame} → "
            f"{self._extrinsics.parent_frame})"
        )

    def _watch_inputs(self) -> None:
        """Say which input is missing when detections arrive but no frame completes (no silent stall)."""
        seen, self._seen = self._seen, dict.fromkeys(self._seen, 0)
        if seen["detections"] and not self.frames - self._frames_at_watch:
            missing = [self._p[f"topics.{k}"] for k, n in seen.items() if n == 0]
            why = f"nothing on {', '.join(missing)}" if missing else "stamps do not match within sync.slop_ms"
            self.get_logger().warning(f"detections arrive but no frame can be localised: {why}")
        self._frames_at_watch = self.frames

    def _push(self, name: str, msg: Any) -> None:
        self._seen[name] += 1
        matched = self._sync.push(name, stamp_to_ns(msg.header.stamp), msg)
        if matched is not None:
            self._on_frame(matched["detections"][1], matched["depth"][1], matched["camera_info"][1])

    def _skip(self, why: str) -> None:
        self.skipped_frames += 1
        self.get_logger().warning(f"skipping a frame: {why}", throttle_duration_sec=2.0)

    def _on_frame(self, dets: Detection2DArray, depth: Image, info: CameraInfo) -> None:
        start = time.monotonic_ns()
        try:
            intrinsics = intrinsics_from_camera_info(info)
            if intrinsics != self._intrinsics:
                self._localiser = Localiser(self._config, intrinsics, self._extrinsics)
                self._intrinsics = intrinsics
            assert self._localiser is not None
            raw = image_array(depth)
            # 16UC1 goes in as it is: the localiser converts only the boxes it samples.
            depth_img = raw if depth.encoding in ("16UC1", "mono16") else depth_to_metres(raw, depth.encoding)
            result = self._localiser.localise([detection_from_msg(d) for d in dets.detections], depth_img)
            trail = trail_from_msg(dets).appended(StageTiming("localise", start, time.monotonic_ns()))
        except VisuomotorError as err:
            self._skip(str(err))
            return
        self.skipped_boxes += len(result.skipped)
        for s in result.skipped:
            self.get_logger().debug(f"no position for a detection: {s.reason}")
        out = Object3DArray()
        out.header.stamp = dets.header.stamp
        out.header.frame_id = self._config.target_frame
        out.objects = [object_to_msg(o) for o in result.objects]
        out.timings = timings_to_msg(trail.timings)
        self._pub.publish(out)
        self.frames += 1


def main(args: list[str] | None = None) -> int:
    return run_node(LocaliserNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
