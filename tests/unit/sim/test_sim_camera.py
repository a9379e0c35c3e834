"""Rendering (EGL): frame format, camera frame, deprojection against MuJoCo ray casts, the noise model."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import mujoco
import numpy as np
import pytest

from visuomotor.geometry import deproject_pixel, depth_to_metres
from visuomotor.sim import SimConfig, SimWorld
from visuomotor.sim.camera import depth_sigma_m, make_depth_image
from visuomotor.sim.config import CameraConfig, DepthNoiseConfig

CAM = CameraConfig()


@pytest.fixture(scope="module")
def world() -> Iterator[SimWorld]:
    with SimWorld() as w:
        yield w


def _ray_hit(world: SimWorld, u: int, v: int) -> tuple[np.ndarray, int]:
    """Where the ray through pixel (u, v) first hits a geom, and which geom (base_link)."""
    K, T = world.intrinsics, world.T_base_link_camera
    direction = T[:3, :3] @ np.array([(u - K.cx_px) / K.fx_px, (v - K.cy_px) / K.fy_px, 1.0])
    direction /= np.linalg.norm(direction)
    geom = np.array([-1], dtype=np.int32)
    dist = mujoco.mj_ray(world.model, world.data, T[:3, 3].copy(), direction, None, 1, -1, geom)
    return T[:3, 3] + dist * direction, int(geom[0])


def _deprojected(world: SimWorld, depth_m: np.ndarray, u: int, v: int) -> np.ndarray:
    T = world.T_base_link_camera
    return T[:3, :3] @ deproject_pixel(u, v, float(depth_m[v, u]), world.intrinsics) + T[:3, 3]


def test_frame_shapes_dtypes_and_consistent_units(world: SimWorld) -> None:
    world.reset(0)
    f = world.render()
    assert f.rgb.shape == (480, 640, 3) and f.rgb.dtype == np.uint8
    assert f.depth_mm.shape == (480, 640) and f.depth_mm.dtype == np.uint16
    assert f.depth_m.shape == (480, 640) and f.depth_m.dtype == np.float32
    assert f.time_s == world.time_s
    valid = f.depth_mm > 0
    assert valid.mean() > 0.95  # table and floor fill the view
    np.testing.assert_array_equal(np.isnan(f.depth_m), ~valid)
    np.testing.assert_allclose(f.depth_m[valid], f.depth_mm[valid] * 1e-3, rtol=1e-6)
    np.testing.assert_array_equal(depth_to_metres(f.depth_mm, "16UC1"), f.depth_m)
    assert CAM.min_range_m <= np.nanmin(f.depth_m) and np.nanmax(f.depth_m) <= CAM.max_range_m
    assert f.rgb.std() > 20
    with pytest.raises(ValueError, match="read-only"):
        f.depth_mm[0, 0] = 1


def test_intrinsics_and_optical_frame(world: SimWorld) -> None:
    K = world.intrinsics
    assert (K.width_px, K.height_px) == (640, 480)
    assert 380 <= K.fx_px <= 430 and K.fx_px == K.fy_px
    assert (K.cx_px, K.cy_px) == (319.5, 239.5)
    T = world.T_base_link_camera
    np.testing.assert_allclose(T[:3, 3], CAM.position_m, atol=1e-9)
    forward = np.subtract(CAM.look_at_m, CAM.position_m)
    np.testing.assert_allclose(T[:3, 2], forward / np.linalg.norm(forward), atol=1e-9)
    assert abs(T[2, 0]) < 1e-9  # x right stays horizontal: no roll
    assert T[2, 1] < 0  # image y points down in the world
    assert np.linalg.det(T[:3, :3]) == pytest.approx(1.0)


def test_cubes_bin_and_gripper_are_in_view_with_their_colours(world: SimWorld) -> None:
    world.reset(2)
    f = world.render()
    K, T = world.intrinsics, world.T_base_link_camera
    expected_channel = {"red_cube": 0, "green_cube": 1, "blue_cube": 2}
    # (object, a point on its camera-facing surface, depth tolerance in m)
    points = [(o, o.position_m + np.array([0, 0, o.extent_m[2] / 2]), 0.005) for o in world.objects()[:-1]]
    bin_state = world.objects()[-1]
    points.append(
        (bin_state, bin_state.position_m - np.array([0, 0, bin_state.extent_m[2] / 2 - 0.01]), 0.005)
    )
    palm_centre = (world.flange_pose() @ [0, 0, 0.05, 1])[:3]  # the 40 mm thick palm box
    points.append((None, palm_centre, 0.08))
    for obj, p, tol in points:
        p_cam = T[:3, :3].T @ (p - T[:3, 3])
        u, v = np.rint(K.project(p_cam)).astype(int)
        assert 0 <= u < 640 and 0 <= v < 480
        # Rendered depth at that pixel is the object's, not the table or floor behind it.
        assert abs(f.depth_m[v, u] - p_cam[2]) < tol, (obj, f.depth_m[v, u], p_cam[2])
        if obj is not None and obj.class_name in expected_channel:
            assert int(f.rgb[v, u].argmax()) == expected_channel[obj.class_name]


def test_deprojected_cube_pixels_land_on_the_ray_hit_point(world: SimWorld) -> None:
    world.reset(4)
    f = world.render()
    K, T = world.intrinsics, world.T_base_link_camera
    cube_geoms = {
        mujoco.mj_name2id(world.model, mujoco.mjtObj.mjOBJ_GEOM, o.name) for o in world.objects()[:-1]
    }
    checked, worst = 0, 0.0
    for obj in world.objects()[:-1]:
        p_cam = T[:3, :3].T @ (obj.position_m - T[:3, 3])
        u0, v0 = np.rint(K.project(p_cam)).astype(int)
        for du in range(-3, 4):
            for dv in range(-3, 4):
                u, v = u0 + du, v0 + dv
                hit, geom = _ray_hit(world, u, v)
                if geom not in cube_geoms:
                    continue
                footprint = f.depth_m[v, u] / K.fx_px
                err = float(np.linalg.norm(_deprojected(world, f.depth_m, u, v) - hit))
                assert err < footprint, (obj.name, u, v, err, footprint)
                checked, worst = checked + 1, max(worst, err / footprint)
    assert checked >= 3 * 20
    assert worst < 0.5  # in practice mm quantisation only


def test_deprojection_matches_ray_casts_across_the_image(world: SimWorld) -> None:
    world.reset(1)
    f = world.render()
    rng = np.random.default_rng(0)
    checked = 0
    for u, v in zip(rng.integers(1, 639, 300), rng.integers(1, 479, 300), strict=True):
        hit, geom = _ray_hit(world, u, v)
        # Skip silhouettes: rasterisation and ray casting may pick different sides of an edge.
        if geom < 0 or any(_ray_hit(world, u + a, v + b)[1] != geom for a in (-1, 1) for b in (-1, 1)):
            continue
        err = float(np.linalg.norm(_deprojected(world, f.depth_m, u, v) - hit))
        assert err < f.depth_m[v, u] / world.intrinsics.fx_px, (u, v, geom, err)
        checked += 1
    assert checked > 200


def test_noisy_render_has_holes_at_edges_and_range_growing_noise() -> None:
    exact_world = SimWorld()
    noisy_world = SimWorld(SimConfig.from_flat({"depth_noise.enabled": True}))
    try:
        exact = exact_world.render().depth_m
        noisy = noisy_world.render()
        again = noisy_world.render()
        noisy_world.reset(0)
        np.testing.assert_array_equal(noisy_world.render().depth_mm, noisy.depth_mm)  # seeded per reset
    finally:
        exact_world.close()
        noisy_world.close()
    assert not np.array_equal(noisy.depth_mm, again.depth_mm)
    edge_holes = np.isnan(noisy.depth_m) & ~np.isnan(exact)
    assert edge_holes.sum() > 100
    both = ~np.isnan(noisy.depth_m) & ~np.isnan(exact)
    err = (noisy.depth_m - exact)[both]
    z = exact[both]
    near, far = err[(z > 1.2) & (z < 1.6)], err[(z > 2.5) & (z < 4.0)]
    assert near.size > 1000 and far.size > 1000
    assert far.std() > 2 * near.std()


@pytest.mark.parametrize("z", [1.0, 2.0, 4.0])
def test_noise_sigma_follows_the_model(z: float) -> None:
    noise = DepthNoiseConfig(enabled=True, edge_hole_probability=0.0, random_hole_probability=0.0)
    depth_mm, depth_m = make_depth_image(np.full((200, 200), z), CAM, noise, np.random.default_rng(1))
    err = depth_m.astype(np.float64) - z
    sigma = float(depth_sigma_m(np.array(z), noise))
    assert err.std() == pytest.approx(sigma, rel=0.1)
    assert abs(err.mean()) < sigma / 5
    assert sigma / z <= 0.02  # D455: ≤ 2 % at 4 m
    assert (depth_mm > 0).all()


def test_noise_sigma_grows_with_range() -> None:
    noise = DepthNoiseConfig()
    sigmas = depth_sigma_m(np.array([0.5, 1.0, 2.0, 4.0]), noise)
    assert (np.diff(sigmas) > 0).all()
    assert sigmas[3] == pytest.approx(0.0005 + 0.002 * 16)


def test_holes_appear_at_depth_discontinuities_only() -> None:
    step = np.full((100, 100), 1.0)
    step[:, 50:] = 1.5
    noise = DepthNoiseConfig(
        enabled=True, sigma_base_m=0.0, sigma_scale_per_m=0.0, random_hole_probability=0.0
    )
    depth_mm, _ = make_depth_image(step, CAM, noise, np.random.default_rng(2))
    holes = depth_mm == 0
    assert not holes[:, :49].any() and not holes[:, 51:].any()
    assert 0.35 < holes[:, 49:51].mean() < 0.65  # edge_hole_probability = 0.5 on both sides of the step
    always = DepthNoiseConfig(
        enabled=True,
        sigma_base_m=0.0,
        sigma_scale_per_m=0.0,
        edge_hole_probability=1.0,
        random_hole_probability=0.0,
    )
    depth_mm, depth_m = make_depth_image(step, CAM, always, np.random.default_rng(2))
    assert (depth_mm[:, 49:51] == 0).all() and np.isnan(depth_m[:, 49:51]).all()


def test_random_holes_rate() -> None:
    noise = DepthNoiseConfig(enabled=True, edge_hole_probability=0.0, random_hole_probability=0.05)
    depth_mm, _ = make_depth_image(np.full((200, 200), 1.0), CAM, noise, np.random.default_rng(3))
    assert (depth_mm == 0).mean() == pytest.approx(0.05, abs=0.01)


def test_range_gate_and_exact_quantisation_without_noise() -> None:
    off = DepthNoiseConfig(enabled=False)
    z = np.array([[0.3, 0.39, 0.4, 1.23449, 1.2346, 5.9994, 6.01, np.nan, 0.0]])
    depth_mm, depth_m = make_depth_image(z, CAM, off, np.random.default_rng(0))
    assert depth_mm.tolist() == [[0, 0, 400, 1234, 1235, 5999, 0, 0, 0]]
    assert np.isnan(depth_m[0, [0, 1, 6, 7, 8]]).all()
    # Noise on: nothing below the minimum range survives either.
    on = DepthNoiseConfig(enabled=True)
    depth_mm, _ = make_depth_image(np.full((50, 50), 0.3), CAM, on, np.random.default_rng(0))
    assert (depth_mm == 0).all()


def test_noise_is_reproducible_from_the_seed() -> None:
    noise = DepthNoiseConfig(enabled=True)
    z = np.full((60, 80), 2.0)
    z[20:40, 30:50] = 1.0
    a = make_depth_image(z, CAM, noise, np.random.default_rng(9))[0]
    b = make_depth_image(z, CAM, noise, np.random.default_rng(9))[0]
    c = make_depth_image(z, CAM, noise, np.random.default_rng(10))[0]
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_any_thread_may_render_and_close_is_reversible(world: SimWorld) -> None:
    world.reset(0)
    first = world.render().rgb
    frames: list[np.ndarray] = []
    worker = threading.Thread(target=lambda: frames.append(world.render().rgb))
    worker.start()
    worker.join()
    np.testing.assert_array_equal(frames[0], first)  # an executor thread gets the same image
    world.close()
    world.close()
    np.testing.assert_array_equal(world.render().rgb, first)
