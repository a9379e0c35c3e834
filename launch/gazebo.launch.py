"""The UR10e in Gazebo (ur_simulation_gz) with an RGB-D camera, bridged onto our topics, + the pipeline.

    ros2 launch visuomotor_ros gazebo.launch.py [gazebo_gui:=false] [dry_run:=true] [bridge_clock:=true]

- A Gazebo world written at launch time: ground plane (the table top, z = 0 in base_link), three coloured
  cubes, the bin, and a static ``rgbd_camera`` placed at config/extrinsics/sim.yaml's pose with
  config/sim.yaml's image size and field of view — the same camera the MuJoCo sim renders, so the
  localiser's extrinsics hold unchanged.
- ur_simulation_gz (ur_sim_control.launch.py): ur_type ur10e in that world, joint_trajectory_controller
  (config/gazebo.yaml points the commander at it), no RViz. It bridges ``/clock`` itself in current
  releases; ``bridge_clock:=true`` adds our own bridge for older ones (a ``/clock`` that never moves
  stalls every sim-time node).
- ros_gz_image ``image_bridge`` (colour, depth as 32FC1 metres) and ros_gz_bridge ``parameter_bridge``
  (camera_info), remapped onto the realsense2_camera topics our nodes subscribe to.
- the pipeline (pipeline.launch.py) on sim time, with the camera TF and config/gazebo.yaml layered last.

``gazebo_gui:=false`` runs the Gazebo server alone; its camera still renders (ogre2), which needs a GPU/EGL
or an X display in the environment. The detector was trained on MuJoCo renders; Gazebo's lighting and
materials differ, so expect lower scores. The Gazebo UR has no gripper: the loop runs, grasps do not happen.
"""

import math
import os
import tempfile
from pathlib import Path
from typing import Any

import yaml
from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription, OpaqueFunction
from launch.conditions import IfCondition
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from launch import LaunchContext, LaunchDescription
from visuomotor.geometry import load_extrinsics

PACKAGE = "visuomotor_ros"
#: Gazebo topic prefix of the camera: the rgbd_camera sensor publishes <prefix>/image, /depth_image,
#: /camera_info (gz-sensors RgbdCameraSensor).
GZ_CAMERA = "/gz_camera"
#: Where our nodes listen (the realsense2_camera layout; NODE_DEFAULTS of detector and localiser).
ROS_TOPICS = {
    "image": "/camera/camera/color/image_raw",
    "depth_image": "/camera/camera/aligned_depth_to_color/image_raw",
    "camera_info": "/camera/camera/color/camera_info",
}
#: Orientation of the Gazebo camera link in the optical frame (x right, y down, z forward): a Gazebo camera
#: looks along its link's +x with +z up, i.e. link x = optical z, link y = −optical x, link z = −optical y.
Q_OPTICAL_LINK_WXYZ = (0.5, 0.5, -0.5, 0.5)
#: Cubes in the scene: class colour (RGB 0..1) and centre xy in base_link (inside sim.yaml's workspace).
CUBES = {"red_cube": ((0.8, 0.05, 0.05), (0.55, 0.05)),
         "green_cube": ((0.05, 0.7, 0.05), (0.7, 0.3)),
         "blue_cube": ((0.05, 0.05, 0.8), (0.8, -0.1))}


def quaternion_multiply(a: tuple[float, ...], b: tuple[float, ...]) -> tuple[float, float, float, float]:
    """Hamilton product a ⊗ b of (w, x, y, z) quaternions: the rotation b, then a (R_a · R_b)."""
    aw, ax, ay, az = a
    bw, bx, by, bz = b
    return (aw * bw - ax * bx - ay * by - az * bz,
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw)


def box_model(name: str, xyz: tuple[float, float, float], size: tuple[float, float, float],
              rgb: tuple[float, float, float], mass_kg: float | None) -> str:
    """A box model; static when ``mass_kg`` is None."""
    sx, sy, sz = size
    colour = f"{rgb[0]} {rgb[1]} {rgb[2]} 1"
    geometry = f"<geometry><box><size>{sx} {sy} {sz}</size></box></geometry>"
    inertial = ""
    if mass_kg is not None:
        i = [mass_kg * (b * b + c * c) / 12.0 for b, c in ((sy, sz), (sx, sz), (sx, sy))]
        inertial = (f"<inertial><mass>{mass_kg}</mass><inertia><ixx>{i[0]}</ixx><iyy>{i[1]}</iyy>"
                    f"<izz>{i[2]}</izz><ixy>0</ixy><ixz>0</ixz><iyz>0</iyz></inertia></inertial>")
    return (f'<model name="{name}"><static>{"true" if mass_kg is None else "false"}</static>'
            f"<pose>{xyz[0]} {xyz[1]} {xyz[2]} 0 0 0</pose><link name=\"link\">{inertial}"
            f'<collision name="collision">{geometry}</collision>'
            f'<visual name="visual">{geometry}<material><ambient>{colour}</ambient>'
            f"<diffuse>{colour}</diffuse></material></visual></link></model>")


