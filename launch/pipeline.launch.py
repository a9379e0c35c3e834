"""The visuomotor pipeline on a running camera + arm; included by the sim, robot, gazebo and replay launches.

    ros2 launch visuomotor_ros pipeline.launch.py [use_sim_time:=true] [control:=false] [dry_run:=true] \\
        [extrinsics:=/abs/T_base_link_camera.yaml] [camera_tf:=true] [overrides:=robot.yaml] \\
        [latency_end:=tracks] [respawn:=false] [respawn_delay:=1.0]

Processes:
- ``perception``: the pipeline node (detector → localiser → tracker in-process, reading detector.yaml,
  localiser.yaml, tracker.yaml) + overlay + latency monitor composed in one process (params:
  perception.yaml). Its latency monitor measures camera
  → command: ``config/latency_monitor.yaml`` is layered over perception.yaml's tracks-only ending unless
  ``latency_end:=tracks`` (no policy, no scripted pick publishing ``/visuomotor/frame_trail``).
- ``policy`` (policy.yaml) and ``commander`` (safety.yaml), with ``control:=true``.
- with ``camera_tf:=true``, a static ``base_link → camera_color_optical_frame`` transform from the same
  extrinsics file (a real or Gazebo camera; the MuJoCo sim has no TF consumers).

``extrinsics`` (T_base_link_camera) goes to the perception pipeline and the overlay as one resolved absolute
path (node-targeted ``-p node:key:=value``: in the composed process an un-targeted parameter would reach
every node and be rejected as unknown by the others). ``overrides`` is one more params file, one section per
node name, layered last onto every process (e.g. ``robot.yaml``). Relative paths are looked up like the
nodes do (visuomotor_ros.params.resolve_config_path): ./, ./config, $VISUOMOTOR_ROOT(/config), the package
share (/config).

Every process here is respawned ``respawn_delay`` seconds after it dies (``respawn:=true``, the default): a
node killed by the OOM killer or a crash comes back on its own, and in the meantime the arm holds (the
controller finishes the last checked trajectory; the commander's successor plans from the measured state).
``ros2 launch`` shutting down (Ctrl-C) never respawns anything.

Config files are found, and extrinsics read, by the same code as the nodes'.
"""

import math
import os
from pathlib import Path
from typing import Any

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue

from launch import LaunchContext, LaunchDescription
from visuomotor.geometry import load_extrinsics
from visuomotor_ros.params import resolve_config_path

PACKAGE = "visuomotor_ros"


def flag(context: LaunchContext, name: str) -> bool:
    """A true/false launch argument as a bool; anything else is an error that names the argument."""
    value = LaunchConfiguration(name).perform(context).strip().lower()
    if value in ("true", "1"):
        return True
    if value in ("false", "0"):
        return False
    raise ValueError(f"launch argument {name}:={value!r}: expected true or false")


def respawn_settings(context: LaunchContext) -> dict[str, Any]:
    """``respawn``/``respawn_delay`` for a Node, from the launch arguments of the same names (evaluated
    here: ``respawn`` as a substitution needs a newer launch than some distributions ship)."""
    text = LaunchConfiguration("respawn_delay").perform(context).strip()
    try:
        delay = float(text)
    except ValueError:
        delay = math.nan
    if not 0.0 <= delay <= 60.0:
        raise ValueError(f"launch argument respawn_delay:={text!r}: expected seconds in [0, 60]")
    return {"respawn": flag(context, "respawn"), "respawn_delay": delay}


def resolve_config_file(path: str, what: str) -> Path:
    """The nodes' own lookup (visuomotor_ros.params.resolve_config_path), as an absolute path."""
    return resolve_config_path(str(Path(path).expanduser()), kind=what).absolute()


def camera_pose(path: Path) -> tuple[str, str, list[float], list[float]]:
    """(parent, child, translation xyz in m, unit quaternion xyzw) of an extrinsics file, read as the
    nodes read it (visuomotor.geometry.load_extrinsics: translation + quaternion or a 4×4 matrix)."""
    T = load_extrinsics(path)
    w, x, y, z = (float(v) for v in T.quaternion_wxyz)
    return T.parent_frame, T.child_frame, [float(v) for v in T.translation_m], [x, y, z, w]


