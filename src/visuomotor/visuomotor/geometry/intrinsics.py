"""Pinhole intrinsics of a camera (no distortion: RealSense colour streams are rectified)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from visuomotor.errors import CameraError, ConfigError

__all__ = ["CameraIntrinsics"]


@dataclass(frozen=True, slots=True)
class CameraIntrinsics:
    """Pinhole model of one image stream.

    Attributes:
        width_px, height_px: image size.
        fx_px, fy_px: focal lengths in pixels.
        cx_px, cy_px: principal point in pixels (pixel centres at integer coordinates).
    """

    width_px: int
    height_px: int
    fx_px: float
    fy_px: float
    cx_px: float
    cy_px: float

    def __post_init__(self) -> None:
        if self.width_px <= 0 or self.height_px <= 0:
            raise ConfigError(
                f"intrinsics: width_px/height_px must be positive, got {self.width_px}×{self.height_px}"
            )
        for name in ("fx_px", "fy_px"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ConfigError(f"intrinsics: {name} must be a positive finite number, got {value}")
        for name in ("cx_px", "cy_px"):
            if not math.isfinite(getattr(self, name)):
                raise ConfigError(f"intrinsics: {name} must be finite")

    @classmethod
    def from_fovy(cls, width_px: int, height_px: int, fovy_rad: float) -> CameraIntrinsics:
        """Square pixels and a centred principal point, from the vertical field of view."""
        f = (height_px / 2.0) / math.tan(fovy_rad / 2.0)
        return cls(width_px, height_px, f, f, (width_px - 1) / 2.0, (height_px - 1) / 2.0)

    @property
    def K(self) -> np.ndarray:  # noqa: N802 - K is the name everyone uses
        """The 3×3 camera matrix."""
        return np.array(
            [[self.fx_px, 0.0, self.cx_px], [0.0, self.fy_px, self.cy_px], [0.0, 0.0, 1.0]]
        )

    def project(self, p_cam: np.ndarray) -> np.ndarray:
        """Project points (…, 3) in the optical frame to pixels (…, 2)."""
        p = np.asarray(p_cam, dtype=float)
        z = p[..., 2]
        return np.stack(
            [self.fx_px * p[..., 0] / z + self.cx_px, self.fy_px * p[..., 1] / z + self.cy_px], axis=-1
        )


def intrinsics_from_camera_info(msg: object) -> CameraIntrinsics:
    """Intrinsics from a ``sensor_msgs/CameraInfo`` (an rclpy message or a bag record): ``k`` and size.

    Raises:
        CameraError: an uncalibrated (all-zero) ``k``, or values no camera has (zero size, NaN).
    """
    k = msg.k  # type: ignore[attr-defined]
    if len(k) != 9 or k[0] <= 0 or k[4] <= 0:
        raise CameraError(
            "camera_info has no focal length (k is zero): the camera is uncalibrated or the message is empty"
        )
    try:
        return CameraIntrinsics(
            int(msg.width),  # type: ignore[attr-defined]
            int(msg.height),  # type: ignore[attr-defined]
            float(k[0]),
            float(k[4]),
            float(k[2]),
            float(k[5]),
        )
    except ValueError as err:  # ConfigError: zero size, non-finite values
        raise CameraError(f"camera_info is unusable: {err}") from err
