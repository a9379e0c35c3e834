"""Camera geometry: intrinsics, depth conversion and deprojection to the optical frame.

Frames follow REP-103: the camera optical frame has x right, y down, z forward (OpenCV).
"""

from visuomotor.geometry.deproject import deproject_image, deproject_pixel, depth_to_metres
from visuomotor.geometry.intrinsics import CameraIntrinsics

__all__ = ["CameraIntrinsics", "deproject_image", "deproject_pixel", "depth_to_metres"]