def static_transform(name: str, parent: str, child: str, t: list[float], q_xyzw: list[float],
                     respawn: dict[str, Any] | None = None) -> Node:
    """A tf2_ros static_transform_publisher for ``T_parent_child`` (named arguments: Humble and later);
    ``respawn``: Node respawn settings (``respawn_settings``), none by default."""
    keys = ("--x", "--y", "--z", "--qx", "--qy", "--qz", "--qw")
    arguments = [s for key, value in zip(keys, [*t, *q_xyzw], strict=True) for s in (key, repr(value))]
    return Node(package="tf2_ros", executable="static_transform_publisher", name=name, output="log",
                arguments=[*arguments, "--frame-id", parent, "--child-frame-id", child], **(respawn or {}))


def pipeline(context: LaunchContext, *args: Any, **kwargs: Any) -> list:
    config = os.path.join(get_package_share_directory(PACKAGE), "config")
    use_sim_time = ParameterValue(LaunchConfiguration("use_sim_time"), value_type=bool)
    overrides = LaunchConfiguration("overrides").perform(context).strip()
    extra = [str(resolve_config_file(overrides, "overrides"))] if overrides else []
    extrinsics = resolve_config_file(LaunchConfiguration("extrinsics").perform(context), "extrinsics")
    latency_end = LaunchConfiguration("latency_end").perform(context)
    if latency_end not in ("command", "tracks"):
        raise ValueError(f"launch argument latency_end:={latency_end!r}: expected command or tracks")
    monitor = [os.path.join(config, "latency_monitor.yaml")] if latency_end == "command" else []
    perception_files = [os.path.join(config, "perception.yaml")]
    respawn = respawn_settings(context)
    actions = [
        # No `name=`: launch_ros would pass `-r __node:=perception`, renaming every node in the process.
        Node(
            package=PACKAGE, executable="perception", output="screen", **respawn,
            parameters=[*perception_files, *monitor, *extra, {"use_sim_time": use_sim_time}],
            ros_arguments=["-p", f"perception:extrinsics_file:={extrinsics}",
                           "-p", f"overlay:extrinsics_file:={extrinsics}"],
        ),
    ]
    if flag(context, "control"):
        actions += [
            Node(
                package=PACKAGE, executable="policy", name="policy", output="screen", **respawn,
                parameters=[
                    os.path.join(config, "policy.yaml"), *extra,
                    {"use_sim_time": use_sim_time, "tick_on_tracks": flag(context, "tick_on_tracks")},
                ],
            ),
            Node(
                package=PACKAGE, executable="commander", name="commander", output="screen", **respawn,
                parameters=[
                    os.path.join(config, "safety.yaml"), *extra,
                    {"use_sim_time": use_sim_time,
                     "dry_run": ParameterValue(LaunchConfiguration("dry_run"), value_type=bool)},
                ],
            ),
        ]
    if flag(context, "camera_tf"):
        parent, child, t, q = camera_pose(extrinsics)
        actions.append(static_transform("camera_extrinsics_tf", parent, child, t, q, respawn))
    return actions


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription([
        DeclareLaunchArgument("use_sim_time", default_value="false",
                              description="true when a simulator or a bag publishes /clock"),
        DeclareLaunchArgument("control", default_value="true",
                              description="run the policy and the commander (false: perception only)"),
        DeclareLaunchArgument("dry_run", default_value="false",
                              description="commander: compute, check and log every command, publish nothing"),
        DeclareLaunchArgument("extrinsics", default_value="extrinsics/sim.yaml",
                              description="T_base_link_camera file (localiser, overlay, camera TF)"),
        DeclareLaunchArgument("camera_tf", default_value="false",
                              description="publish base_link → camera optical frame from the extrinsics"),
        DeclareLaunchArgument("overrides", default_value="",
                              description="params file layered last onto every process ('' = none)"),
        DeclareLaunchArgument("tick_on_tracks", default_value="true",
                              description="policy: one tick per tracks message, at the camera's rate "
                                          "(false: a timer at the model's control rate)"),
        DeclareLaunchArgument("latency_end", default_value="command", choices=["command", "tracks"],
                              description="where the latency monitor ends a frame: command or tracks"),
        DeclareLaunchArgument("respawn", default_value="true",
                              description="restart a process of the stack that dies (not on shutdown)"),
        DeclareLaunchArgument("respawn_delay", default_value="1.0",
                              description="seconds between a process's death and its respawn"),
        OpaqueFunction(function=pipeline),
    ])
