"""Depth conversion and deprojection (pixel + depth → point in the camera optical frame).

Invalid depth becomes NaN, never 0-as-a-number, as in depth_image_proc.
"""

from __future__ import annotations

import numpy as np

from visuomotor.errors import CameraError
from visuomotor.geometry.intrinsics import CameraIntrinsics

__all__ = ["deproject_image", "deproject_pixel", "depth_to_metres"]


def depth_to_metres(depth: np.ndarray, encoding: str) -> np.ndarray:
    """Convert a depth image to float32 metres with NaN where there is no measurement.

    Args:
        depth: (H, W) array, uint16 millimetres for ``16UC1``/``mono16`` or float metres for ``32FC1``.
        encoding: the ROS image encoding of ``depth``.

    Returns:
        (H, W) float32 metres; zeros, NaN and inf become NaN.
    """
    if encoding in ("16UC1", "mono16"):
        metres = depth.astype(np.float32) * np.float32(1e-3)
        metres[depth == 0] = np.nan
        return metres
    if encoding == "32FC1":
        metres = depth.astype(np.float32, copy=True)
        metres[~np.isfinite(metres) | (metres <= 0)] = np.nan
        return metres
    raise CameraError(
        f"unsupported depth encoding {encoding!r}: publish 16UC1 (mm) or 32FC1 (m) "
        "(realsense2_camera publishes 16UC1)"
    )


def deproject_pixel(u_px: float, v_px: float, depth_m: float, K: CameraIntrinsics) -> np.ndarray:
    """X = (u − cx)·d/fx, Y = (v − cy)·d/fy, Z = d, in the optical frame (metres)."""
    return np.array(
        [(u_px - K.cx_px) * depth_m / K.fx_px, (v_px - K.cy_px) * depth_m / K.fy_px, depth_m]
    )


def deproject_image(depth_m: np.ndarray, K: CameraIntrinsics) -> np.ndarray:
    """Deproject every pixel of a metric depth image.

    Returns:
        (H, W, 3) points in the optical frame; NaN where the depth is NaN.
    """
    h, w = depth_m.shape
    if (w, h) != (K.width_px, K.height_px):
        raise CameraError(
            f"depth image is {w}×{h} but the intrinsics are for {K.width_px}×{K.height_px}: "
            "align depth to colour (align_depth.enable:=true) or use the matching camera_info"
        )
    u = np.arange(w, dtype=np.float32)[None, :]
    v = np.arange(h, dtype=np.float32)[:, None]
    x = (u - np.float32(K.cx_px)) * depth_m / np.float32(K.fx_px)
    y = (v - np.float32(K.cy_px)) * depth_m / np.float32(K.fy_px)
    return np.stack([x, y, depth_m], axis=-1)
