"""Message ↔ core dataclass conversion, in one module.

Every converter is a plain function; nodes call them and never touch message fields themselves. The
decoders that bags need too are the core's, duck-typed and re-exported here (``image_array``,
``intrinsics_from_camera_info``, ``pose_to_matrix``): one implementation for rclpy messages and bag records.

Safety-relevant inputs are validated here, once, for every node: :func:`joint_state_from_msg` (lengths,
names, finiteness, range → ``JointStateSample`` or ``InvalidJointState``) and
:func:`action_chunk_from_msg` (step count, unit quaternions → ``ChunkInput`` or ``MalformedCommand``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
from builtin_interfaces.msg import Duration, Time
from geometry_msgs.msg import Point, Pose, Quaternion, Vector3
from sensor_msgs.msg import CameraInfo, Image, JointState
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from visuomotor.control.commander import ChunkInput, JointCommand
from visuomotor.control.state import JointStateSample, joint_state_from_arrays
from visuomotor.control.violations import MalformedCommand
from visuomotor.errors import CameraError, MessageError
from visuomotor.geometry import CameraIntrinsics, intrinsics_from_camera_info, pose_fields, pose_to_matrix
from visuomotor.interfaces import IMAGE_ENCODINGS, Detection, Object3D, Track, TrackState, image_array
from visuomotor.latency import FrameTrail, LatencySummary, StageStats, StageTiming
from visuomotor_interfaces.msg import Detection2D as Detection2DMsg
from visuomotor_interfaces.msg import FrameTrail as FrameTrailMsg
from visuomotor_interfaces.msg import LatencyReport
from visuomotor_interfaces.msg import Object3D as Object3DMsg
from visuomotor_interfaces.msg import StageStats as StageStatsMsg
from visuomotor_interfaces.msg import StageTiming as StageTimingMsg
from visuomotor_interfaces.msg import Track as TrackMsg

__all__ = [
    "IMAGE_CHANNELS",
    "action_chunk_from_msg",
    "command_to_msg",
    "detection_from_msg",
    "detection_to_msg",
    "duration_to_ns",
    "image_array",
    "intrinsics_from_camera_info",
    "intrinsics_to_camera_info",
    "joint_state_from_msg",
    "joint_state_msg",
    "matrix_to_pose",
    "ns_to_duration",
    "ns_to_stamp",
    "numpy_to_image",
    "object_from_msg",
    "object_to_msg",
    "pose_to_matrix",
    "stamp_to_ns",
    "summary_to_report",
    "timings_from_msg",
    "timings_to_msg",
    "track_from_msg",
    "track_to_msg",
    "trail_from_msg",
    "trail_to_msg",
]

# encoding → (numpy dtype, channels): the core's table, shared with the bag reader
IMAGE_CHANNELS = IMAGE_ENCODINGS


def stamp_to_ns(stamp: Time) -> int:
    """ROS time → integer nanoseconds."""
    return stamp.sec * 1_000_000_000 + stamp.nanosec


def ns_to_stamp(ns: int) -> Time:
    """Integer nanoseconds → ROS time."""
    sec, nanosec = divmod(int(ns), 1_000_000_000)
    return Time(sec=sec, nanosec=nanosec)


def ns_to_duration(ns: int) -> Duration:
    sec, nanosec = divmod(int(ns), 1_000_000_000)
    return Duration(sec=sec, nanosec=nanosec)


def duration_to_ns(d: Duration) -> int:
    return d.sec * 1_000_000_000 + d.nanosec


def numpy_to_image(array: np.ndarray, encoding: str, stamp_ns: int, frame_id: str) -> Image:
    """Wrap an (H, W[, C]) array as an Image with the given encoding (no conversion of values)."""
    spec = IMAGE_CHANNELS.get(encoding)
    if spec is None:
        raise CameraError(f"unsupported image encoding {encoding!r}")
    dtype, channels = spec
    if array.dtype != dtype or (array.ndim == 3 and array.shape[2] != channels) or array.ndim not in (2, 3):
        raise CameraError(
            f"{encoding} needs a {dtype} array with {channels} channel(s), got {array.dtype} {array.shape}"
        )
    msg = Image()
    msg.header.stamp = ns_to_stamp(stamp_ns)
    msg.header.frame_id = frame_id
    msg.height, msg.width = int(array.shape[0]), int(array.shape[1])
    msg.encoding = encoding
    msg.is_bigendian = 0
    msg.step = msg.width * channels * dtype.itemsize
    msg.data = np.ascontiguousarray(array).tobytes()
    return msg


def intrinsics_to_camera_info(K: CameraIntrinsics, stamp_ns: int, frame_id: str) -> CameraInfo:
    """CameraInfo for a rectified pinhole stream (plumb_bob with zero distortion, as RealSense colour)."""
    msg = CameraInfo()
    msg.header.stamp = ns_to_stamp(stamp_ns)
    msg.header.frame_id = frame_id
    msg.width, msg.height = K.width_px, K.height_px
    msg.distortion_model = "plumb_bob"
    msg.d = [0.0] * 5
    msg.k = [K.fx_px, 0.0, K.cx_px, 0.0, K.fy_px, K.cy_px, 0.0, 0.0, 1.0]
    msg.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    msg.p = [K.fx_px, 0.0, K.cx_px, 0.0, 0.0, K.fy_px, K.cy_px, 0.0, 0.0, 0.0, 1.0, 0.0]
    return msg


def joint_state_msg(
    names: Sequence[str], positions: np.ndarray, velocities: np.ndarray, stamp_ns: int
) -> JointState:
    """A JointState with an explicit effort array, as ur_robot_driver publishes.

    An empty ``effort`` makes rosbags reject rclpy-serialised messages (Fast CDR padding).
    """
    msg = JointState()
    msg.header.stamp = ns_to_stamp(stamp_ns)
    msg.name = list(names)
    msg.position = [float(x) for x in positions]
    msg.velocity = [float(x) for x in velocities]
    msg.effort = [0.0] * len(names)
    return msg


def joint_state_from_msg(msg: JointState) -> JointStateSample:
    """The UR10e's six joints from a ``sensor_msgs/JointState``, validated (the one place that does it).

    Returns:
        positions in ``UR10E_JOINT_NAMES`` order, velocities if the message carries them (else None: see
        ``JointStateFilter`` for the estimate), the header stamp and the other joints' finite positions.

    Raises:
        InvalidJointState: wrong lengths, missing or duplicate names, NaN/inf, values outside the UR10e's
            range; the message names the problem. Drop the message and count it.
    """
    return joint_state_from_arrays(msg.name, msg.position, msg.velocity, stamp_to_ns(msg.header.stamp))


#: A chunk pose's quaternion may be off unit length by this much (float32 round trips); more is malformed.
_QUATERNION_NORM_TOLERANCE = 1e-2


def action_chunk_from_msg(msg: object, max_steps: int) -> ChunkInput:
    """A ``visuomotor_interfaces/ActionChunk`` as a :class:`ChunkInput`.

    Non-finite values pass through (the guard refuses them, counted as ``non_finite``); what the guard
    cannot see is refused here: more than ``max_steps`` steps (before converting any), and a finite
    orientation that is not a unit quaternion (a zero quaternion would read as the identity rotation).

    Raises:
        MalformedCommand: naming the step and the problem.
    """
    steps = msg.steps  # type: ignore[attr-defined]
    if len(steps) > max_steps:
        raise MalformedCommand(
            f"a chunk of {len(steps)} steps is longer than max_chunk_steps = {max_steps}; send shorter chunks"
        )
    poses = np.empty((len(steps), 4, 4))
    for i, step in enumerate(steps):
        q = step.tcp_pose.orientation
        quat = np.array([q.w, q.x, q.y, q.z], dtype=np.float64)
        norm = float(np.linalg.norm(quat))
        if np.isfinite(norm) and abs(norm - 1.0) > _QUATERNION_NORM_TOLERANCE:
            raise MalformedCommand(
                f"chunk step {i}: the orientation quaternion has norm {norm:.4g}, not 1; send a unit "
                "quaternion (x, y, z, w)"
            )
        p = step.tcp_pose.position
        if not (np.isfinite(norm) and np.isfinite([p.x, p.y, p.z]).all()):
            poses[i] = np.nan  # the guard refuses it as non_finite (a HOLD, counted)
            continue
        poses[i] = pose_to_matrix(step.tcp_pose)
    gripper = np.array([float(step.gripper) for step in steps], dtype=np.float64)
    return ChunkInput(
        stamp_to_ns(msg.header.stamp),  # type: ignore[attr-defined]
        poses,
        gripper,
        duration_to_ns(msg.step_period) * 1e-9,  # type: ignore[attr-defined]
    )


def command_to_msg(cmd: JointCommand) -> JointTrajectory:
    """A JointCommand as a JointTrajectory; a STOP (no points) is the JTC's own stop: names, no points."""
    msg = JointTrajectory(joint_names=list(cmd.joint_names))
    for t, q, qd in zip(cmd.times_s, cmd.positions, cmd.velocities, strict=True):
        msg.points.append(JointTrajectoryPoint(
            positions=[float(x) for x in q], velocities=[float(x) for x in qd],
            time_from_start=ns_to_duration(round(float(t) * 1e9)),
        ))
    return msg


