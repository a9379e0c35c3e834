"""What the camera returns: one aligned RGB-D capture, plus the pure conversions it is made of."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from visuomotor.errors import CameraError
from visuomotor.geometry import CameraIntrinsics

__all__ = ["DEPTH_SCALE_M", "RgbdCapture", "camera_info_fields", "depth_to_millimetres"]

#: Metres per count of :attr:`RgbdCapture.depth_mm` (the ROS 16UC1 convention).
DEPTH_SCALE_M = 0.001


@dataclass(frozen=True, slots=True)
class RgbdCapture:
    """One colour frame and the depth frame aligned to it, with its stamps.

    Arrays are read-only (copy before drawing on them).

    Attributes:
        rgb: (H, W, 3) uint8, RGB order whatever the streamed format.
        depth_mm: (H, W) uint16 millimetres, aligned to the colour image (pixel (v, u) of both sees the same
            point); 0 = no data (hole, occlusion by the colour/depth baseline, out of range). As in
            realsense2_camera, ``rs.align`` stores the z of that point in the *depth* camera frame (it moves
            depth values, it does not re-express them): with D4xx extrinsics (rotation ≲ 0.5°, t_z ≲ 1 mm)
            deprojecting it with the colour intrinsics is off by ≲ |x/z|·θ·z + t_z (≈ 3 mm at the image
            edge at 1 m), on top of the one-pixel resampling of the splat.
        intrinsics: pinhole model of the colour stream, valid for ``depth_mm`` as well.
        depth_scale_m: metres per count of ``depth_mm`` (always :data:`DEPTH_SCALE_M`).
        device_depth_units_m: metres per count of the device's raw z16 (0.001 on most D4xx, 0.0001 on the
            D405); ``depth_mm`` is already converted from it.
        frame_number: the device's colour frame counter (restarts when the device does).
        depth_frame_number: the device's depth frame counter.
        device_time_ns: colour frame timestamp in the device's clock (see ``timestamp_domain``).
        depth_device_time_ns: depth frame timestamp in the same clock.
        host_time_ns: ``device_time_ns`` mapped to the host system clock (ROS time without sim time):
            the stamp to publish; strictly increasing over the camera's life, reconnects included.
        arrival_time_ns: host clock when :meth:`RealSenseCamera.read` received the frameset.
        timestamp_domain: ``hardware_clock`` (device clock, mapped by the min-offset estimator),
            ``global_time`` (already mapped by librealsense) or ``system_time`` (stamped on arrival).
        sequence: captures returned since ``start()``, from 0, across reconnects.
        serial: serial number of the device that produced it.
    """

    rgb: np.ndarray
    depth_mm: np.ndarray
    intrinsics: CameraIntrinsics
    depth_scale_m: float
    device_depth_units_m: float
    frame_number: int
    depth_frame_number: int
    device_time_ns: int
    depth_device_time_ns: int
    host_time_ns: int
    arrival_time_ns: int
    timestamp_domain: str
    sequence: int
    serial: str

    def __post_init__(self) -> None:
        h, w = self.depth_mm.shape
        if self.rgb.shape != (h, w, 3) or (w, h) != (self.intrinsics.width_px, self.intrinsics.height_px):
            raise CameraError(
                f"capture is inconsistent: rgb {self.rgb.shape}, depth {self.depth_mm.shape}, intrinsics "
                f"{self.intrinsics.width_px}×{self.intrinsics.height_px}; depth must be aligned to colour"
            )


def depth_to_millimetres(raw: np.ndarray, units_m: float) -> np.ndarray:
    """Convert a z16 image in device units to uint16 millimetres.

    Args:
        raw: (H, W) uint16 counts of ``units_m`` metres.
        units_m: the device's depth unit (``depth_units`` option), e.g. 0.001 or 0.0001.

    Returns:
        (H, W) uint16 mm, a new array; 0 stays 0 (no data) and depths that do not fit 16-bit mm
        (> 65.535 m, only possible with units above 1 mm) become 0 rather than a false maximum.
    """
    if not (np.isfinite(units_m) and units_m > 0):
        raise CameraError(f"the device reports a depth unit of {units_m} m; expected a positive number")
    if abs(units_m - DEPTH_SCALE_M) < 1e-9:  # float32 round-trip of 0.001 is 0.0010000000475
        return np.array(raw, dtype=np.uint16, copy=True)
    mm = np.rint(raw.astype(np.float64) * (units_m / DEPTH_SCALE_M))
    mm[mm > np.iinfo(np.uint16).max] = 0
    return mm.astype(np.uint16)


def camera_info_fields(
    intrinsics: CameraIntrinsics, distortion_model: str = "plumb_bob", distortion: tuple[float, ...] = ()
) -> dict[str, Any]:
    """The fields of a ``sensor_msgs/CameraInfo`` for a stream, as plain Python (no ROS import).

    realsense2_camera publishes the same layout: ``k`` row-major 3×3, ``r`` identity, ``p`` = [K | 0]
    (a single camera, rectified), ``d`` the five Brown–Conrady coefficients (zeros when unknown).

    Args:
        intrinsics: the stream's pinhole model.
        distortion_model: ``plumb_bob`` (Brown–Conrady and its inverse) or ``equidistant``.
        distortion: the coefficients; empty → five zeros.

    Returns:
        ``{"width", "height", "distortion_model", "d", "k", "r", "p"}``.
    """
    K = intrinsics
    return {
        "width": K.width_px,
        "height": K.height_px,
        "distortion_model": distortion_model,
        "d": [float(c) for c in distortion] if distortion else [0.0] * 5,
        "k": [K.fx_px, 0.0, K.cx_px, 0.0, K.fy_px, K.cy_px, 0.0, 0.0, 1.0],
        "r": [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
        "p": [K.fx_px, 0.0, K.cx_px, 0.0, 0.0, K.fy_px, K.cy_px, 0.0, 0.0, 0.0, 1.0, 0.0],
    }
