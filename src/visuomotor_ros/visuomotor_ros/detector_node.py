"""detector: colour images → 2D detections with an ONNX model (YOLO or RT-DETR, in the core).

Lifecycle-aware: ``configure`` loads the model and creates the ONNX Runtime session (the provider in use
is logged), ``activate`` starts processing frames, ``cleanup`` frees the session. ``autostart`` (default
true) configures and activates at start (a pip-only install has no ``ros2 lifecycle`` CLI).
The frame's trail starts here with ``detect.pre``, ``detect.infer`` and ``detect.post``; output stamp and
frame_id are the image's. A frame that cannot be used (encoding, size) is skipped with a throttled log.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from sensor_msgs.msg import Image

from visuomotor.detection import Detector, DetectorConfig, make_detector
from visuomotor.errors import VisuomotorError
from visuomotor.latency import FrameTrail
from visuomotor_interfaces.msg import Detection2DArray
from visuomotor_ros.convert import detection_to_msg, image_array, stamp_to_ns, timings_to_msg
from visuomotor_ros.params import declare_flat, reject_unknown_parameters, resolve_config_path
from visuomotor_ros.qos import STATE, sensor_qos
from visuomotor_ros.runner import run_node

__all__ = ["DetectorNode", "main"]

NODE_DEFAULTS: dict[str, Any] = {
    "topics.color": "/camera/camera/color/image_raw",
    "topics.detections": "/visuomotor/detections",
    "image_queue_depth": 1,
    "autostart": True,
}


class DetectorNode(LifecycleNode):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__("detector", **kwargs)
        self._cfg_values = declare_flat(self, DetectorConfig().to_flat_dict())
        self._p = declare_flat(self, NODE_DEFAULTS)
        reject_unknown_parameters(self)
        self._detector: Detector | None = None
        self._active = threading.Event()
        self._last_error = ""
        self.frames = 0
        self.skipped = 0
        self._skip_logged: dict[str, float] = {}
        self._pub = self.create_lifecycle_publisher(Detection2DArray, self._p["topics.detections"], STATE)
        self.create_subscription(
            Image, self._p["topics.color"], self._on_image, sensor_qos(int(self._p["image_queue_depth"]))
        )
        if self._p["autostart"]:
            if self.trigger_configure() != TransitionCallbackReturn.SUCCESS or self._detector is None:
                raise VisuomotorError(f"detector: {self._last_error}")
            self.trigger_activate()

    @property
    def detector(self) -> Detector | None:
        return self._detector

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        try:
            values = dict(self._cfg_values)
            values["model_path"] = str(resolve_config_path(values["model_path"], kind="model"))
            self._detector = make_detector(DetectorConfig.from_flat(values))
        except VisuomotorError as err:
            self._last_error = str(err)
            self.get_logger().error(str(err))
            return TransitionCallbackReturn.FAILURE
        d = self._detector
        self.get_logger().info(
            f"model {values['model_path']}: {type(d).__name__}, input {d.input_size}, "
            f"classes {list(d.class_names)}, provider {d.provider}"
        )
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._active.set()
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._active.clear()
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._active.clear()
        self._detector = None  # frees the ONNX Runtime session
        return TransitionCallbackReturn.SUCCESS

    def _log_skip(self, why: str) -> None:
        # Throttled per distinct reason, so one bad stream cannot hide another kind of bad frame.
        now = time.monotonic()
        if now - self._skip_logged.get(why, -1e9) >= 2.0:
            self._skip_logged[why] = now
            self.get_logger().warning(f"skipping a frame: {why}")

    def _on_image(self, msg: Image) -> None:
        detector = self._detector
        if not self._active.is_set() or detector is None:
            return
        start = time.monotonic_ns()
        try:
            result = detector.detect(image_array(msg), msg.encoding)
        except VisuomotorError as err:
            self.skipped += 1
            self._log_skip(str(err))
            return
        trail = FrameTrail(stamp_to_ns(msg.header.stamp), result.stage_timings(start, time.monotonic_ns()))
        out = Detection2DArray()
        out.header = msg.header
        out.detections = [detection_to_msg(d) for d in result.detections]
        out.timings = timings_to_msg(trail.timings)
        self._pub.publish(out)
        self.frames += 1


def main(args: list[str] | None = None) -> int:
    return run_node(DetectorNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
