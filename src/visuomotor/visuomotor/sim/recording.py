"""Record the sim straight into a bag, without a ROS graph: the topics and stamps the ``sim`` node publishes.

For tests, evaluations and examples that need a realistic bag fast: frames are rendered back to back in
sim time (no wall-clock pacing), each with colour, aligned depth, both camera_infos, ground truth, a
joint state and the sim's frame trail, all stamped with the frame's sim time (log time = stamp).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from visuomotor.bag.messages import (
    camera_info_message,
    frame_trail_message,
    ground_truth_message,
    image_message,
    joint_state_message,
)
from visuomotor.bag.writer import SENSOR_QOS, STATE_QOS, BagWriter
from visuomotor.errors import ConfigError
from visuomotor.latency import FrameTrail, StageTimer

if TYPE_CHECKING:
    from visuomotor.sim import SimConfig

__all__ = ["SIM_TOPICS", "SimBagSummary", "record_sim_bag"]

#: role → topic, as visuomotor_ros.sim_node publishes them (its NODE_DEFAULTS).
SIM_TOPICS: dict[str, str] = {
    "color": "/camera/camera/color/image_raw",
    "color_info": "/camera/camera/color/camera_info",
    "depth": "/camera/camera/aligned_depth_to_color/image_raw",
    "depth_info": "/camera/camera/aligned_depth_to_color/camera_info",
    "joint_states": "/joint_states",
    "ground_truth": "/sim/ground_truth",
    "frame_trail": "/sim/frame_trail",
}
_TYPES = {
    "color": "sensor_msgs/msg/Image",
    "color_info": "sensor_msgs/msg/CameraInfo",
    "depth": "sensor_msgs/msg/Image",
    "depth_info": "sensor_msgs/msg/CameraInfo",
    "joint_states": "sensor_msgs/msg/JointState",
    "ground_truth": "visuomotor_interfaces/msg/SimGroundTruth",
    "frame_trail": "visuomotor_interfaces/msg/FrameTrail",
}
_SENSOR_ROLES = ("color", "color_info", "depth", "depth_info")
_GRIPPER_JOINT = "gripper_joint"  # as sim_node reports the gripper in /joint_states


@dataclass(frozen=True, slots=True)
class SimBagSummary:
    """What :func:`record_sim_bag` wrote.

    Attributes:
        path: the bag directory.
        stamps_ns: the frames' stamps (sim time), in order.
        message_counts: topic → messages.
    """

    path: Path
    stamps_ns: tuple[int, ...]
    message_counts: dict[str, int]


def record_sim_bag(
    path: str | Path,
    frames: int,
    *,
    seed: int = 4,
    config: SimConfig | None = None,
    color_encoding: str = "rgb8",
    depth_encoding: str = "16UC1",
    roles: tuple[str, ...] = tuple(SIM_TOPICS),
    storage: str = "mcap",
    expert_pick: bool = False,
) -> SimBagSummary:
    """Render ``frames`` frames of a fresh sim scene into a new bag.

    Args:
        path: the bag directory to create.
        frames: number of camera frames (≥ 1), one camera period apart in sim time.
        seed: scene seed (``SimWorld.reset``).
        config: the simulator's configuration (defaults when None).
        color_encoding: ``rgb8`` or ``bgr8``.
        depth_encoding: ``16UC1`` (mm, as the sim node) or ``32FC1`` (m).
        roles: which of :data:`SIM_TOPICS` to write (leave some out for a partial bag).
        storage: ``mcap`` or ``sqlite3``.
        expert_pick: the arm picks the scene's first cube (scripted expert) while recording, so the
            frames hold arm motion and finger occlusions; False: the arm stays at home.

    Raises:
        ConfigError: bad arguments. BagError: the bag cannot be written.
    """
    from visuomotor.sim import SimConfig, SimWorld  # MuJoCo loads only for callers that render
    from visuomotor.sim.expert import PickPlayback

    if frames < 1:
        raise ConfigError(f"frames must be ≥ 1, got {frames}")
    if color_encoding not in ("rgb8", "bgr8"):
        raise ConfigError(f"color_encoding must be rgb8 or bgr8, got {color_encoding!r}")
    if depth_encoding not in ("16UC1", "32FC1"):
        raise ConfigError(f"depth_encoding must be 16UC1 or 32FC1, got {depth_encoding!r}")
    unknown = sorted(set(roles) - set(SIM_TOPICS))
    if unknown:
        raise ConfigError(f"unknown roles {unknown}; known: {list(SIM_TOPICS)}")
    sim_config = config if config is not None else SimConfig()
    world = SimWorld(sim_config)
    stamps: list[int] = []
    try:
        world.reset(seed)
        dt = world.model.opt.timestep
        period = 1.0 / world.config.publish_rate_hz
        cam = "camera_color_optical_frame"
        with BagWriter(path, storage=storage) as bag:
            store = bag.typestore
            for role in roles:
                bag.add_topic(
                    SIM_TOPICS[role], _TYPES[role], [SENSOR_QOS if role in _SENSOR_ROLES else STATE_QOS]
                )
            next_frame = world.time_s
            pick = PickPlayback(world) if expert_pick else None
            for _ in range(frames):
                while world.time_s < next_frame - dt / 2:  # frames land on the first step at/after k·period
                    if pick is not None:
                        pick.advance()
                    world.step()
                next_frame += period
                with StageTimer("render") as render:
                    frame = world.render()
                stamp = round(world.time_s * 1e9)
                stamps.append(stamp)
                with StageTimer("encode") as encode:
                    rgb = (
                        frame.rgb if color_encoding == "rgb8" else np.ascontiguousarray(frame.rgb[:, :, ::-1])
                    )
                    depth = frame.depth_mm if depth_encoding == "16UC1" else frame.depth_m
                    msgs = {
                        "color": image_message(store, rgb, color_encoding, stamp, cam),
                        "depth": image_message(store, depth, depth_encoding, stamp, cam),
                        "color_info": camera_info_message(store, world.intrinsics, stamp, cam),
                        "depth_info": camera_info_message(store, world.intrinsics, stamp, cam),
                    }
                q = np.append(world.joint_positions(), world.gripper_closure())
                dq = np.append(world.joint_velocities(), 0.0)
                msgs["joint_states"] = joint_state_message(
                    store, (*world.joint_names, _GRIPPER_JOINT), q, dq, stamp
                )
                msgs["ground_truth"] = ground_truth_message(
                    store, world.objects(), world.T_base_link_camera, world.tcp_pose(), stamp
                )
                msgs["frame_trail"] = frame_trail_message(
                    store, FrameTrail(stamp, (render.timing, encode.timing)), cam
                )
                for role in (
                    "color",
                    "depth",
                    "color_info",
                    "depth_info",
                    "joint_states",
                    "ground_truth",
                    "frame_trail",
                ):
                    if role in roles:
                        bag.write(SIM_TOPICS[role], stamp, msgs[role])
            counts = bag.message_counts
    finally:
        world.close()
    return SimBagSummary(Path(path), tuple(stamps), counts)
