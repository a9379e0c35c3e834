"""SimWorld with real physics: reset, placement, holding, trajectories to IK targets, commands."""

from __future__ import annotations

import math

import mujoco
import numpy as np
import pytest

from visuomotor.errors import SimError, TrajectoryRejected
from visuomotor.kinematics import UR10E_JOINT_NAMES, Ur10eKinematics
from visuomotor.sim import (
    GripperCommandError,
    JointTrajectoryCommand,
    SceneConfig,
    SimConfig,
    SimWorld,
    top_down_tcp_pose,
)


@pytest.fixture()
def world() -> SimWorld:
    return SimWorld()


def _yaw(quat_wxyz: np.ndarray) -> float:
    R = np.zeros(9)
    mujoco.mju_quat2Mat(R, quat_wxyz)
    return math.atan2(R[3], R[0])


def _steps(world: SimWorld, seconds: float) -> int:
    return round(seconds / world.model.opt.timestep)


def test_reset_is_deterministic_per_seed(world: SimWorld) -> None:
    world.reset(5)
    first = world.data.qpos.copy()
    world.step(200)
    world.set_gripper(1.0)
    world.reset(5)
    np.testing.assert_array_equal(world.data.qpos, first)
    assert world.time_s == 0.0
    np.testing.assert_array_equal(SimWorld().data.qpos, SimWorld(SimConfig(seed=0)).data.qpos)
    other = SimWorld()
    other.reset(5)
    np.testing.assert_array_equal(other.data.qpos, first)
    other.reset(6)
    moved = [
        np.linalg.norm(a.position_m - b.position_m)
        for a, b in zip(other.objects(), world.objects(), strict=True)
    ]
    assert max(moved[:-1]) > 0.01  # cubes moved; the bin is fixed
    assert moved[-1] == 0.0


def test_reset_places_cubes_apart_on_the_table_in_view_and_reachable() -> None:
    world = SimWorld(SimConfig(scene=SceneConfig(num_cubes=6)))
    scene, K = world.config.scene, world.intrinsics
    kin = Ur10eKinematics(T_flange_tcp=world.T_FLANGE_TCP)
    T_cam = world.T_base_link_camera
    yaws = []
    for seed in range(15):
        world.reset(seed)
        cubes = [o for o in world.objects() if o.class_name != "bin"]
        assert len(cubes) == 6
        xy = np.array([c.position_m[:2] for c in cubes])
        assert (xy[:, 0] >= scene.workspace_x_m[0]).all() and (xy[:, 0] <= scene.workspace_x_m[1]).all()
        assert (xy[:, 1] >= scene.workspace_y_m[0]).all() and (xy[:, 1] <= scene.workspace_y_m[1]).all()
        dist = np.linalg.norm(xy[:, None] - xy[None], axis=-1) + np.eye(6)
        assert dist.min() >= scene.min_cube_separation_m
        for c in cubes:
            assert c.position_m[2] == pytest.approx(scene.cube_size_m / 2, abs=1e-9)
            p_cam = T_cam[:3, :3].T @ (c.position_m - T_cam[:3, 3])
            u, v = K.project(p_cam)
            assert 0 < u < K.width_px - 1 and 0 < v < K.height_px - 1
            assert kin.inverse(top_down_tcp_pose(c.position_m, _yaw(c.quat_wxyz))).shape[0] > 0
            yaws.append(_yaw(c.quat_wxyz))
    assert np.ptp(np.mod(yaws, math.pi / 2)) > 1.0  # yaw is random, not fixed


def test_reset_state_and_objects(world: SimWorld) -> None:
    np.testing.assert_allclose(world.joint_positions(), world.config.scene.home_q_rad)
    np.testing.assert_array_equal(world.joint_velocities(), np.zeros(6))
    assert world.gripper_closure() == 0.0
    assert world.joint_names == UR10E_JOINT_NAMES
    objs = world.objects()
    assert [o.class_name for o in objs] == ["red_cube", "green_cube", "blue_cube", "bin"]
    assert [o.name for o in objs] == ["red_cube_0", "green_cube_1", "blue_cube_2", "bin"]
    bin_state = objs[-1]
    np.testing.assert_allclose(bin_state.position_m, [0.55, -0.45, 0.05])
    np.testing.assert_allclose(bin_state.extent_m, [0.3, 0.3, 0.1])
    assert bin_state.size_m == 0.3 and objs[0].size_m == 0.05
    with pytest.raises(ValueError, match="read-only"):
        objs[0].position_m[0] = 1.0
    # TCP at home points down, above the table.
    T = world.tcp_pose()
    assert T[2, 3] > 0.3 and T[2, 2] < -0.99


def test_arm_holds_its_pose_under_gravity_with_a_cube_resting(world: SimWorld) -> None:
    world.step(_steps(world, 1.0))
    np.testing.assert_allclose(world.joint_positions(), world.config.scene.home_q_rad, atol=1e-5)
    for o in world.objects()[:-1]:
        assert o.position_m[2] == pytest.approx(0.025, abs=5e-4)


