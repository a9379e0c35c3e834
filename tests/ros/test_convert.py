"""Message ↔ array conversion: round trips and the errors bad images get."""

from __future__ import annotations

import numpy as np
import pytest
import transforms3d
from sensor_msgs.msg import Image

from visuomotor.errors import CameraError
from visuomotor.geometry import CameraIntrinsics
from visuomotor.latency import FrameTrail, StageTiming
from visuomotor_ros.convert import (
    image_array,
    intrinsics_from_camera_info,
    intrinsics_to_camera_info,
    matrix_to_pose,
    ns_to_stamp,
    numpy_to_image,
    pose_to_matrix,
    stamp_to_ns,
    trail_from_msg,
    trail_to_msg,
)


@pytest.mark.parametrize(
    ("encoding", "dtype", "shape"),
    [("rgb8", np.uint8, (48, 64, 3)), ("bgr8", np.uint8, (48, 64, 3)), ("16UC1", np.uint16, (48, 64)),
     ("32FC1", np.float32, (48, 64))],
)
def test_image_round_trip(encoding: str, dtype: type, shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(0)
    array = (rng.random(shape) * 1000).astype(dtype)
    msg = numpy_to_image(array, encoding, 1_234_567_890_123, "cam")
    assert stamp_to_ns(msg.header.stamp) == 1_234_567_890_123
    np.testing.assert_array_equal(image_array(msg), array)


def test_padded_rows_are_cropped() -> None:
    array = np.arange(6 * 5, dtype=np.uint8).reshape(5, 6)
    padded = np.zeros((5, 8), dtype=np.uint8)
    padded[:, :6] = array
    msg = Image(height=5, width=6, encoding="mono8", step=8, data=padded.tobytes())
    np.testing.assert_array_equal(image_array(msg), array)


def test_bad_images_name_the_problem() -> None:
    with pytest.raises(CameraError, match="unsupported image encoding 'yuv422'"):
        image_array(Image(height=2, width=2, encoding="yuv422", step=4, data=bytes(8)))
    with pytest.raises(CameraError, match="needs step"):
        image_array(Image(height=2, width=2, encoding="rgb8", step=6, data=bytes(6)))
    with pytest.raises(CameraError, match="empty image"):
        image_array(Image(height=0, width=0, encoding="rgb8", step=0, data=b""))
    with pytest.raises(CameraError, match="needs a uint8 array"):
        numpy_to_image(np.zeros((2, 2), np.uint16), "rgb8", 0, "cam")


def test_camera_info_round_trip_and_uncalibrated() -> None:
    K = CameraIntrinsics(640, 480, 415.7, 415.7, 319.5, 239.5)
    msg = intrinsics_to_camera_info(K, 5, "cam")
    assert intrinsics_from_camera_info(msg) == K
    msg.k = [0.0] * 9
    with pytest.raises(CameraError, match="uncalibrated"):
        intrinsics_from_camera_info(msg)


def test_pose_round_trip() -> None:
    rng = np.random.default_rng(1)
    q = rng.normal(size=4)
    q /= np.linalg.norm(q)
    T = np.eye(4)
    T[:3, :3] = transforms3d.quaternions.quat2mat(q)
    T[:3, 3] = [0.1, -0.2, 0.3]
    np.testing.assert_allclose(pose_to_matrix(matrix_to_pose(T)), T, atol=1e-12)


def test_trail_and_stamp_round_trip() -> None:
    assert stamp_to_ns(ns_to_stamp(7_000_000_001)) == 7_000_000_001
    trail = FrameTrail(7_000_000_001, (StageTiming("a", 1, 2), StageTiming("b", 3, 5)))
    assert trail_from_msg(trail_to_msg(trail, "cam")) == trail


def test_perception_records_round_trip() -> None:
    from visuomotor.interfaces import Detection, Object3D, Track, TrackState
    from visuomotor_ros.convert import (
        detection_from_msg,
        detection_to_msg,
        object_from_msg,
        object_to_msg,
        track_from_msg,
        track_to_msg,
    )

    det = Detection(2, "blue_cube", 0.875, (10.5, 20.25, 30.0, 44.0))
    assert detection_from_msg(detection_to_msg(det)) == det
    obj = Object3D(det, (0.5, -0.25, 0.125), "base_link", 1.5)
    assert object_from_msg(object_to_msg(obj), "base_link") == obj
    track = Track(7, 2, "blue_cube", (0.5, -0.25, 0.125), (0.0, 0.5, -0.25), TrackState.LOST, 30, 25, 3, 0.5,
                  "base_link")
    assert track_from_msg(track_to_msg(track), "base_link") == track
