"""Replay a recorded bag into the graph and run the pipeline on it (perception; optionally the control).

    ros2 launch visuomotor_ros replay.launch.py bag:=/path/to/bag [rate:=0.5] [loop:=true] [clock:=false] \\
        [start_offset_s:=3.0] [control:=true] [params_file:=/abs/my_replay.yaml]

The ``replay`` node (config/replay.yaml: which topics, renames) publishes the recorded messages with their
recorded stamps. ``clock`` (default true here, unlike replay.yaml) publishes ``/clock`` from bag time and
runs the pipeline on sim time: the policy and the commander judge freshness by ``now − camera stamp``,
which is only meaningful on the bag's own clock. ``control:=true`` adds the policy and the commander; the
commander stays in ``dry_run`` unless ``dry_run:=false`` (a bag is not a robot). The replayed topics must
then include ``/joint_states`` (set ``topics`` in your params file). The latency monitor ends frames at the
command with control, at the tracks without; config/replay_pipeline.yaml drops the sim's render trail.
"""

import os
from typing import Any

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription, OpaqueFunction
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue

from launch import LaunchContext, LaunchDescription

PACKAGE = "visuomotor_ros"


def replay_pipeline(context: LaunchContext, *args: Any, **kwargs: Any) -> list:
    share = get_package_share_directory(PACKAGE)
    control = LaunchConfiguration("control").perform(context).strip().lower()
    if control not in ("true", "false"):
        raise ValueError(f"launch argument control:={control!r}: expected true or false")
    return [
        IncludeLaunchDescription(
            PythonLaunchDescriptionSource(os.path.join(share, "launch", "pipeline.launch.py")),
            launch_arguments={
                "use_sim_time": LaunchConfiguration("clock"),
                "control": control,
                "dry_run": LaunchConfiguration("dry_run"),
                "extrinsics": LaunchConfiguration("extrinsics"),
                "overrides": os.path.join(share, "config", "replay_pipeline.yaml"),
                "latency_end": "command" if control == "true" else "tracks",
            }.items(),
        ),
    ]


def generate_launch_description() -> LaunchDescription:
    share = get_package_share_directory(PACKAGE)
    return LaunchDescription([
        DeclareLaunchArgument("bag", description="rosbag2 directory or .mcap/.db3 file (required)"),
        DeclareLaunchArgument("rate", default_value="1.0", description="playback speed factor (> 0)"),
        DeclareLaunchArgument("loop", default_value="false", description="start again at the end"),
        DeclareLaunchArgument("clock", default_value="true",
                              description="publish /clock from bag time and run the pipeline on it"),
        DeclareLaunchArgument("start_offset_s", default_value="0.0",
                              description="skip the bag's first seconds"),
        DeclareLaunchArgument("params_file", default_value=os.path.join(share, "config", "replay.yaml"),
                              description="the replay node's params (topics, remap, ...)"),
        DeclareLaunchArgument("control", default_value="false",
                              description="also run the policy and the commander (needs /joint_states)"),
        DeclareLaunchArgument("dry_run", default_value="true",
                              description="commander: log commands without publishing them"),
        DeclareLaunchArgument("extrinsics", default_value="extrinsics/sim.yaml",
                              description="T_base_link_camera of the camera the bag was recorded with"),
        Node(
            package=PACKAGE, executable="replay", name="replay", output="screen",
            parameters=[
                LaunchConfiguration("params_file"),
                {"bag": ParameterValue(LaunchConfiguration("bag"), value_type=str),
                 "rate": ParameterValue(LaunchConfiguration("rate"), value_type=float),
                 "loop": ParameterValue(LaunchConfiguration("loop"), value_type=bool),
                 "clock": ParameterValue(LaunchConfiguration("clock"), value_type=bool),
                 "start_offset_s": ParameterValue(LaunchConfiguration("start_offset_s"), value_type=float)},
            ],
        ),
        OpaqueFunction(function=replay_pipeline),
    ])
