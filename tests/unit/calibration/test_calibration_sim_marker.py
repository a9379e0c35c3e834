"""The sim's optional flange checkerboard: off leaves everything as it was, on it sits where it should."""

from __future__ import annotations

import dataclasses

import mujoco
import numpy as np
import pytest

from visuomotor.errors import ConfigError
from visuomotor.sim import SimConfig, SimWorld, build_mjcf
from visuomotor.sim.calibration import with_marker
from visuomotor.sim.config import CalibrationMarkerConfig
from visuomotor.sim.scene import CALIBRATION_MARKER_SITE, T_FLANGE_MARKER


def test_off_by_default_and_absent_from_the_model_and_the_parameters() -> None:
    config = SimConfig()
    assert not config.calibration_marker.enabled
    assert "calibration" not in build_mjcf(config)
    assert not any(key.startswith("calibration_marker") for key in config.to_flat_dict())
    assert SimConfig.from_flat(config.to_flat_dict()) == config


def test_enabled_marker_round_trips_through_flat_parameters() -> None:
    config = SimConfig(
        calibration_marker=CalibrationMarkerConfig(enabled=True, squares_x=9, squares_y=6, square_size_m=0.03)
    )
    flat = config.to_flat_dict()
    assert flat["calibration_marker.enabled"] is True
    assert flat["calibration_marker.squares_x"] == 9
    assert SimConfig.from_flat(flat) == config


@pytest.mark.parametrize(
    ("flat", "match"),
    [
        ({"calibration_marker.squares_y": 8}, r"calibration_marker\.squares_x \+ squares_y must be odd"),
        ({"calibration_marker.squares_x": 2}, r"calibration_marker\.squares_x must be in \[3, 20\]"),
        ({"calibration_marker.square_size_m": 0.5}, r"calibration_marker\.square_size_m must be in"),
    ],
)
def test_bad_marker_values_name_the_key(flat: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        SimConfig.from_flat(flat)


def test_marker_rides_on_the_flange_and_leaves_the_physics_alone() -> None:
    plain = SimWorld()
    marked = SimWorld(with_marker(SimConfig()))
    site = mujoco.mj_name2id(marked.model, mujoco.mjtObj.mjOBJ_SITE, CALIBRATION_MARKER_SITE)
    q = np.array([0.3, -1.9, 1.7, -1.2, -1.3, 0.4])
    for world in (plain, marked):
        world.teleport_arm(q)
    T_site = np.eye(4)
    T_site[:3, :3] = marked.data.site_xmat[site].reshape(3, 3)
    T_site[:3, 3] = marked.data.site_xpos[site]
    np.testing.assert_allclose(T_site, marked.flange_pose() @ T_FLANGE_MARKER, atol=1e-12)
    # Same masses, same contacts: a second of a moving arm (and settling cubes) is identical.
    np.testing.assert_array_equal(plain.model.body_subtreemass[0], marked.model.body_subtreemass[0])
    for world in (plain, marked):
        world.set_arm_targets(q + 0.2)
        world.step(500)
    np.testing.assert_allclose(marked.data.qpos, plain.data.qpos, atol=1e-12, rtol=0.0)


def test_with_marker_scales_the_image_but_not_the_camera_pose() -> None:
    base = SimConfig()
    config = with_marker(base, render_scale=2)
    assert config.camera.width_px == 1280 and config.camera.height_px == 960
    assert config.calibration_marker.enabled
    assert dataclasses.replace(config, camera=base.camera, calibration_marker=base.calibration_marker) == base
    np.testing.assert_allclose(
        SimWorld(config).T_base_link_camera, SimWorld(base).T_base_link_camera, atol=1e-12
    )
