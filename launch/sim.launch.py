"""The MuJoCo sim world + latency monitor (+ the scripted pick), for machines with ROS 2 installed.

    ros2 launch visuomotor_ros sim.launch.py [clock_mode:=lockstep] [seed:=3] [scripted_pick:=true]

Without ROS 2's launch tools (a pip-only install) the demo does the same: ``scripts/demo.sh``.
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from launch import LaunchDescription


def generate_launch_description() -> LaunchDescription:
    config = os.path.join(get_package_share_directory("visuomotor_ros"), "config")
    clock_mode = LaunchConfiguration("clock_mode")
    seed = LaunchConfiguration("seed")
    return LaunchDescription([
        DeclareLaunchArgument("clock_mode", default_value="realtime", description="realtime | lockstep"),
        DeclareLaunchArgument("seed", default_value="0", description="scene seed"),
        DeclareLaunchArgument("scripted_pick", default_value="false", description="run the scripted pick"),
        Node(
            package="visuomotor_ros", executable="sim", name="sim", output="screen",
            parameters=[os.path.join(config, "sim.yaml"), {"clock_mode": clock_mode, "seed": seed}],
        ),
        Node(
            package="visuomotor_ros", executable="latency_monitor", name="latency_monitor", output="screen",
            parameters=[os.path.join(config, "latency_monitor.yaml"), {"use_sim_time": True}],
        ),
        Node(
            package="visuomotor_ros", executable="scripted_pick", name="scripted_pick", output="screen",
            parameters=[{"use_sim_time": True}],
            condition=IfCondition(LaunchConfiguration("scripted_pick")),
        ),
    ])
