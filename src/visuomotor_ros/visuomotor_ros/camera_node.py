"""camera: a RealSense (pyrealsense2) publishing the realsense2_camera topic layout.

Lifecycle-aware: ``configure`` opens the device (one clear error when none is found), ``activate`` starts
publishing, ``deactivate``/``cleanup`` stop and release it. ``autostart`` (default true) runs configure +
activate at start, since a pip-only install has no ``ros2 lifecycle`` CLI. Frames are read on a thread of
their own; a lost device is reopened by the core (back-off) while the node keeps running.

Publishes ``color/image_raw``, ``color/camera_info``, ``aligned_depth_to_color/image_raw`` (16UC1 mm,
aligned to colour) and ``aligned_depth_to_color/camera_info`` under ``camera_namespace``, stamped with the
capture's host time.
"""

from __future__ import annotations

import threading
from typing import Any

from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from sensor_msgs.msg import CameraInfo, Image

from visuomotor.camera import RealSenseCamera, RealSenseConfig, camera_info_fields
from visuomotor.camera.context import RealSenseContext
from visuomotor.errors import VisuomotorError
from visuomotor_ros.convert import ns_to_stamp, numpy_to_image
from visuomotor_ros.params import declare_flat, reject_unknown_parameters
from visuomotor_ros.qos import SENSOR
from visuomotor_ros.runner import run_node

__all__ = ["CameraNode", "main"]

NODE_DEFAULTS: dict[str, Any] = {
    "camera_namespace": "/camera/camera",
    "frame_id": "camera_color_optical_frame",
    "autostart": True,
}


class CameraNode(LifecycleNode):
    """Args: ``device_context`` lets tests hand in a software device (same code path as hardware)."""

    def __init__(self, device_context: RealSenseContext | None = None, **kwargs: Any) -> None:
        super().__init__("camera", **kwargs)
        self._config = RealSenseConfig.from_flat(declare_flat(self, RealSenseConfig().to_flat_dict()))
        self._p = declare_flat(self, NODE_DEFAULTS)
        reject_unknown_parameters(self)
        self._rs_context = device_context
        self._camera: RealSenseCamera | None = None
        self._last_error = ""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.frames_published = 0
        ns = self._p["camera_namespace"].rstrip("/")
        self._pubs = {
            "color": self.create_lifecycle_publisher(Image, f"{ns}/color/image_raw", SENSOR),
            "color_info": self.create_lifecycle_publisher(CameraInfo, f"{ns}/color/camera_info", SENSOR),
            "depth": self.create_lifecycle_publisher(Image, f"{ns}/aligned_depth_to_color/image_raw", SENSOR),
            "depth_info": self.create_lifecycle_publisher(
                CameraInfo, f"{ns}/aligned_depth_to_color/camera_info", SENSOR
            ),
        }
        if self._p["autostart"]:
            self.trigger_configure()
            if self._camera is None:
                raise VisuomotorError(f"camera: {self._last_error}")
            self.trigger_activate()

    # ------------------------------------------------------------------ lifecycle
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        try:
            camera = RealSenseCamera(self._config, context=self._rs_context)
            camera.start()
        except VisuomotorError as err:
            self._last_error = str(err)
            self.get_logger().error(str(err))
            return TransitionCallbackReturn.FAILURE
        self._camera = camera
        K = camera.intrinsics
        self.get_logger().info(
            f"RealSense {camera.serial}: colour {K.width_px}×{K.height_px} fx {K.fx_px:.1f} "
            f"fy {K.fy_px:.1f}, depth aligned to colour, {self._config.colour.fps} fps"
        )
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="camera-read", daemon=True)
        self._thread.start()
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._join()
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._release()
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._release()
        return TransitionCallbackReturn.SUCCESS

    # ------------------------------------------------------------------ frames (own thread)
    def _loop(self) -> None:
        camera = self._camera
        assert camera is not None
        frame_id = self._p["frame_id"]
        while not self._stop.is_set():
            try:
                capture = camera.read(timeout_s=0.2)
            except VisuomotorError as err:  # reconnect disabled and the device is gone
                self.get_logger().error(str(err))
                return
            if capture is None:
                if not camera.connected:
                    self.get_logger().warning(
                        f"camera disconnected ({camera.last_error or 'no frames'}); reconnecting",
                        throttle_duration_sec=2.0,
                    )
                continue
            stamp = capture.host_time_ns
            model, coeffs = camera.distortion
            fields = camera_info_fields(capture.intrinsics, model, coeffs)
            info = CameraInfo(**fields)
            info.header.stamp = ns_to_stamp(stamp)
            info.header.frame_id = frame_id
            self._pubs["color"].publish(numpy_to_image(capture.rgb, "rgb8", stamp, frame_id))
            self._pubs["depth"].publish(numpy_to_image(capture.depth_mm, "16UC1", stamp, frame_id))
            self._pubs["color_info"].publish(info)
            self._pubs["depth_info"].publish(info)
            self.frames_published += 1

    def _join(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
            self._thread = None

    def _release(self) -> None:
        self._join()
        if self._camera is not None:
            self._camera.stop()
            self._camera = None

    @property
    def reconnects(self) -> int:
        return self._camera.reconnects if self._camera else 0

    def close(self) -> None:
        self._release()
        # Drop every pyrealsense2 object now: one finalised during interpreter exit aborts the process.
        self._rs_context = None


def main(args: list[str] | None = None) -> int:
    return run_node(CameraNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