def world_sdf(sim: dict, t_camera: list[float], q_optical_xyzw: list[float]) -> str:
    """The Gazebo world (SDFormat 1.9) for ``sim`` = config/sim.yaml's parameters and the camera pose.

    Args:
        sim: the ``sim.ros__parameters`` mapping of config/sim.yaml (camera, scene).
        t_camera: optical centre in base_link, metres.
        q_optical_xyzw: orientation of the camera optical frame in base_link.
    """
    cam, scene = sim["camera"], sim["scene"]
    width, height = int(cam["width_px"]), int(cam["height_px"])
    # sim.yaml gives the vertical field of view; SDF wants the horizontal one (square pixels).
    hfov = 2.0 * math.atan(math.tan(math.radians(float(cam["fovy_deg"])) / 2.0) * width / height)
    x, y, z, w = q_optical_xyzw
    lw, lx, ly, lz = quaternion_multiply((w, x, y, z), Q_OPTICAL_LINK_WXYZ)
    camera = (
        '<model name="visuomotor_camera"><static>true</static>'
        f'<pose rotation_format="quat_xyzw">{t_camera[0]} {t_camera[1]} {t_camera[2]} '
        f"{lx} {ly} {lz} {lw}</pose>"
        '<link name="link"><sensor name="rgbd" type="rgbd_camera">'
        f"<always_on>true</always_on><update_rate>{float(sim['publish_rate_hz'])}</update_rate>"
        f"<topic>{GZ_CAMERA}</topic><gz_frame_id>camera_color_optical_frame</gz_frame_id>"
        f"<camera><horizontal_fov>{hfov}</horizontal_fov>"
        f"<image><width>{width}</width><height>{height}</height><format>R8G8B8</format></image>"
        "<clip><near>0.05</near><far>20</far></clip>"
        f"<depth_camera><clip><near>{float(cam['min_range_m'])}</near><far>{float(cam['max_range_m'])}</far>"
        "</clip></depth_camera></camera></sensor></link></model>"
    )
    size = float(scene["cube_size_m"])
    models = [box_model(name, (xy[0], xy[1], size / 2), (size, size, size), rgb, float(scene["cube_mass_kg"]))
              for name, (rgb, xy) in CUBES.items()]
    (bx, by), (bsx, bsy, bsz) = scene["bin_center_xy_m"], scene["bin_size_m"]
    wall, grey = 0.01, (0.45, 0.45, 0.5)
    models += [
        box_model("bin_floor", (bx, by, wall / 2), (bsx, bsy, wall), grey, None),
        box_model("bin_wall_xm", (bx - (bsx - wall) / 2, by, bsz / 2), (wall, bsy, bsz), grey, None),
        box_model("bin_wall_xp", (bx + (bsx - wall) / 2, by, bsz / 2), (wall, bsy, bsz), grey, None),
        box_model("bin_wall_ym", (bx, by - (bsy - wall) / 2, bsz / 2), (bsx, wall, bsz), grey, None),
        box_model("bin_wall_yp", (bx, by + (bsy - wall) / 2, bsz / 2), (bsx, wall, bsz), grey, None),
    ]
    ground = ('<model name="ground_plane"><static>true</static><link name="link">'
              '<collision name="collision"><geometry><plane><normal>0 0 1</normal><size>20 20</size></plane>'
              '</geometry></collision><visual name="visual"><geometry><plane><normal>0 0 1</normal>'
              "<size>20 20</size></plane></geometry><material><ambient>0.8 0.8 0.78 1</ambient>"
              "<diffuse>0.8 0.8 0.78 1</diffuse></material></visual></link></model>")
    return "\n".join([
        '<?xml version="1.0"?>',
        '<sdf version="1.9"><world name="visuomotor">',
        '<physics name="1ms" type="ignored"><max_step_size>0.001</max_step_size>'
        "<real_time_factor>1.0</real_time_factor></physics>",
        '<plugin filename="gz-sim-physics-system" name="gz::sim::systems::Physics"/>',
        '<plugin filename="gz-sim-user-commands-system" name="gz::sim::systems::UserCommands"/>',
        '<plugin filename="gz-sim-scene-broadcaster-system" name="gz::sim::systems::SceneBroadcaster"/>',
        # Renders the camera; without it an rgbd_camera publishes nothing.
        '<plugin filename="gz-sim-sensors-system" name="gz::sim::systems::Sensors">'
        "<render_engine>ogre2</render_engine></plugin>",
        '<light type="directional" name="sun"><cast_shadows>true</cast_shadows><pose>0 0 10 0 0 0</pose>'
        "<diffuse>0.8 0.8 0.8 1</diffuse><specular>0.2 0.2 0.2 1</specular>"
        "<direction>-0.5 0.1 -0.9</direction></light>",
        ground, *models, camera,
        "</world></sdf>",
        "",
    ])


