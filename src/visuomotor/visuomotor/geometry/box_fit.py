"""Centre of a known box resting on a plane, from its 2D bounding box alone (no depth).

Depth at a box's centre pixel is the visible surface there — for an open container (the bin) that is its
floor, 4 cm below and, seen obliquely, a few centimetres beside the box centre. When the object's size is
known and it stands upright on a known plane (the table, z = ``plane_z_m`` of the target frame) with its
edges along the frame's axes, its centre has two unknowns (x, y): choose them so the projection of the
box's 8 corners has the detected bounding box (4 equations, least squares with scipy). Measured in the sim
on the detector's bin boxes: 2 mm from the true centre, where the floor point is 4 cm off.
"""

from __future__ import annotations

import itertools

import numpy as np
from scipy.optimize import least_squares

from visuomotor.geometry.intrinsics import CameraIntrinsics

__all__ = ["fit_resting_box"]

_SIGNS = np.array(list(itertools.product((-0.5, 0.5), repeat=3)))  # (8, 3) corner offsets / extent


def fit_resting_box(
    box_px: tuple[float, float, float, float],
    extent_m: np.ndarray,
    plane_z_m: float,
    intrinsics: CameraIntrinsics,
    T_target_camera: np.ndarray,
    initial_xy_m: np.ndarray,
) -> np.ndarray:
    """(3,) centre in the target frame of the axis-aligned box of ``extent_m`` standing on z = ``plane_z_m``.

    Args:
        box_px: detected (x1, y1, x2, y2) in the colour image.
        extent_m: (3,) box size along the target frame's x, y, z, metres.
        plane_z_m: height of the supporting plane in the target frame.
        intrinsics: the colour camera.
        T_target_camera: (4, 4) camera optical frame in the target frame.
        initial_xy_m: (2,) start of the search (e.g. the depth-based estimate).
    """
    K = intrinsics
    R_ct = T_target_camera[:3, :3].T  # target → camera
    t_ct = -R_ct @ T_target_camera[:3, 3]
    offsets = _SIGNS * np.asarray(extent_m, dtype=np.float64)
    z_c = plane_z_m + float(extent_m[2]) / 2
    observed = np.asarray(box_px, dtype=np.float64)

    def residual(xy: np.ndarray) -> np.ndarray:
        corners = offsets + np.array([xy[0], xy[1], z_c])
        p = corners @ R_ct.T + t_ct
        u = K.fx_px * p[:, 0] / p[:, 2] + K.cx_px
        v = K.fy_px * p[:, 1] / p[:, 2] + K.cy_px
        return np.array([u.min(), v.min(), u.max(), v.max()]) - observed

    fit = least_squares(residual, np.asarray(initial_xy_m, dtype=np.float64)[:2], xtol=1e-10, ftol=1e-10)
    return np.array([fit.x[0], fit.x[1], z_c])
