"""``geometry_msgs/Pose`` ↔ 4×4 homogeneous transform, for rclpy messages and bag records alike."""

from __future__ import annotations

import math

import numpy as np
import transforms3d

from visuomotor.errors import MessageError

__all__ = ["pose_fields", "pose_to_matrix"]


def pose_fields(T: np.ndarray) -> tuple[tuple[float, float, float], tuple[float, float, float, float]]:
    """The fields of a Pose for the (4, 4) transform ``T``: position (x, y, z) and quaternion (x, y, z, w)."""
    w, x, y, z = transforms3d.quaternions.mat2quat(np.asarray(T, dtype=np.float64)[:3, :3])
    return (float(T[0, 3]), float(T[1, 3]), float(T[2, 3])), (float(x), float(y), float(z), float(w))


def pose_to_matrix(pose: object) -> np.ndarray:
    """(4, 4) transform of a Pose (any object with ``position`` and ``orientation``); the quaternion is
    normalised.

    Raises:
        MessageError: a zero (unset) or non-finite quaternion, or a non-finite position.
    """
    q, p = pose.orientation, pose.position  # type: ignore[attr-defined]
    wxyz = np.array([q.w, q.x, q.y, q.z], dtype=np.float64)
    norm = float(np.linalg.norm(wxyz))
    xyz = (float(p.x), float(p.y), float(p.z))
    if not math.isfinite(norm) or norm < 1e-6 or not all(math.isfinite(v) for v in xyz):
        raise MessageError(f"pose has an unset or non-finite orientation {wxyz.tolist()} or position {xyz}")
    T = np.eye(4)
    T[:3, :3] = transforms3d.quaternions.quat2mat(wxyz / norm)
    T[:3, 3] = xyz
    return T
