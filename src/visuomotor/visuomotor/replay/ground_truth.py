"""Ground truth of a replayed frame: the sim's object poses and their projected boxes.

A ``visuomotor_interfaces/SimGroundTruth`` message holds each object's pose (centre of its box) and full
extent, and the camera optical frame's pose, all in ``base_link``. An object's ``box_px`` is the bounding
rectangle of its box's 8 projected corners — the exact 2D box of the unoccluded silhouette, as the
detector's training labels — in the convention of ``Detection.box_px`` (pixel centres at integers), clipped
to the image ``[-0.5, W - 0.5] × [-0.5, H - 0.5]``. Occlusion is not modelled (no segmentation in a bag).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np

from visuomotor.errors import MessageError
from visuomotor.geometry import CameraIntrinsics, pose_to_matrix

__all__ = ["GroundTruthObject", "ground_truth_objects", "projected_box"]

_CORNER_SIGNS = np.array(list(itertools.product((-1.0, 1.0), repeat=3)))  # (8, 3)
_MIN_Z_M = 1e-3  # corners closer to the camera plane than this cannot be projected


@dataclass(frozen=True, slots=True)
class GroundTruthObject:
    """One object of the sim's ground truth, as the replay reports it.

    Attributes:
        name: unique name (``red_cube_0``, ``bin``).
        class_name: detector class (``red_cube``, ``bin``).
        position_m: (x, y, z) centre of its box in base_link.
        extent_m: full size along the object's own axes.
        box_px: projected box (x_min, y_min, x_max, y_max) clipped to the image; None when not in view.
    """

    name: str
    class_name: str
    position_m: tuple[float, float, float]
    extent_m: tuple[float, float, float]
    box_px: tuple[float, float, float, float] | None


def _pose_or_none(pose: Any) -> np.ndarray | None:
    """(4, 4) of a ground-truth pose, None for an unset (zero) quaternion."""
    try:
        return pose_to_matrix(pose)
    except MessageError:
        return None


def projected_box(
    T_base_object: np.ndarray, extent_m: np.ndarray, T_base_camera: np.ndarray, K: CameraIntrinsics
) -> tuple[float, float, float, float] | None:
    """Bounding rectangle of an object's projected box, clipped to the image; None when not in view.

    Args:
        T_base_object: (4, 4) pose of the box centre in base_link.
        extent_m: (3,) full size along the object's axes.
        T_base_camera: (4, 4) camera optical frame in base_link.
        K: intrinsics of the image.

    Returns:
        (x_min, y_min, x_max, y_max) px, pixel centres at integers; None when a corner lies at or behind
        the camera plane or the box falls outside the image.
    """
    corners_obj = _CORNER_SIGNS * (np.asarray(extent_m, dtype=np.float64) / 2.0)
    p_base = corners_obj @ T_base_object[:3, :3].T + T_base_object[:3, 3]
    p_cam = (p_base - T_base_camera[:3, 3]) @ T_base_camera[:3, :3]
    if (p_cam[:, 2] <= _MIN_Z_M).any():
        return None
    uv = K.project(p_cam)
    x0, y0 = np.maximum(uv.min(axis=0), -0.5)
    x1 = min(float(uv[:, 0].max()), K.width_px - 0.5)
    y1 = min(float(uv[:, 1].max()), K.height_px - 0.5)
    if x1 <= x0 or y1 <= y0:
        return None
    return (float(x0), float(y0), x1, y1)


def ground_truth_objects(
    msg: Any, K: CameraIntrinsics, T_base_camera_fallback: np.ndarray
) -> tuple[GroundTruthObject, ...]:
    """The objects of a decoded ``SimGroundTruth`` with their boxes in an image of intrinsics ``K``.

    The camera pose is the message's own (the sim's exact optical frame) unless it is unset, then
    ``T_base_camera_fallback`` (the extrinsics of the replay).
    """
    T_cam = _pose_or_none(msg.camera_pose)
    if T_cam is None:
        T_cam = np.asarray(T_base_camera_fallback, dtype=np.float64)
    out = []
    for obj in msg.objects:
        extent = np.array([obj.extent.x, obj.extent.y, obj.extent.z], dtype=np.float64)
        T_obj = _pose_or_none(obj.pose)
        box = None if T_obj is None else projected_box(T_obj, extent, T_cam, K)
        p = obj.pose.position
        out.append(
            GroundTruthObject(
                obj.name,
                obj.class_name,
                (float(p.x), float(p.y), float(p.z)),
                (float(extent[0]), float(extent[1]), float(extent[2])),
                box,
            )
        )
    return tuple(out)
