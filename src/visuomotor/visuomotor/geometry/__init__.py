"""Camera geometry: intrinsics, depth conversion, deprojection, extrinsics and 3D localisation.

Frames follow REP-103: the camera optical frame has x right, y down, z forward (OpenCV). Extrinsics are
``T_parent_child`` with p_parent = R·p_child + t; the localiser outputs object centres in ``base_link``.
"""

from visuomotor.geometry.box_fit import fit_resting_box
from visuomotor.geometry.deproject import deproject_image, deproject_pixel, depth_to_metres
from visuomotor.geometry.extrinsics import Extrinsics, extrinsics_from_dict, load_extrinsics
from visuomotor.geometry.intrinsics import CameraIntrinsics, intrinsics_from_camera_info
from visuomotor.geometry.localise import (
    Localiser,
    LocaliserConfig,
    LocaliseResult,
    SkippedDetection,
    inner_box_slices,
    robust_box_depth,
)
from visuomotor.geometry.pose import pose_fields, pose_to_matrix

__all__ = [
    "CameraIntrinsics",
    "Extrinsics",
    "LocaliseResult",
    "Localiser",
    "LocaliserConfig",
    "SkippedDetection",
    "deproject_image",
    "deproject_pixel",
    "depth_to_metres",
    "extrinsics_from_dict",
    "fit_resting_box",
    "inner_box_slices",
    "intrinsics_from_camera_info",
    "load_extrinsics",
    "pose_fields",
    "pose_to_matrix",
    "robust_box_depth",
]
