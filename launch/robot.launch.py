"""The real cell: RealSense (realsense2_camera) + UR10e (ur_robot_driver) + the visuomotor pipeline.

    ros2 launch visuomotor_ros robot.launch.py robot_ip:=192.168.1.102 \\
        [extrinsics:=/abs/path/T_base_link_camera.yaml] [dry_run:=false] [use_mock_hardware:=true]

SAFE FIRST START: the commander runs with ``dry_run:=true`` (every command computed, checked and logged,
none published) until you pass ``dry_run:=false``. The default extrinsics file is a PLACEHOLDER (the sim
camera's pose): calibrate first (``visuomotor calibrate``) and pass the result with ``extrinsics:=``.

- realsense2_camera (rs_launch.py): colour 640×480@30 and depth 848×480@30, depth aligned to colour,
  no point cloud; topics ``/camera/camera/...`` as our nodes expect. Its own TF is off: the pipeline publishes
  ``base_link → camera_color_optical_frame`` from the same extrinsics file the localiser reads.
- ur_robot_driver (ur_control.launch.py): ur_type ur10e, scaled_joint_trajectory_controller active,
  no RViz. The teach pendant must run the External Control program (see the driver's documentation).
- the pipeline (pipeline.launch.py) on wall time, with config/robot.yaml layered last.
"""

import os
from typing import Any

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription, OpaqueFunction
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.substitutions import FindPackageShare

from launch import LaunchContext, LaunchDescription

PACKAGE = "visuomotor_ros"
#: realsense2_camera publishes /<camera_namespace>/<camera_name>/... : /camera/camera/color/image_raw etc.
CAMERA_NAMESPACE = "camera"
CAMERA_NAME = "camera"


def check_robot_ip(context: LaunchContext, *args: Any, **kwargs: Any) -> list:
    """An empty robot_ip (e.g. an unset ROBOT_IP in docker compose) stops the launch with the fix."""
    if not LaunchConfiguration("robot_ip").perform(context).strip():
        raise ValueError("launch argument robot_ip is empty: pass robot_ip:=<the UR controller's IP address>")
    return []


def generate_launch_description() -> LaunchDescription:
    share = get_package_share_directory(PACKAGE)
    return LaunchDescription([
        DeclareLaunchArgument("robot_ip", description="IP address of the UR10e controller (required)"),
        DeclareLaunchArgument("extrinsics",
                              default_value=os.path.join(share, "config", "extrinsics", "robot.yaml"),
                              description="T_base_link_camera from `visuomotor calibrate` (the default is a "
                                          "PLACEHOLDER: the sim camera's pose)"),
        DeclareLaunchArgument("dry_run", default_value="true",
                              description="commander: true (default) logs commands without publishing them; "
                                          "pass false to move the robot"),
        DeclareLaunchArgument("use_mock_hardware", default_value="false",
                              description="ur_robot_driver without a robot (mock hardware mirrors commands)"),
        DeclareLaunchArgument("camera_serial", default_value="''",
                              description="RealSense serial number ('' = the first camera found); "
                                          "digits need quotes: camera_serial:=\"'123456789012'\""),
        OpaqueFunction(function=check_robot_ip),
        IncludeLaunchDescription(
            PythonLaunchDescriptionSource(
                PathJoinSubstitution([FindPackageShare("realsense2_camera"), "launch", "rs_launch.py"])),
            launch_arguments={
                "camera_namespace": CAMERA_NAMESPACE,
                "camera_name": CAMERA_NAME,
                "serial_no": LaunchConfiguration("camera_serial"),
                "enable_color": "true",
                "enable_depth": "true",
                "rgb_camera.color_profile": "640x480x30",
                "rgb_camera.color_format": "RGB8",
                "depth_module.depth_profile": "848x480x30",  # D4xx native depth aspect; aligned = colour size
                "align_depth.enable": "true",
                "enable_sync": "true",          # colour and depth of one frameset share a stamp
                "pointcloud.enable": "false",
                "enable_infra1": "false",
                "enable_infra2": "false",
                "enable_gyro": "false",
                "enable_accel": "false",
                "publish_tf": "false",          # base_link → camera optical frame: from the extrinsics
            }.items(),
        ),
        IncludeLaunchDescription(
            PythonLaunchDescriptionSource(PathJoinSubstitution(
                [FindPackageShare("ur_robot_driver"), "launch", "ur_control.launch.py"])),
            launch_arguments={
                "ur_type": "ur10e",
                "robot_ip": LaunchConfiguration("robot_ip"),
                "launch_rviz": "false",
                "initial_joint_controller": "scaled_joint_trajectory_controller",
                "activate_joint_controller": "true",
                "use_mock_hardware": LaunchConfiguration("use_mock_hardware"),
            }.items(),
        ),
        IncludeLaunchDescription(
            PythonLaunchDescriptionSource(os.path.join(share, "launch", "pipeline.launch.py")),
            launch_arguments={
                "use_sim_time": "false",
                "control": "true",
                "dry_run": LaunchConfiguration("dry_run"),
                "extrinsics": LaunchConfiguration("extrinsics"),
                "camera_tf": "true",
                "overrides": os.path.join(share, "config", "robot.yaml"),
                "latency_end": "command",
            }.items(),
        ),
    ])