def matrix_to_pose(T: np.ndarray) -> Pose:
    """4×4 homogeneous transform → Pose (quaternion x, y, z, w)."""
    (px, py, pz), (x, y, z, w) = pose_fields(T)
    return Pose(position=Point(x=px, y=py, z=pz), orientation=Quaternion(x=x, y=y, z=z, w=w))


def timings_to_msg(timings: Iterable[StageTiming]) -> list[StageTimingMsg]:
    return [StageTimingMsg(stage=t.stage, start_ns=t.start_ns, end_ns=t.end_ns) for t in timings]


def timings_from_msg(msgs: Iterable[StageTimingMsg]) -> tuple[StageTiming, ...]:
    return tuple(StageTiming(m.stage, m.start_ns, m.end_ns) for m in msgs)


def trail_to_msg(trail: FrameTrail, frame_id: str = "") -> FrameTrailMsg:
    msg = FrameTrailMsg()
    msg.header.stamp = ns_to_stamp(trail.stamp_ns)
    msg.header.frame_id = frame_id
    msg.timings = timings_to_msg(trail.timings)
    return msg


def trail_from_msg(msg: object) -> FrameTrail:
    """The trail of any pipeline message (anything with ``header`` and ``timings``)."""
    return FrameTrail(stamp_to_ns(msg.header.stamp), timings_from_msg(msg.timings))  # type: ignore[attr-defined]


