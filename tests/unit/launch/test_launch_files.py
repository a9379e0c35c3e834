"""launch/*.launch.py: run with stand-ins for ROS 2's launch packages, checked against the nodes and configs.

Each launch file is walked like ``ros2 launch`` would (launch_emulator.py); every node of ours must exist
(setup.py and the colcon install), every params file must exist and be installed, every parameter must be
declared by its node (the real node classes are constructed with the same --ros-args and stopped after
their unknown-parameter check), and the outside interfaces (RealSense, UR driver, Gazebo bridges) must land
on the topics our nodes subscribe to. The last tests show the checks catch a bogus parameter, a stray params
section and an undeclared launch argument.
"""

from __future__ import annotations

import math
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import transforms3d.quaternions as tq
import yaml
from launch_emulator import (
    LAUNCH_DIR,
    OWN_SHARE,
    ROOT,
    LaunchRun,
    problems,
    repo_file,
    run_launch_file,
    setup_nodes,
    stand_ins,
)

from visuomotor.errors import ConfigError
from visuomotor.geometry import CameraIntrinsics, load_extrinsics
from visuomotor_ros import commander_node, detector_node, latency_monitor, localiser_node

CONFIG = ROOT / "config"
#: Required launch arguments, and argument sets that switch branches on.
REQUIRED = {"robot.launch.py": {"robot_ip": "192.168.56.101"}, "replay.launch.py": {"bag": "/data/bags/run1"}}
VARIANTS = {
    "sim.launch.py": [{}, {"scripted_pick": "true", "clock_mode": "lockstep", "seed": "7"}],
    "robot.launch.py": [{}, {"dry_run": "false", "use_mock_hardware": "true"}],
    "gazebo.launch.py": [{}, {"bridge_clock": "true", "gazebo_gui": "false"}],
    "replay.launch.py": [{}, {"control": "true", "clock": "false", "rate": "2", "loop": "true"}],
    "pipeline.launch.py": [{}, {"control": "false", "latency_end": "tracks", "use_sim_time": "true"}],
}
PIPELINE = {"perception", "policy", "commander"}


def launch(name: str, **arguments: str) -> LaunchRun:
    with stand_ins():
        return run_launch_file(LAUNCH_DIR / name, {**REQUIRED.get(name, {}), **arguments})


def local(path: str) -> Path:
    """The repository file behind a launched path (share paths map into the repository)."""
    return repo_file(path)[0].resolve()


