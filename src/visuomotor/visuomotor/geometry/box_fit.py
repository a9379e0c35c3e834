"""Centre of a known box resting on a plane, from its 2D bounding box alone (no depth).

Depth at a box's centre pixel is the visible surface there — for an open container (the bin) that is its
floor, 4 cm below and, seen obliquely, a few centimetres beside the box centre. When the object's size is
known and it stands upright on a known plane (the table, z = ``plane_z_m`` of the target frame) with its
edges along the frame's axes, its centre has two unknowns (x, y): choose them so the projection of the
box's 8 corners has the detected bounding box. Measured in the sim on the detector's bin boxes: 2 mm from
the true centre, where the floor point is 4 cm off.

How: each edge of the 2D box is the projection of one extreme corner, and for a known corner the pinhole
equation u·z_c = f·x_c + c·z_c is LINEAR in (x, y) (the camera coordinates are affine in them). So: pick the
extreme corners at the current estimate, solve the 4×2 linear least squares (rows scaled by 1/z_c, so the
error is ≈ pixels), repeat until the extreme corners stop changing (2–3 rounds). ~0.1 ms, where a generic
nonlinear solver (scipy ``least_squares``) took 0.5–0.8 ms per box — a per-frame cost the perception
budget (≤ 3 ms outside inference) cannot carry.
"""

from __future__ import annotations

import itertools

import numpy as np

from visuomotor.geometry.intrinsics import CameraIntrinsics

__all__ = ["fit_resting_box"]

_SIGNS = np.array(list(itertools.product((-0.5, 0.5), repeat=3)))  # (8, 3) corner offsets / extent
_MAX_ROUNDS = 8


def fit_resting_box(
    box_px: tuple[float, float, float, float],
    extent_m: np.ndarray,
    plane_z_m: float,
    intrinsics: CameraIntrinsics,
    T_target_camera: np.ndarray,
    initial_xy_m: np.ndarray,
) -> np.ndarray | None:
    """(3,) centre in the target frame of the axis-aligned box of ``extent_m`` standing on z = ``plane_z_m``.

    None when the geometry admits no fit (a corner at or behind the camera, a plane seen edge-on).

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
    z_c = plane_z_m + float(extent_m[2]) / 2
    # Camera coordinates of corner k at centre (x, y): a·x + b·y + c_k.
    a, b = R_ct[:, 0], R_ct[:, 1]
    c = (_SIGNS * np.asarray(extent_m, dtype=np.float64) + np.array([0.0, 0.0, z_c])) @ R_ct.T + t_ct
    x1, y1, x2, y2 = (float(v) for v in box_px)
    # Per edge: (observed pixel, focal, principal point, camera axis 0 = x / 1 = y, extreme = min / max).
    edges = ((x1, K.fx_px, K.cx_px, 0, np.argmin), (y1, K.fy_px, K.cy_px, 1, np.argmin),
             (x2, K.fx_px, K.cx_px, 0, np.argmax), (y2, K.fy_px, K.cy_px, 1, np.argmax))
    xy = np.asarray(initial_xy_m, dtype=np.float64)[:2].copy()
    chosen: tuple[int, ...] = ()
    for _ in range(_MAX_ROUNDS):
        p = c + a * xy[0] + b * xy[1]  # (8, 3)
        if not (p[:, 2] > 1e-6).all():
            return None
        uv = np.stack([K.fx_px * p[:, 0] / p[:, 2] + K.cx_px, K.fy_px * p[:, 1] / p[:, 2] + K.cy_px], axis=1)
        corners = tuple(int(pick(uv[:, axis])) for _, _, _, axis, pick in edges)
        if corners == chosen:
            break
        chosen = corners
        A = np.empty((4, 2))
        rhs = np.empty(4)
        for row, ((obs, f, pp, axis, _), k) in enumerate(zip(edges, corners, strict=True)):
            w = 1.0 / p[k, 2]  # ≈ pixel units
            d = obs - pp
            A[row] = w * np.array([d * a[2] - f * a[axis], d * b[2] - f * b[axis]])
            rhs[row] = -w * (d * c[k, 2] - f * c[k, axis])
        try:
            xy = np.linalg.lstsq(A, rhs, rcond=None)[0]
        except np.linalg.LinAlgError:
            return None
        if not np.isfinite(xy).all():
            return None
    return np.array([xy[0], xy[1], z_c])
