"""Build rosbags message objects from core values (the core's side of ``visuomotor_ros/convert.py``).

The ROS nodes build rclpy messages; bags written without a graph (sim recordings, tests, tools) build the
same messages as rosbags dataclasses from a typestore (:func:`visuomotor.bag.typestore.bag_typestore`).
Field values mirror ``visuomotor_ros.convert`` and ``sim_node`` exactly, so a bag written here replays
like one recorded from the graph.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

import numpy as np
import transforms3d
from rosbags.typesys.store import Typestore

from visuomotor.bag.errors import BagError
from visuomotor.geometry import CameraIntrinsics, pose_fields
from visuomotor.interfaces import IMAGE_ENCODINGS
from visuomotor.latency import FrameTrail

__all__ = [
    "IMAGE_ENCODINGS",
    "SimObjectLike",
    "camera_info_message",
    "frame_trail_message",
    "ground_truth_message",
    "header",
    "image_message",
    "joint_state_message",
    "pose_message",
    "string_message",
]



class SimObjectLike(Protocol):
    """What :func:`ground_truth_message` reads of an object (``visuomotor.sim.ObjectState`` fits)."""

    name: str
    class_name: str
    size_m: float
    extent_m: np.ndarray
    position_m: np.ndarray
    quat_wxyz: np.ndarray


def _t(store: Typestore, name: str) -> Any:
    return store.types[name]


def header(store: Typestore, stamp_ns: int, frame_id: str) -> Any:
    """``std_msgs/Header`` with the stamp split into sec/nanosec."""
    sec, nanosec = divmod(int(stamp_ns), 1_000_000_000)
    Time = _t(store, "builtin_interfaces/msg/Time")
    return _t(store, "std_msgs/msg/Header")(stamp=Time(sec=sec, nanosec=nanosec), frame_id=frame_id)


def image_message(store: Typestore, array: np.ndarray, encoding: str, stamp_ns: int, frame_id: str) -> Any:
    """``sensor_msgs/Image`` holding ``array`` (H, W[, C]) as ``encoding`` (values unchanged, little-endian).

    Raises:
        BagError: unknown encoding, or an array whose dtype/channels do not fit it.
    """
    spec = IMAGE_ENCODINGS.get(encoding)
    if spec is None:
        raise BagError(f"unsupported image encoding {encoding!r}: use one of {sorted(IMAGE_ENCODINGS)}")
    dtype, channels = spec
    if array.dtype != dtype or array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] != channels):
        raise BagError(
            f"{encoding} needs a {dtype} array with {channels} channel(s), got {array.dtype} {array.shape}"
        )
    h, w = int(array.shape[0]), int(array.shape[1])
    data = np.ascontiguousarray(array).reshape(-1).view(np.uint8)
    return _t(store, "sensor_msgs/msg/Image")(
        header=header(store, stamp_ns, frame_id),
        height=h,
        width=w,
        encoding=encoding,
        is_bigendian=0,
        step=w * channels * dtype.itemsize,
        data=data,
    )


def camera_info_message(store: Typestore, K: CameraIntrinsics, stamp_ns: int, frame_id: str) -> Any:
    """``sensor_msgs/CameraInfo`` of a rectified pinhole stream (plumb_bob, no distortion), like the sim."""
    roi = _t(store, "sensor_msgs/msg/RegionOfInterest")(
        x_offset=0, y_offset=0, height=0, width=0, do_rectify=False
    )
    return _t(store, "sensor_msgs/msg/CameraInfo")(
        header=header(store, stamp_ns, frame_id),
        height=K.height_px,
        width=K.width_px,
        distortion_model="plumb_bob",
        d=np.zeros(5),
        k=np.array([K.fx_px, 0.0, K.cx_px, 0.0, K.fy_px, K.cy_px, 0.0, 0.0, 1.0]),
        r=np.eye(3).reshape(-1),
        p=np.array([K.fx_px, 0.0, K.cx_px, 0.0, 0.0, K.fy_px, K.cy_px, 0.0, 0.0, 0.0, 1.0, 0.0]),
        binning_x=0,
        binning_y=0,
        roi=roi,
    )


def pose_message(store: Typestore, T: np.ndarray) -> Any:
    """4×4 homogeneous transform → ``geometry_msgs/Pose``."""
    (px, py, pz), (x, y, z, w) = pose_fields(T)
    Point = _t(store, "geometry_msgs/msg/Point")
    Quaternion = _t(store, "geometry_msgs/msg/Quaternion")
    return _t(store, "geometry_msgs/msg/Pose")(
        position=Point(x=px, y=py, z=pz), orientation=Quaternion(x=x, y=y, z=z, w=w)
    )


def ground_truth_message(
    store: Typestore,
    objects: Iterable[SimObjectLike],
    T_base_link_camera: np.ndarray,
    T_base_link_tcp: np.ndarray,
    stamp_ns: int,
    frame_id: str = "base_link",
) -> Any:
    """``visuomotor_interfaces/SimGroundTruth``: object poses, the camera optical frame and the TCP."""
    SimObject = _t(store, "visuomotor_interfaces/msg/SimObject")
    Vector3 = _t(store, "geometry_msgs/msg/Vector3")
    out = []
    for obj in objects:
        T = np.eye(4)
        T[:3, :3] = transforms3d.quaternions.quat2mat(obj.quat_wxyz)
        T[:3, 3] = obj.position_m
        ex, ey, ez = (float(v) for v in obj.extent_m)
        out.append(
            SimObject(
                name=obj.name,
                class_name=obj.class_name,
                pose=pose_message(store, T),
                size_m=float(obj.size_m),
                extent=Vector3(x=ex, y=ey, z=ez),
            )
        )
    return _t(store, "visuomotor_interfaces/msg/SimGroundTruth")(
        header=header(store, stamp_ns, frame_id),
        objects=out,
        camera_pose=pose_message(store, T_base_link_camera),
        tcp_pose=pose_message(store, T_base_link_tcp),
    )


def frame_trail_message(store: Typestore, trail: FrameTrail, frame_id: str = "") -> Any:
    """``visuomotor_interfaces/FrameTrail`` of one frame."""
    StageTiming = _t(store, "visuomotor_interfaces/msg/StageTiming")
    return _t(store, "visuomotor_interfaces/msg/FrameTrail")(
        header=header(store, trail.stamp_ns, frame_id),
        timings=[StageTiming(stage=t.stage, start_ns=t.start_ns, end_ns=t.end_ns) for t in trail.timings],
    )


def string_message(store: Typestore, text: str) -> Any:
    """``std_msgs/String``."""
    return _t(store, "std_msgs/msg/String")(data=text)


def joint_state_message(
    store: Typestore, names: Sequence[str], positions: np.ndarray, velocities: np.ndarray, stamp_ns: int
) -> Any:
    """``sensor_msgs/JointState`` with an explicit zero effort array, as ur_robot_driver publishes."""
    n = len(names)
    return _t(store, "sensor_msgs/msg/JointState")(
        header=header(store, stamp_ns, ""),
        name=list(names),
        position=np.asarray(positions, dtype=np.float64).reshape(n),
        velocity=np.asarray(velocities, dtype=np.float64).reshape(n),
        effort=np.zeros(n),
    )