def extrinsics_args(run: LaunchRun) -> dict[str, Path]:
    """node → extrinsics file given to the composed perception process (node-targeted -p)."""
    args = run.node("perception").ros_arguments
    assert args[::2] == ["-p"] * (len(args) // 2)
    pairs = [a.split(":extrinsics_file:=") for a in args[1::2]]
    return {node: local(path) for node, path in pairs}


def own(run: LaunchRun) -> set[str]:
    return {n.executable for n in run.nodes if n.package == "visuomotor_ros"}


def replay_missing() -> str | None:
    if not (CONFIG / "replay.yaml").is_file():
        return "config/replay.yaml does not exist yet (the replay node's params file)"
    if "replay" not in setup_nodes():
        return "setup.py has no replay executable yet"
    return None


@pytest.fixture(autouse=True)
def _temporary_files_under_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """gazebo.launch.py writes its world into a fresh temporary directory: keep those under tmp_path."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))


def test_every_launch_file_is_covered() -> None:
    assert sorted(p.name for p in LAUNCH_DIR.glob("*.launch.py")) == sorted(VARIANTS)


@pytest.mark.parametrize(
    ("name", "arguments"),
    [(name, args) for name, variants in VARIANTS.items() for args in variants],
    ids=lambda v: v if isinstance(v, str) else ",".join(f"{k}={x}" for k, x in v.items()) or "defaults",
)
def test_nodes_params_and_arguments_check_out(name: str, arguments: dict[str, str]) -> None:
    if name == "replay.launch.py" and (why := replay_missing()):
        pytest.skip(why)
    run = launch(name, **arguments)
    assert own(run) >= {"perception"}
    assert problems(run) == []


def test_sim_in_lockstep_paces_the_policy_by_frames() -> None:
    run = launch("sim.launch.py", clock_mode="lockstep", camera_rate_hz="10.0")
    assert run.node("sim").inline()["publish_rate_hz"] == 10.0
    assert run.node("policy").inline()["tick_on_tracks"] is True
    assert problems(run) == []


def test_sim_runs_the_closed_loop_on_sim_time() -> None:
    run = launch("sim.launch.py")
    assert own(run) == {"sim", *PIPELINE}
    sim = run.node("sim")
    assert sim.inline() == {"clock_mode": "realtime", "seed": 0, "publish_rate_hz": 30.0}
    assert run.node("policy").inline()["tick_on_tracks"] is True  # on each frame's tracks, at 30 Hz
    assert "use_sim_time" not in sim.inline()  # the sim is the clock
    for exe in PIPELINE:
        assert run.node(exe).inline()["use_sim_time"] is True
    # The composed monitor measures camera → command: latency_monitor.yaml after perception.yaml.
    files = [Path(f).name for f in run.node("perception").files()]
    assert files == ["perception.yaml", "latency_monitor.yaml"]
    assert run.node("commander").inline()["dry_run"] is False
    sim_extrinsics = CONFIG / "extrinsics" / "sim.yaml"
    assert extrinsics_args(run) == {"perception": sim_extrinsics, "overlay": sim_extrinsics}


def test_sim_scripted_pick_replaces_policy_and_commander() -> None:
    run = launch("sim.launch.py", scripted_pick="true", target="blue_cube", clock_mode="lockstep", seed="3")
    assert own(run) == {"sim", "perception", "scripted_pick"}
    assert run.node("scripted_pick").inline() == {"use_sim_time": True, "target_class": "blue_cube"}
    assert run.node("sim").inline() == {"clock_mode": "lockstep", "seed": 3, "publish_rate_hz": 30.0}
    with pytest.raises(ValueError, match="clock_mode:='fast' is not one of"):
        launch("sim.launch.py", clock_mode="fast")


def test_the_stack_respawns_by_default_and_the_sim_does_not() -> None:
    """kill -9 of a node of the stack: the launch restarts it after respawn_delay (not the sim: the robot)."""
    for run in (launch("sim.launch.py"), launch("robot.launch.py", camera_tf="true")):
        stack = [n for n in run.nodes if n.executable != "sim"]
        assert stack and all(n.respawn and n.respawn_delay == 1.0 for n in stack), \
            [(n.executable, n.respawn, n.respawn_delay) for n in stack]
    sim = launch("sim.launch.py", scripted_pick="true", respawn_delay="2.5")
    assert not sim.node("sim").respawn
    assert sim.node("scripted_pick").respawn and sim.node("scripted_pick").respawn_delay == 2.5
    assert sim.node("perception").respawn_delay == 2.5
    off = launch("sim.launch.py", respawn="false")
    assert not any(n.respawn for n in off.nodes)
    assert problems(off) == []
    with pytest.raises(ValueError, match=r"respawn_delay:='-1': expected seconds"):
        launch("pipeline.launch.py", respawn_delay="-1")
    with pytest.raises(ValueError, match=r"respawn:='maybe': expected true or false"):
        launch("pipeline.launch.py", respawn="maybe")


def test_robot_starts_drivers_dry_run_and_the_calibrated_camera_tf() -> None:
    run = launch("robot.launch.py")
    assert own(run) == PIPELINE
    assert run.node("commander").inline() == {"use_sim_time": False, "dry_run": True}  # safe first start
    assert launch("robot.launch.py", dry_run="false").node("commander").inline()["dry_run"] is False
    for exe in PIPELINE:
        assert Path(run.node(exe).files()[-1]).name == "robot.yaml"  # layered last

    realsense = run.include("realsense2_camera/launch/rs_launch.py").arguments
    assert realsense["align_depth.enable"] == "true" and realsense["pointcloud.enable"] == "false"
    assert realsense["rgb_camera.color_profile"] == "640x480x30"
    assert realsense["publish_tf"] == "false"  # our static TF owns the camera frame
    prefix = f"/{realsense['camera_namespace']}/{realsense['camera_name']}"
    assert detector_node.NODE_DEFAULTS["topics.color"] == f"{prefix}/color/image_raw"
    assert localiser_node.NODE_DEFAULTS["topics.depth"] == f"{prefix}/aligned_depth_to_color/image_raw"
    assert localiser_node.NODE_DEFAULTS["topics.camera_info"] == f"{prefix}/color/camera_info"

    ur = run.include("ur_robot_driver/launch/ur_control.launch.py").arguments
    assert ur["ur_type"] == "ur10e" and ur["robot_ip"] == "192.168.56.101" and ur["launch_rviz"] == "false"
    controller = ur["initial_joint_controller"]
    assert commander_node.NODE_DEFAULTS["topics.trajectory"] == f"/{controller}/joint_trajectory"

    # One extrinsics file for the localiser, the overlay and /tf_static.
    path = CONFIG / "extrinsics" / "robot.yaml"
    assert extrinsics_args(run) == {"perception": path, "overlay": path}
    tf = run.node("static_transform_publisher")
    values = dict(zip(tf.arguments[::2], tf.arguments[1::2], strict=True))
    ext = load_extrinsics(path)
    assert (values["--frame-id"], values["--child-frame-id"]) == (ext.parent_frame, ext.child_frame)
    t = [float(values[k]) for k in ("--x", "--y", "--z")]
    np.testing.assert_allclose(t, ext.translation_m, atol=1e-12)
    q_wxyz = [float(values[k]) for k in ("--qw", "--qx", "--qy", "--qz")]
    np.testing.assert_allclose(tq.quat2mat(q_wxyz), ext.rotation, atol=1e-9)


def test_robot_needs_an_address_and_a_readable_extrinsics_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="required launch argument 'robot_ip'"), stand_ins():
        run_launch_file(LAUNCH_DIR / "robot.launch.py")
    with pytest.raises(ValueError, match="robot_ip is empty"):
        launch("robot.launch.py", robot_ip=" ")
    with pytest.raises(ConfigError, match=r"cannot read the extrinsics file '/nowhere/cam\.yaml'"):
        launch("robot.launch.py", extrinsics="/nowhere/cam.yaml")
    # Read as the nodes read it (one reader): a 4×4 matrix is fine, an ambiguous file is refused.
    T = np.eye(4)
    T[:3, 3] = (0.1, 0.2, 1.0)
    matrix = tmp_path / "matrix.yaml"
    matrix.write_text(yaml.safe_dump({"parent_frame": "base_link", "child_frame": "cam",
                                      "matrix": T.tolist()}))
    tf = launch("robot.launch.py", extrinsics=str(matrix)).node("static_transform_publisher")
    values = dict(zip(tf.arguments[::2], tf.arguments[1::2], strict=True))
    np.testing.assert_allclose([float(values[k]) for k in ("--x", "--y", "--z")], T[:3, 3], atol=1e-12)
    both = tmp_path / "both.yaml"
    both.write_text(yaml.safe_dump({"parent_frame": "base_link", "child_frame": "cam",
                                    "translation_m": [0, 0, 1], "matrix": np.eye(4).tolist()}))
    with pytest.raises(ConfigError, match="translation_m must not be given with matrix"):
        launch("robot.launch.py", extrinsics=str(both))


def test_gazebo_camera_matches_the_sim_camera_and_the_bridges_land_on_our_topics() -> None:
    run = launch("gazebo.launch.py")
    assert own(run) == PIPELINE
    ur = run.include("ur_simulation_gz/launch/ur_sim_control.launch.py").arguments
    assert ur["ur_type"] == "ur10e" and ur["launch_rviz"] == "false"
    overrides = yaml.safe_load((CONFIG / "gazebo.yaml").read_text())
    assert (overrides["commander"]["ros__parameters"]["topics.trajectory"]
            == f"/{ur['initial_joint_controller']}/joint_trajectory")
    assert all(run.node(exe).inline()["use_sim_time"] is True for exe in PIPELINE)

    world = ET.parse(ur["world_file"]).getroot()
    sensor = world.find(".//sensor[@type='rgbd_camera']")
    assert sensor is not None
    assert world.find(".//plugin[@name='gz::sim::systems::Sensors']") is not None
    gz_prefix = sensor.findtext("topic")
    # Bridges: Gazebo topics (<topic>/image, /depth_image, /camera_info) → the topics our nodes read.
    image = run.node("image_bridge")
    assert image.arguments == [f"{gz_prefix}/image", f"{gz_prefix}/depth_image"]
    info = run.node("parameter_bridge")
    assert info.arguments == [f"{gz_prefix}/camera_info@sensor_msgs/msg/CameraInfo[gz.msgs.CameraInfo"]
    routes = dict(image.remappings + info.remappings)
    assert routes == {f"{gz_prefix}/image": detector_node.NODE_DEFAULTS["topics.color"],
                      f"{gz_prefix}/depth_image": localiser_node.NODE_DEFAULTS["topics.depth"],
                      f"{gz_prefix}/camera_info": localiser_node.NODE_DEFAULTS["topics.camera_info"]}
    assert latency_monitor.NODE_DEFAULTS["source_topic"] == routes[f"{gz_prefix}/camera_info"]

    # The Gazebo camera sits at the sim extrinsics' pose (link x = optical z) with the sim's intrinsics.
    ext = load_extrinsics(CONFIG / "extrinsics" / "sim.yaml")
    pose = world.find(".//model[@name='visuomotor_camera']/pose")
    assert pose is not None and pose.get("rotation_format") == "quat_xyzw"
    x, y, z, qx, qy, qz, qw = (float(v) for v in (pose.text or "").split())
    np.testing.assert_allclose([x, y, z], ext.translation_m, atol=1e-12)
    R_base_link = tq.quat2mat([qw, qx, qy, qz])
    R_optical_link = np.array([[0.0, -1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]])
    np.testing.assert_allclose(R_base_link @ R_optical_link.T, ext.rotation, atol=1e-9)
    sim = yaml.safe_load((CONFIG / "sim.yaml").read_text())["sim"]["ros__parameters"]["camera"]
    mujoco = CameraIntrinsics.from_fovy(sim["width_px"], sim["height_px"], math.radians(sim["fovy_deg"]))
    width = int(sensor.findtext("camera/image/width") or 0)
    height = int(sensor.findtext("camera/image/height") or 0)
    fx = width / 2 / math.tan(float(sensor.findtext("camera/horizontal_fov") or 0) / 2)
    assert (width, height) == (mujoco.width_px, mujoco.height_px)
    assert fx == pytest.approx(mujoco.fx_px, rel=1e-12)  # square pixels: Gazebo's fy = fx = 415.7 px
    assert float(sensor.findtext("camera/depth_camera/clip/near") or 0) == sim["min_range_m"]

    clock = launch("gazebo.launch.py", bridge_clock="true").nodes
    assert ["/clock@rosgraph_msgs/msg/Clock[gz.msgs.Clock"] in [n.arguments for n in clock]


def test_replay_feeds_the_pipeline_on_bag_time() -> None:
    if why := replay_missing():
        pytest.skip(why)
    run = launch("replay.launch.py")
    assert own(run) == {"replay", "perception"}  # perception only by default
    replay = run.node("replay")
    assert replay.files() == [f"{OWN_SHARE}/config/replay.yaml"]
    assert replay.inline() == {"bag": "/data/bags/run1", "rate": 1.0, "loop": False, "clock": True,
                               "start_offset_s": 0.0}
    # The launch defaults are replay.yaml's, except clock (on: the pipeline judges freshness on bag time).
    defaults = yaml.safe_load((CONFIG / "replay.yaml").read_text())["replay"]["ros__parameters"]
    assert {k: defaults[k] for k in ("rate", "loop", "start_offset_s")} == \
        {k: replay.inline()[k] for k in ("rate", "loop", "start_offset_s")}
    assert run.node("perception").inline()["use_sim_time"] is True
    assert Path(run.node("perception").files()[-1]).name == "replay_pipeline.yaml"

    loop = launch("replay.launch.py", control="true", clock="false", rate="2")
    assert own(loop) == {"replay", *PIPELINE}
    assert loop.node("replay").inline()["rate"] == 2.0  # an int argument still reaches a double parameter
    assert loop.node("commander").inline() == {"use_sim_time": False, "dry_run": True}
    assert "latency_monitor.yaml" in [Path(f).name for f in loop.node("perception").files()]


def test_a_parameter_the_node_does_not_declare_is_caught(tmp_path: Path) -> None:
    source = (LAUNCH_DIR / "pipeline.launch.py").read_text()
    anchor = '"dry_run": ParameterValue('
    assert source.count(anchor) == 1
    bogus = tmp_path / "pipeline.launch.py"
    bogus.write_text(source.replace(anchor, f'"bogus_param": 1.5, {anchor}'))
    with stand_ins():
        run = run_launch_file(bogus)
    found = problems(run)
    assert len(found) == 1
    assert "commander" in found[0] and "unknown parameter(s) bogus_param" in found[0]


def test_a_stray_section_or_key_in_an_overrides_file_is_caught(tmp_path: Path) -> None:
    overrides = tmp_path / "cell.yaml"
    overrides.write_text(yaml.safe_dump({
        "comander": {"ros__parameters": {"dry_run": True}},               # typo: reaches no node
        "perception": {"ros__parameters": {"tracker.gate_distance_mm": 150.0}},  # typo: unknown key
    }))
    with stand_ins():
        run = run_launch_file(LAUNCH_DIR / "pipeline.launch.py", {"overrides": str(overrides)})
    found = "\n".join(problems(run))
    assert "section(s) comander match no node" in found
    assert "unknown parameter(s) tracker.gate_distance_mm" in found


def test_an_undeclared_launch_argument_is_caught(tmp_path: Path) -> None:
    source = (LAUNCH_DIR / "sim.launch.py").read_text()
    anchor = 'LaunchConfiguration("target")'
    bogus = tmp_path / "sim.launch.py"
    bogus.write_text(source.replace(anchor, 'LaunchConfiguration("target_cube", default="red_cube")'))
    with stand_ins():
        run = run_launch_file(bogus, {"scripted_pick": "true"})
    assert problems(run) == ["sim.launch.py: launch argument(s) target_cube used but not declared"]
