"""Camera capture: a RealSense D4xx colour + depth source with depth aligned to colour, no ROS.

:class:`RealSenseCamera` opens a device by serial (``pyrealsense2``), streams the configured colour and
depth profiles, aligns depth to colour with ``rs.align``, reads the colour intrinsics and the depth unit
from the device, maps device timestamps to host time (:class:`ClockOffsetEstimator`) and reopens the device
after an unplug. Each :meth:`RealSenseCamera.read` returns an :class:`RgbdCapture` (RGB uint8 + uint16 mm
depth of the same size, intrinsics, stamps). :class:`SoftwareRealSense` is an ``rs.software_device`` that
feeds synthetic frames through the same path, for tests without hardware.

The ROS node (``visuomotor_ros``) publishes these as realsense2_camera does: ``color/image_raw`` (rgb8),
``color/camera_info`` (:func:`camera_info_fields`), ``aligned_depth_to_color/image_raw`` (16UC1, mm).
``pyrealsense2`` is imported on first use, so this package imports without it.
"""

from visuomotor.camera.capture import DEPTH_SCALE_M, RgbdCapture, camera_info_fields, depth_to_millimetres
from visuomotor.camera.config import (
    ColourStreamConfig,
    DepthStreamConfig,
    RealSenseConfig,
    ReconnectConfig,
    TimestampConfig,
)
from visuomotor.camera.context import DeviceEvent, DeviceSummary, RealSenseContext, import_pyrealsense2
from visuomotor.camera.realsense import RealSenseCamera
from visuomotor.camera.synthetic import (
    D455_COLOUR_INTRINSICS,
    D455_DEPTH_INTRINSICS,
    D455_T_COLOUR_DEPTH,
    SoftwareRealSense,
    checkerboard_rgb,
    depth_to_z16,
    plane_depth_m,
)
from visuomotor.camera.timestamps import ClockOffsetEstimator

__all__ = [
    "D455_COLOUR_INTRINSICS",
    "D455_DEPTH_INTRINSICS",
    "D455_T_COLOUR_DEPTH",
    "DEPTH_SCALE_M",
    "ClockOffsetEstimator",
    "ColourStreamConfig",
    "DepthStreamConfig",
    "DeviceEvent",
    "DeviceSummary",
    "RealSenseCamera",
    "RealSenseConfig",
    "RealSenseContext",
    "ReconnectConfig",
    "RgbdCapture",
    "SoftwareRealSense",
    "TimestampConfig",
    "camera_info_fields",
    "checkerboard_rgb",
    "depth_to_millimetres",
    "depth_to_z16",
    "import_pyrealsense2",
    "plane_depth_m",
]
