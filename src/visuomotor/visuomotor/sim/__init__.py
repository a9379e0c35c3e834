"""MuJoCo simulator of the pick cell: UR10e + parallel gripper, table, coloured cubes, a bin and a fixed
D455-like RGB-D camera, plus a joint-trajectory follower and a scripted pick expert.

Frames: the MuJoCo world frame is the robot's ``base_link`` (REP-103); every pose this package exposes is
in ``base_link`` and its name says so. The camera pose is the optical frame (x right, y down, z forward).

Rendering is headless: importing this package sets ``MUJOCO_GL=egl`` when it is unset, *before* MuJoCo is
imported, because MuJoCo picks its OpenGL backend once at import time. A process that imported
``mujoco`` earlier must set ``MUJOCO_GL=egl`` itself (e.g. in the environment of the test run).
"""

import os

os.environ.setdefault("MUJOCO_GL", "egl")

from visuomotor.sim.camera import RgbdFrame, RgbdRenderer, camera_intrinsics, make_depth_image
from visuomotor.sim.config import CameraConfig, DepthNoiseConfig, SceneConfig, SimConfig
from visuomotor.sim.errors import GripperCommandError
from visuomotor.sim.jtc import (
    JointTrajectoryCommand,
    JointTrajectoryFollower,
    canonical_trajectory,
    interpolate_trajectory,
)
from visuomotor.sim.scene import build_mjcf
from visuomotor.sim.world import ObjectState, SimWorld, top_down_tcp_pose

__all__ = [
    "CameraConfig",
    "DepthNoiseConfig",
    "GripperCommandError",
    "JointTrajectoryCommand",
    "JointTrajectoryFollower",
    "ObjectState",
    "RgbdFrame",
    "RgbdRenderer",
    "SceneConfig",
    "SimConfig",
    "SimWorld",
    "build_mjcf",
    "camera_intrinsics",
    "canonical_trajectory",
    "interpolate_trajectory",
    "make_depth_image",
    "top_down_tcp_pose",
]