@pytest.mark.parametrize("with_velocities", [True, False])
def test_trajectory_to_an_ik_target_is_reached_within_one_mrad(
    world: SimWorld, with_velocities: bool
) -> None:
    kin = Ur10eKinematics(T_flange_tcp=world.T_FLANGE_TCP)
    T_goal = top_down_tcp_pose(np.array([0.65, 0.25, 0.3]), 0.4)
    q_goal = kin.nearest(T_goal, world.joint_positions())
    traj = JointTrajectoryCommand(
        UR10E_JOINT_NAMES,
        np.array([2.0]),
        q_goal[None],
        np.zeros((1, 6)) if with_velocities else None,
    )
    world.follow_trajectory(traj)
    world.step(_steps(world, 1.0))
    assert world.trajectory_active()
    assert np.abs(world.joint_positions() - q_goal).max() > 0.05  # still on its way
    world.step(_steps(world, 1.6))  # 2 s trajectory + 0.6 s to settle
    assert not world.trajectory_active()
    np.testing.assert_allclose(world.joint_positions(), q_goal, atol=1e-3, rtol=0)
    np.testing.assert_allclose(world.tcp_pose()[:3, 3], T_goal[:3, 3], atol=2e-3)


def test_set_arm_targets_moves_the_arm_and_rejections_keep_the_command(world: SimWorld) -> None:
    q = np.array(world.config.scene.home_q_rad) + np.array([0.2, 0.1, -0.1, 0.1, 0.1, 0.3])
    world.set_arm_targets(q)
    np.testing.assert_array_equal(world.arm_command(), q)
    for bad, match in (
        (np.zeros(7), r"shape \(6,\)"),
        (np.full(6, np.inf), "NaN or inf"),
        (np.array([0, 0, 4.0, 0, 0, 0]), "elbow_joint = 4.0000 rad is outside"),
    ):
        with pytest.raises(TrajectoryRejected, match=match):
            world.set_arm_targets(bad)
        with pytest.raises(TrajectoryRejected, match=match):
            world.teleport_arm(bad)
    np.testing.assert_array_equal(world.arm_command(), q)
    world.step(_steps(world, 0.8))
    np.testing.assert_allclose(world.joint_positions(), q, atol=1e-3)


def test_rejected_trajectory_keeps_the_previous_command(world: SimWorld) -> None:
    home = np.array(world.config.scene.home_q_rad)
    world.follow_trajectory(JointTrajectoryCommand(UR10E_JOINT_NAMES, [1.0], [home + 0.2]))
    world.step(100)
    before = world.arm_command()
    with pytest.raises(TrajectoryRejected, match=r"missing \['wrist_3_joint'\]"):
        world.follow_trajectory(JointTrajectoryCommand(UR10E_JOINT_NAMES[:5], [1.0], [home[:5]]))
    np.testing.assert_array_equal(world.arm_command(), before)
    assert world.trajectory_active()


def test_gripper_commands_and_measured_closure(world: SimWorld) -> None:
    world.teleport_arm(np.array([-0.4, -2.0, 1.6, -1.2, -1.5708, 0.0]))  # fingers clear of everything
    world.set_gripper(1.0)
    world.step(_steps(world, 0.6))
    assert world.gripper_closure() == pytest.approx(1.0, abs=0.01)
    world.set_gripper(0.5)
    world.step(_steps(world, 0.6))
    assert world.gripper_closure() == pytest.approx(0.5, abs=0.01)
    for bad in (-0.1, 1.01, math.nan, math.inf):
        with pytest.raises(GripperCommandError, match=r"must be in \[0, 1\]"):
            world.set_gripper(bad)
    with pytest.raises(ValueError, match="must be a number"):
        world.set_gripper("closed")  # type: ignore[arg-type]
    world.step(_steps(world, 0.2))
    assert world.gripper_closure() == pytest.approx(0.5, abs=0.01)  # the last valid command stands
    world.set_gripper(0.0)
    world.step(_steps(world, 0.6))
    assert world.gripper_closure() == pytest.approx(0.0, abs=0.01)


def test_step_argument_and_time(world: SimWorld) -> None:
    with pytest.raises(ValueError, match="n ≥ 0"):
        world.step(-1)
    with pytest.raises(ValueError, match="seed ≥ 0"):
        world.reset(-3)
    world.step(0)
    assert world.time_s == 0.0
    world.step(10)
    assert world.time_s == pytest.approx(0.02)


def test_placement_failure_is_a_clear_sim_error() -> None:
    cfg = SimConfig.from_flat(
        {"scene.num_cubes": 12, "scene.workspace_x_m": [0.5, 0.6], "scene.workspace_y_m": [0.0, 0.1]}
    )
    with pytest.raises(SimError, match="could not place 12 cubes"):
        SimWorld(cfg)


def test_colour_jitter_varies_within_class() -> None:
    world = SimWorld(SimConfig.from_flat({"scene.cube_color_jitter": 0.1}))
    geoms = [mujoco.mj_name2id(world.model, mujoco.mjtObj.mjOBJ_GEOM, o.name) for o in world.objects()[:3]]
    first = world.model.geom_rgba[geoms].copy()
    world.reset(1)
    second = world.model.geom_rgba[geoms].copy()
    assert np.abs(first - second).max() > 1e-3
    for rgba in (first, second):
        assert [int(c[:3].argmax()) for c in rgba] == [0, 1, 2]