def world_bridges_and_pipeline(context: LaunchContext, *args: Any, **kwargs: Any) -> list:
    share = get_package_share_directory(PACKAGE)
    config = Path(share) / "config"
    extrinsics = config / "extrinsics" / "sim.yaml"
    camera = load_extrinsics(extrinsics)
    w, x, y, z = (float(v) for v in camera.quaternion_wxyz)
    t, q = [float(v) for v in camera.translation_m], [x, y, z, w]
    sim = yaml.safe_load((config / "sim.yaml").read_text())["sim"]["ros__parameters"]
    world = Path(tempfile.mkdtemp(prefix="visuomotor_gz_")) / "visuomotor.sdf"
    world.write_text(world_sdf(sim, t, q))
    gz = {name: f"{GZ_CAMERA}/{name}" for name in ROS_TOPICS}
    return [
        IncludeLaunchDescription(
            PythonLaunchDescriptionSource(PathJoinSubstitution(
                [FindPackageShare("ur_simulation_gz"), "launch", "ur_sim_control.launch.py"])),
            launch_arguments={
                "ur_type": "ur10e",
                "world_file": str(world),
                "gazebo_gui": LaunchConfiguration("gazebo_gui"),
                "launch_rviz": "false",
                "initial_joint_controller": "joint_trajectory_controller",
            }.items(),
        ),
        Node(
            package="ros_gz_image", executable="image_bridge", name="camera_image_bridge", output="log",
            arguments=[gz["image"], gz["depth_image"]],
            remappings=[(gz["image"], ROS_TOPICS["image"]), (gz["depth_image"], ROS_TOPICS["depth_image"])],
        ),
        Node(
            package="ros_gz_bridge", executable="parameter_bridge", name="camera_info_bridge", output="log",
            arguments=[f"{gz['camera_info']}@sensor_msgs/msg/CameraInfo[gz.msgs.CameraInfo"],
            remappings=[(gz["camera_info"], ROS_TOPICS["camera_info"])],
        ),
        Node(
            package="ros_gz_bridge", executable="parameter_bridge", name="clock_bridge", output="log",
            arguments=["/clock@rosgraph_msgs/msg/Clock[gz.msgs.Clock"],
            condition=IfCondition(LaunchConfiguration("bridge_clock")),
        ),
        IncludeLaunchDescription(
            PythonLaunchDescriptionSource(os.path.join(share, "launch", "pipeline.launch.py")),
            launch_arguments={
                "use_sim_time": "true",
                "control": "true",
                "dry_run": LaunchConfiguration("dry_run"),
                "extrinsics": str(extrinsics),
                "camera_tf": "true",
                "overrides": str(config / "gazebo.yaml"),
                "latency_end": "command",
            }.items(),
        ),
    ]


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription([
        DeclareLaunchArgument("gazebo_gui", default_value="true", description="start the Gazebo GUI"),
        DeclareLaunchArgument("dry_run", default_value="false",
                              description="commander: compute, check and log every command, publish nothing"),
        DeclareLaunchArgument("bridge_clock", default_value="false",
                              description="bridge /clock here (for ur_simulation_gz releases that do not)"),
        OpaqueFunction(function=world_bridges_and_pipeline),
    ])