def _stats_msg(s: StageStats | None, name: str = "") -> StageStatsMsg:
    if s is None:
        return StageStatsMsg(name=name)
    return StageStatsMsg(
        name=s.name, count=s.count, p50_ms=s.p50_ms, p95_ms=s.p95_ms, p99_ms=s.p99_ms,
        mean_ms=s.mean_ms, max_ms=s.max_ms,
    )


def summary_to_report(summary: LatencySummary, stamp_ns: int) -> LatencyReport:
    msg = LatencyReport()
    msg.header.stamp = ns_to_stamp(stamp_ns)
    msg.stages = [_stats_msg(s) for s in summary.stages]
    msg.transports = [_stats_msg(s) for s in summary.transports]
    msg.end_to_end = _stats_msg(summary.end_to_end, "end_to_end")
    msg.frames = summary.frames
    msg.dropped = summary.dropped
    msg.rejection_reasons = list(summary.rejections)
    msg.rejection_counts = list(summary.rejections.values())
    return msg


# ---------------------------------------------------------------------------------- perception records
def detection_to_msg(d: Detection) -> Detection2DMsg:
    x0, y0, x1, y1 = d.box_px
    return Detection2DMsg(
        class_id=d.class_id, class_name=d.class_name, score=float(d.score),
        x_min_px=float(x0), y_min_px=float(y0), x_max_px=float(x1), y_max_px=float(y1),
    )


def detection_from_msg(m: Detection2DMsg) -> Detection:
    box = (m.x_min_px, m.y_min_px, m.x_max_px, m.y_max_px)
    return Detection(m.class_id, m.class_name, float(m.score), box)


def object_to_msg(o: Object3D) -> Object3DMsg:
    x, y, z = o.position_m
    return Object3DMsg(
        class_id=o.class_id, class_name=o.class_name, score=float(o.score),
        position=Point(x=float(x), y=float(y), z=float(z)), depth_m=float(o.depth_m),
        detection=detection_to_msg(o.detection),
    )


def object_from_msg(m: Object3DMsg, frame_id: str) -> Object3D:
    p = m.position
    return Object3D(detection_from_msg(m.detection), (p.x, p.y, p.z), frame_id, float(m.depth_m))


def track_to_msg(t: Track) -> TrackMsg:
    (x, y, z), (vx, vy, vz) = t.position_m, t.velocity_m_s
    return TrackMsg(
        id=t.track_id, class_id=t.class_id, class_name=t.class_name,
        position=Point(x=float(x), y=float(y), z=float(z)),
        velocity=Vector3(x=float(vx), y=float(vy), z=float(vz)),
        state=int(t.state), age=t.age, hits=t.hits, misses=t.misses, score=float(t.score),
    )


_TRACK_STATES = frozenset(int(s) for s in TrackState)


def track_from_msg(m: TrackMsg, frame_id: str) -> Track:
    """A track as the core's :class:`Track`.

    Raises:
        MessageError: an unknown track state, or a position or velocity that is not finite.
    """
    p, v = m.position, m.velocity
    if m.state not in _TRACK_STATES:
        raise MessageError(f"track {m.id}: state {m.state} is not one of {sorted(_TRACK_STATES)}")
    if not all(math.isfinite(x) for x in (p.x, p.y, p.z, v.x, v.y, v.z)):
        raise MessageError(f"track {m.id} ({m.class_name}): position or velocity is not finite")
    return Track(
        m.id, m.class_id, m.class_name, (p.x, p.y, p.z), (v.x, v.y, v.z), TrackState(m.state),
        m.age, m.hits, m.misses, float(m.score), frame_id,
    )
