"""The conveyor belt: off by default (the pick scene unchanged), carries cubes at the set speed, seeded."""

from __future__ import annotations

import numpy as np
import pytest

from visuomotor.errors import ConfigError, SimError
from visuomotor.sim import SimConfig, SimWorld, build_mjcf
from visuomotor.sim.config import ConveyorConfig, SceneConfig
from visuomotor.sim.scene import CONVEYOR_NAME, CONVEYOR_TOP_M


@pytest.fixture(scope="module")
def world() -> SimWorld:
    w = SimWorld(SimConfig(conveyor=ConveyorConfig(speed_m_s=0.1)))
    yield w
    w.close()


def test_no_belt_by_default_and_the_pick_scene_is_unchanged() -> None:
    assert CONVEYOR_NAME not in build_mjcf(SimConfig())
    plain = SimWorld()
    assert plain.conveyor_speed_m_s == 0.0 and plain.conveyor_cube_indices() == ()
    with pytest.raises(SimError, match="no conveyor"):
        plain.set_conveyor_speed(0.1)
    # The default scene's cubes lie where they always did (seed 0): the belt code draws nothing then.
    before = [o.position_m.copy() for o in plain.objects()]
    plain.step(200)
    assert all(np.allclose(o.position_m, p, atol=1e-4) for o, p in zip(plain.objects(), before, strict=True))


@pytest.mark.parametrize("speed", [0.05, 0.1, 0.15])
def test_the_belt_carries_its_cube_at_the_set_speed(world: SimWorld, speed: float) -> None:
    world.reset(3)
    world.set_conveyor_speed(speed)
    (k,) = world.conveyor_cube_indices()
    p0 = world.objects()[k].position_m.copy()
    world.step(500)  # 1 s
    p1 = world.objects()[k].position_m
    np.testing.assert_allclose(p1 - p0, [0.0, speed * 1.0, 0.0], atol=1e-3)
    np.testing.assert_allclose(world.cube_velocities()[k], [0.0, speed, 0.0], atol=1e-4)
    others = [i for i in range(len(world.objects()) - 1) if i != k]
    assert np.abs(world.cube_velocities()[others]).max() < 1e-3  # table cubes stay put
    world.set_conveyor_speed(0.1)


def test_seeded_placement_on_and_off_the_belt(world: SimWorld) -> None:
    c = world.config.conveyor
    for seed in range(5):
        world.reset(seed)
        objects = world.objects()
        (k,) = world.conveyor_cube_indices()
        cube = objects[k]
        assert abs(cube.position_m[0] - c.center_x_m) <= c.x_jitter_m + 1e-9
        assert c.spawn_y_m[0] <= cube.position_m[1] <= c.spawn_y_m[1]
        assert cube.position_m[2] == pytest.approx(CONVEYOR_TOP_M + world.config.scene.cube_size_m / 2)
        for i, o in enumerate(objects[:-1]):
            if i != k:  # table cubes keep clear of the belt
                assert abs(o.position_m[0] - c.center_x_m) >= c.width_m / 2 + 0.75 * o.size_m - 1e-9
        again = SimWorld(world.config)
        again.reset(seed)
        assert again.conveyor_cube_indices() == (k,)
        np.testing.assert_array_equal(again.objects()[k].position_m, cube.position_m)


def test_an_unpicked_cube_falls_off_the_belt_end(world: SimWorld) -> None:
    world.reset(1)
    world.set_conveyor_speed(0.15)
    (k,) = world.conveyor_cube_indices()
    world.step(round(9.0 / 0.002))  # ≥ 1.0 m at 0.15 m/s: past the end of the belt (the table edge)
    assert world.objects()[k].position_m[2] < -0.1
    world.set_conveyor_speed(0.1)


def test_two_belt_cubes_queue_up_spaced() -> None:
    w = SimWorld(SimConfig(conveyor=ConveyorConfig(speed_m_s=0.1, cubes=2, spawn_y_m=(0.1, 0.2))))
    w.reset(0)
    lead, second = w.conveyor_cube_indices()
    objects = w.objects()
    dy = objects[lead].position_m[1] - objects[second].position_m[1]
    assert dy == pytest.approx(w.config.conveyor.spacing_m)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"speed_m_s": -0.1}, r"conveyor\.speed_m_s must be in \[0, 0\.5\]"),
        ({"width_m": 0.01}, r"conveyor\.width_m"),
        ({"y_range_m": (0.5, 0.1)}, r"conveyor\.y_range_m must be \[min, max\]"),
        ({"cubes": 0}, r"conveyor\.cubes must be in \[1, 12\]"),
        ({"cubes": 5, "spacing_m": 0.3}, r"does not fit on the belt"),
        ({"x_jitter_m": 0.1}, r"conveyor\.x_jitter_m"),
    ],
)
def test_conveyor_config_errors_name_the_key(kwargs: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        ConveyorConfig(**kwargs)


def test_more_belt_cubes_than_cubes_is_an_error() -> None:
    with pytest.raises(ConfigError, match=r"conveyor\.cubes \(4\) cannot exceed scene\.num_cubes \(3\)"):
        SimConfig(scene=SceneConfig(num_cubes=3), conveyor=ConveyorConfig(cubes=4, spawn_y_m=(0.7, 0.8)))
    flat = SimConfig.from_flat({"conveyor.speed_m_s": 0.1}).to_flat_dict()
    assert flat["conveyor.speed_m_s"] == 0.1 and flat["conveyor.y_range_m"] == [-0.25, 0.9]
