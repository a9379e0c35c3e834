"""overlay: the colour image with detection boxes, track IDs and 3D positions drawn on it, for viewing.

Costs nothing while nobody watches: the colour image is subscribed only while ``topics.overlay`` has a
subscriber (checked twice a second). Image, detections and tracks are matched by stamp; tracks are drawn
where their base_link position projects into the image (camera_info + the same extrinsics file as the
localiser).
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
from rclpy.node import Node
from rclpy.subscription import Subscription
from sensor_msgs.msg import CameraInfo, Image

from visuomotor.errors import VisuomotorError
from visuomotor.geometry import CameraIntrinsics, Extrinsics, load_extrinsics
from visuomotor.interfaces import Detection, Track, TrackState
from visuomotor_interfaces.msg import Detection2DArray, TrackArray
from visuomotor_ros.convert import (
    detection_from_msg,
    image_array,
    intrinsics_from_camera_info,
    numpy_to_image,
    stamp_to_ns,
    track_from_msg,
)
from visuomotor_ros.params import declare_flat, reject_unknown_parameters, resolve_config_path
from visuomotor_ros.qos import SENSOR, STATE
from visuomotor_ros.runner import run_node
from visuomotor_ros.sync import ApproximateTimeSync

__all__ = ["OverlayNode", "draw_overlay", "main"]

NODE_DEFAULTS: dict[str, Any] = {
    "extrinsics_file": "extrinsics/sim.yaml",
    "topics.color": "/camera/camera/color/image_raw",
    "topics.camera_info": "/camera/camera/color/camera_info",
    "topics.detections": "/visuomotor/detections",
    "topics.tracks": "/visuomotor/tracks",
    "topics.overlay": "/visuomotor/overlay",
}

_STATE_COLOUR = {
    TrackState.TENTATIVE: (255, 200, 0),
    TrackState.CONFIRMED: (0, 255, 0),
    TrackState.LOST: (255, 0, 0),
}


def draw_overlay(
    rgb: np.ndarray,
    detections: list[Detection],
    tracks: list[Track],
    K: CameraIntrinsics,
    T_base_link_camera: Extrinsics,
) -> np.ndarray:
    """A copy of ``rgb`` (H, W, 3) with boxes (class, score) and tracks (ID, state, x y z in m)."""
    out = np.ascontiguousarray(rgb).copy()
    for d in detections:
        x0, y0, x1, y1 = (round(v) for v in d.box_px)
        cv2.rectangle(out, (x0, y0), (x1, y1), (255, 255, 255), 1)
        cv2.putText(out, f"{d.class_name} {d.score:.2f}", (x0, max(10, y0 - 3)), cv2.FONT_HERSHEY_SIMPLEX,
                    0.35, (255, 255, 255), 1, cv2.LINE_AA)
    if tracks:
        camera_T_base = T_base_link_camera.inverse()
        p_cam = camera_T_base.transform_points(np.array([t.position_m for t in tracks]))
        uv = K.project(p_cam)
        for t, (u, v), z in zip(tracks, uv, p_cam[:, 2], strict=True):
            if z <= 0 or not (0 <= u < K.width_px and 0 <= v < K.height_px):
                continue
            colour = _STATE_COLOUR[t.state]
            cv2.circle(out, (round(u), round(v)), 3, colour, -1)
            x, y, zb = t.position_m
            cv2.putText(out, f"#{t.track_id} ({x:.3f}, {y:.3f}, {zb:.3f})", (round(u) + 5, round(v) + 12),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.35, colour, 1, cv2.LINE_AA)
    return out


class OverlayNode(Node):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__("overlay", **kwargs)
        p = declare_flat(self, NODE_DEFAULTS)
        reject_unknown_parameters(self)
        self._p = p
        self._extrinsics = load_extrinsics(resolve_config_path(p["extrinsics_file"]))
        self._intrinsics: CameraIntrinsics | None = None
        self._sync = ApproximateTimeSync(("image", "detections", "tracks"), slop_ns=0, queue_size=5)
        self._pub = self.create_publisher(Image, p["topics.overlay"], SENSOR)
        self._image_sub: Subscription | None = None
        self.create_subscription(CameraInfo, p["topics.camera_info"], self._on_info, SENSOR)
        self.create_subscription(
            Detection2DArray, p["topics.detections"], lambda m: self._push("detections", m), STATE
        )
        self.create_subscription(TrackArray, p["topics.tracks"], lambda m: self._push("tracks", m), STATE)
        self.create_timer(0.5, self._watch_viewers)
        self.published = 0

    def _watch_viewers(self) -> None:
        watched = self._pub.get_subscription_count() > 0
        if watched and self._image_sub is None:
            self._image_sub = self.create_subscription(
                Image, self._p["topics.color"], lambda m: self._push("image", m), SENSOR
            )
        elif not watched and self._image_sub is not None:
            self.destroy_subscription(self._image_sub)
            self._image_sub = None
            self._sync.reset()

    def _on_info(self, msg: CameraInfo) -> None:
        try:
            self._intrinsics = intrinsics_from_camera_info(msg)
        except VisuomotorError as err:
            self.get_logger().warning(str(err), throttle_duration_sec=5.0)

    def _push(self, name: str, msg: Any) -> None:
        matched = self._sync.push(name, stamp_to_ns(msg.header.stamp), msg)
        if matched is None or self._intrinsics is None or self._image_sub is None:
            return
        image, dets, tracks = matched["image"][1], matched["detections"][1], matched["tracks"][1]
        try:
            rgb = image_array(image)
            if image.encoding == "bgr8":
                rgb = rgb[:, :, ::-1]
            drawn = draw_overlay(
                rgb,
                [detection_from_msg(d) for d in dets.detections],
                [track_from_msg(t, tracks.header.frame_id) for t in tracks.tracks],
                self._intrinsics,
                self._extrinsics,
            )
        except VisuomotorError as err:
            self.get_logger().warning(f"no overlay for this frame: {err}", throttle_duration_sec=2.0)
            return
        stamp = stamp_to_ns(image.header.stamp)
        self._pub.publish(numpy_to_image(drawn, "rgb8", stamp, image.header.frame_id))
        self.published += 1


def main(args: list[str] | None = None) -> int:
    return run_node(OverlayNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
