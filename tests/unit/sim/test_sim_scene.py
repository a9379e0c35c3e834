"""The generated MJCF: DH forward kinematics equals MuJoCo's flange site; the measured physics settings."""

from __future__ import annotations

import math

import mujoco
import numpy as np
import pytest

from visuomotor.kinematics import T_FLANGE_TCP, UR10E_JOINT_LIMITS_RAD, UR10E_JOINT_NAMES, Ur10eKinematics
from visuomotor.sim import SimConfig, SimWorld, build_mjcf
from visuomotor.sim.scene import GRIPPER_ACTUATOR


@pytest.fixture(scope="module")
def world() -> SimWorld:
    return SimWorld()


def test_dh_forward_kinematics_matches_the_mujoco_flange_site(world: SimWorld) -> None:
    kin = Ur10eKinematics()
    rng = np.random.default_rng(0)
    qs = rng.uniform(UR10E_JOINT_LIMITS_RAD[:, 0], UR10E_JOINT_LIMITS_RAD[:, 1], size=(250, 6))
    worst_p = worst_r = 0.0
    for q in qs:
        world.teleport_arm(q)
        T_sim = world.flange_pose()
        T_dh = kin.forward_flange(q)
        worst_p = max(worst_p, float(np.linalg.norm(T_sim[:3, 3] - T_dh[:3, 3])))
        cos_angle = (np.trace(T_dh[:3, :3].T @ T_sim[:3, :3]) - 1.0) / 2.0
        worst_r = max(worst_r, math.acos(min(1.0, cos_angle)))
        # The TCP site is the flange composed with the published tool transform.
        np.testing.assert_allclose(world.tcp_pose(), T_sim @ T_FLANGE_TCP, atol=1e-9)
    assert worst_p < 1e-6, worst_p
    assert worst_r < 1e-6, worst_r
    world.reset()


def test_model_carries_the_measured_physics_settings(world: SimWorld) -> None:
    m = world.model
    assert m.opt.timestep == pytest.approx(0.002)
    assert m.opt.integrator == mujoco.mjtIntegrator.mjINT_IMPLICITFAST
    assert m.opt.cone == mujoco.mjtCone.mjCONE_ELLIPTIC
    assert m.opt.solver == mujoco.mjtSolver.mjSOL_NEWTON
    assert m.opt.impratio == pytest.approx(10.0)
    assert m.opt.noslip_iterations == 3
    for i, name in enumerate(UR10E_JOINT_NAMES):
        j = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_JOINT, name)
        np.testing.assert_allclose(m.jnt_range[j], UR10E_JOINT_LIMITS_RAD[i])
        assert m.body_gravcomp[m.jnt_bodyid[j]] == 1.0
        a = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_ACTUATOR, name.removesuffix("_joint"))
        assert m.actuator_gainprm[a, 0] in (5000.0, 1000.0)
    g = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_ACTUATOR, GRIPPER_ACTUATOR)
    np.testing.assert_allclose(m.actuator_forcerange[g], [-40.0, 40.0])
    for side in ("left", "right"):
        pad = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_GEOM, f"pad_{side}")
        assert m.geom_condim[pad] == 4
        np.testing.assert_allclose(m.geom_friction[pad], [1.0, 0.005, 0.0001])
        np.testing.assert_allclose(m.geom_solref[pad], [0.01, 1.0])
        np.testing.assert_allclose(m.geom_size[pad], [0.0125, 0.002, 0.0125])


def test_table_top_is_z_zero_and_the_robot_stands_at_the_origin(world: SimWorld) -> None:
    m, d = world.model, world.data
    table = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_GEOM, "table")
    assert d.geom_xpos[table][2] + m.geom_size[table][2] == pytest.approx(0.0)
    base = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, "base")
    np.testing.assert_allclose(d.xpos[base], 0.0)
    # base = base_link rotated π about z.
    np.testing.assert_allclose(d.xmat[base].reshape(3, 3), np.diag([-1.0, -1.0, 1.0]), atol=1e-12)


def test_mjcf_scales_with_the_config() -> None:
    cfg = SimConfig.from_flat({"scene.num_cubes": 5, "camera.width_px": 320, "camera.height_px": 240})
    model = mujoco.MjModel.from_xml_string(build_mjcf(cfg))
    names = [model.body(i).name for i in range(model.nbody)]
    assert [n for n in names if "cube" in n] == [
        "red_cube_0",
        "green_cube_1",
        "blue_cube_2",
        "red_cube_3",
        "green_cube_4",
    ]
    assert (model.vis.global_.offwidth, model.vis.global_.offheight) == (320, 240)
