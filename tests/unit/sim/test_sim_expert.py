"""The scripted pick in real physics: the grasp holds through a 10 cm lift, the cube ends in the bin."""

from __future__ import annotations

import math

import mujoco
import numpy as np
import pytest

from visuomotor.errors import ConfigError
from visuomotor.kinematics import UR10E_JOINT_NAMES, Ur10eKinematics
from visuomotor.sim import ObjectState, SimWorld
from visuomotor.sim.expert import (
    PickParams,
    ScriptedPick,
    execute_waypoints,
    to_phase_commands,
    to_trajectory,
)

PHASES = ["approach", "descend", "settle", "close", "lift", "carry", "release"]


def _yaw(obj: ObjectState) -> float:
    R = np.zeros(9)
    mujoco.mju_quat2Mat(R, obj.quat_wxyz)
    return math.atan2(R[3], R[0])


def _plan(world: SimWorld, cube_index: int, params: PickParams | None = None) -> list:
    cube, bin_state = world.objects()[cube_index], world.objects()[-1]
    expert = ScriptedPick(params=params)
    return expert.plan(
        cube.position_m,
        _yaw(cube),
        bin_state.position_m,
        world.joint_positions(),
        bin_height_m=float(bin_state.extent_m[2]),
        cube_size_m=cube.size_m,
    )


@pytest.mark.parametrize(("seed", "cube_index"), [(0, 0), (1, 1), (2, 2), (3, 0)])
def test_grasped_cube_lifts_ten_centimetres_without_slipping(seed: int, cube_index: int) -> None:
    world = SimWorld()
    world.reset(seed)
    waypoints = _plan(world, cube_index, PickParams(lift_height_m=0.10))
    phases = to_phase_commands(waypoints)
    dt = world.model.opt.timestep
    for cmd in phases[:4]:  # approach, descend, settle, close
        world.set_gripper(cmd.gripper)
        world.follow_trajectory(cmd.trajectory)
        world.step(round(cmd.duration_s / dt))
    assert 0.35 < world.gripper_closure() < 0.55  # stopped by the 5 cm cube, not closed on air

    def cube_in_tcp() -> tuple[np.ndarray, float]:
        T, p = world.tcp_pose(), world.objects()[cube_index].position_m
        return T[:3, :3].T @ (p - T[:3, 3]), float(p[2])

    rel0, z0 = cube_in_tcp()
    lift = phases[4]
    assert lift.phase == "lift"
    world.follow_trajectory(lift.trajectory)
    world.step(round((lift.duration_s + 0.3) / dt))
    rel1, z1 = cube_in_tcp()
    assert z1 - z0 >= 0.095
    assert np.linalg.norm(rel1 - rel0) < 1e-3


def test_full_pick_drops_the_cube_into_the_bin() -> None:
    world = SimWorld()
    world.reset(7)
    execute_waypoints(world, _plan(world, 1))
    world.step(round(0.5 / world.model.opt.timestep))
    cube, bin_state = world.objects()[1], world.objects()[-1]
    inner_half = bin_state.extent_m[:2] / 2 - 0.01 - cube.size_m / 2
    assert (np.abs(cube.position_m[:2] - bin_state.position_m[:2]) <= inner_half + 1e-3).all()
    floor_top = bin_state.position_m[2] - bin_state.extent_m[2] / 2 + 0.01
    assert cube.position_m[2] == pytest.approx(floor_top + cube.size_m / 2, abs=2e-3)
    others = world.objects()[0].position_m, world.objects()[2].position_m
    assert all(p[2] == pytest.approx(0.025, abs=1e-3) for p in others)  # untouched


def test_waypoints_are_top_down_yaw_aligned_and_consistent_with_fk() -> None:
    world = SimWorld()
    world.reset(3)
    waypoints = _plan(world, 0)
    assert [w.phase for w in waypoints] == PHASES
    assert [w.gripper for w in waypoints] == [0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0]
    assert waypoints[2].duration_s == pytest.approx(0.3)  # settle, then close
    kin = Ur10eKinematics(T_flange_tcp=world.T_FLANGE_TCP)
    cube_yaw = _yaw(world.objects()[0])
    for w in waypoints:
        np.testing.assert_allclose(kin.forward(w.q_rad), w.T_base_link_tcp, atol=1e-9)
        assert w.T_base_link_tcp[2, 2] == pytest.approx(-1.0)  # tool z straight down
        closing_yaw = math.atan2(w.T_base_link_tcp[1, 1], w.T_base_link_tcp[0, 1])
        diff = (closing_yaw - cube_yaw) % (math.pi / 2)
        assert min(diff, math.pi / 2 - diff) < 1e-9  # fingers square to the cube faces
    grasp = waypoints[1].T_base_link_tcp[:3, 3]
    np.testing.assert_allclose(grasp, world.objects()[0].position_m, atol=1e-12)
    # Nearest-solution IK: the first move does not swing any joint around.
    assert np.abs(waypoints[0].q_rad - world.joint_positions()).max() < math.pi


def test_trajectory_helpers() -> None:
    world = SimWorld()
    waypoints = _plan(world, 2)
    traj = to_trajectory(waypoints)
    assert traj.joint_names == UR10E_JOINT_NAMES
    np.testing.assert_allclose(traj.times_s, np.cumsum([w.duration_s for w in waypoints]))
    np.testing.assert_array_equal(traj.positions, np.stack([w.q_rad for w in waypoints]))
    assert traj.velocities is not None and not traj.velocities.any()
    phases = to_phase_commands(waypoints)
    assert [p.phase for p in phases] == PHASES
    assert all(p.trajectory.times_s.tolist() == [p.duration_s] for p in phases)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"approach_height_m": 0.0}, r"PickParams\.approach_height_m must be a positive"),
        ({"max_joint_speed_rad_s": math.nan}, r"PickParams\.max_joint_speed_rad_s"),
        ({"settle_s": -0.1}, r"PickParams\.settle_s must be ≥ 0"),
    ],
)
def test_pick_params_validation(kwargs: dict[str, float], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        PickParams(**kwargs)
