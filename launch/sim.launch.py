"""The MuJoCo sim world + the closed loop (perception → policy → commander), for machines with ROS 2.

    ros2 launch visuomotor_ros sim.launch.py [clock_mode:=lockstep] [seed:=3] [dry_run:=true]
    ros2 launch visuomotor_ros sim.launch.py scripted_pick:=true [target:=blue_cube]
    ros2 launch visuomotor_ros sim.launch.py respawn:=false     # a node that dies stays dead

The ``sim`` node stands in for realsense2_camera + ur_robot_driver and publishes ``/clock``; every other node
runs on sim time. ``scripted_pick:=true`` replaces the policy and the commander with the scripted expert
(ground truth in, joint trajectories out), as in ``scripts/demo.sh``. The perception process (with the
latency monitor, camera → command) runs in both cases; see pipeline.launch.py.

In ``lockstep`` the sim waits up to ``lockstep_timeout_s`` per frame for that frame's trail on
``/visuomotor/frame_trail``; the scripted pick sends one per frame, the commander one per chunk. Sim time
then stands still between frames: the policy ticks on each tracks message (its default; a sim-time timer
would never fire between frames) — with the camera at the policy's 10 Hz, what ``scripts/demo.sh`` does:

    ros2 launch visuomotor_ros sim.launch.py clock_mode:=lockstep camera_rate_hz:=10.0

The nodes of the stack (perception, policy, commander; the scripted pick) are respawned ``respawn_delay``
seconds after they die (``respawn:=true``, the default; see pipeline.launch.py). The sim is not: it stands in
for the robot and the camera, and a restarted sim would reset the world and rewind the clock.

Without ROS 2's launch tools (a pip-only install) the demo starts the same executables: ``scripts/demo.sh``.
"""

import importlib.util
import os
from typing import Any

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription, OpaqueFunction
from launch.conditions import IfCondition
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, NotSubstitution
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue

from launch import LaunchContext, LaunchDescription

PACKAGE = "visuomotor_ros"


def scripted_pick_node(context: LaunchContext, *args: Any, **kwargs: Any) -> list:
    """The scripted expert, respawned like the pipeline's nodes (pipeline.launch.py's respawn_settings)."""
    path = os.path.join(get_package_share_directory(PACKAGE), "launch", "pipeline.launch.py")
    spec = importlib.util.spec_from_file_location("visuomotor_pipeline_launch", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    pipeline = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(pipeline)
    return [Node(
        package=PACKAGE, executable="scripted_pick", name="scripted_pick", output="screen",
        parameters=[{"use_sim_time": True,
                     "target_class": ParameterValue(LaunchConfiguration("target"), value_type=str)}],
        condition=IfCondition(LaunchConfiguration("scripted_pick")),
        **pipeline.respawn_settings(context),
    )]


def generate_launch_description() -> LaunchDescription:
    share = get_package_share_directory(PACKAGE)
    config = os.path.join(share, "config")
    scripted_pick = LaunchConfiguration("scripted_pick")
    return LaunchDescription([
        DeclareLaunchArgument("clock_mode", default_value="realtime", choices=["realtime", "lockstep"],
                              description="realtime: sim time paced to the wall clock; lockstep: one camera "
                                          "period per frame, waiting for the frame's trail"),
        DeclareLaunchArgument("seed", default_value="0", description="scene seed"),
        DeclareLaunchArgument("camera_rate_hz", default_value="30.0",
                              description="camera (and frame) rate of the sim; 10 = the policy's rate, for "
                                          "lock-step"),
        DeclareLaunchArgument("tick_on_tracks", default_value="true",
                              description="policy ticks on each tracks message (false: on its 10 Hz timer; "
                                          "never with clock_mode:=lockstep, whose sim time waits)"),
        DeclareLaunchArgument("scripted_pick", default_value="false",
                              description="true: the scripted expert instead of the policy + commander"),
        DeclareLaunchArgument("target", default_value="red_cube",
                              description="scripted_pick: class of the cube to pick"),
        DeclareLaunchArgument("dry_run", default_value="false",
                              description="commander: compute, check and log every command, publish nothing"),
        DeclareLaunchArgument("respawn", default_value="true",
                              description="restart a node of the stack that dies (not the sim; not on "
                                          "shutdown)"),
        DeclareLaunchArgument("respawn_delay", default_value="1.0",
                              description="seconds between a node's death and its respawn"),
        Node(
            package=PACKAGE, executable="sim", name="sim", output="screen",
            parameters=[
                os.path.join(config, "sim.yaml"),
                {"clock_mode": ParameterValue(LaunchConfiguration("clock_mode"), value_type=str),
                 "publish_rate_hz": ParameterValue(LaunchConfiguration("camera_rate_hz"), value_type=float),
                 "seed": ParameterValue(LaunchConfiguration("seed"), value_type=int)},
            ],
        ),
        IncludeLaunchDescription(
            PythonLaunchDescriptionSource(os.path.join(share, "launch", "pipeline.launch.py")),
            launch_arguments={
                "use_sim_time": "true",
                "control": NotSubstitution(scripted_pick),
                "dry_run": LaunchConfiguration("dry_run"),
                "extrinsics": "extrinsics/sim.yaml",
                "latency_end": "command",
                "tick_on_tracks": LaunchConfiguration("tick_on_tracks"),
                "respawn": LaunchConfiguration("respawn"),
                "respawn_delay": LaunchConfiguration("respawn_delay"),
            }.items(),
        ),
        OpaqueFunction(function=scripted_pick_node),
    ])
