"""Localiser: the pinhole example, robust depth, face correction, extrinsics, skips and its config."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from visuomotor.errors import CameraError, ConfigError, InvalidDepthError
from visuomotor.geometry import (
    CameraIntrinsics,
    Extrinsics,
    Localiser,
    LocaliserConfig,
    deproject_pixel,
    inner_box_slices,
    robust_box_depth,
)
from visuomotor.interfaces import Detection

LOCALISER_YAML = Path(__file__).resolve().parents[3] / "config" / "localiser.yaml"
K = CameraIntrinsics(640, 480, 600.0, 600.0, 320.0, 240.0)
BOX = (200.0, 150.0, 300.0, 250.0)
CAMERA = "camera_color_optical_frame"


def _camera_frame_localiser(**config: Any) -> Localiser:
    """A localiser whose output frame is the optical frame itself (identity extrinsics)."""
    cfg = LocaliserConfig(target_frame=CAMERA, **config)
    return Localiser(cfg, K, Extrinsics(CAMERA, CAMERA, np.eye(4)))


def _flat_depth(z: float) -> np.ndarray:
    return np.full((K.height_px, K.width_px), z, dtype=np.float32)


def test_pinhole_example_box_centre_at_half_a_metre() -> None:
    # Box [200,150,300,250] at 0.5 m, fx = fy = 600, c = (320, 240) → (−0.0583, −0.0333, 0.5) m.
    expected = (-70 * 0.5 / 600, -40 * 0.5 / 600, 0.5)
    np.testing.assert_allclose(expected, (-0.0583, -0.0333, 0.5), atol=5e-5)
    np.testing.assert_allclose(deproject_pixel(250.0, 200.0, 0.5, K), expected, atol=1e-12)
    result = _camera_frame_localiser(class_names=("cube",), class_sizes_m=(0.0,)).localise(
        [Detection(0, "cube", 0.9, BOX)], _flat_depth(0.5)
    )
    assert result.skipped == ()
    (obj,) = result.objects
    np.testing.assert_allclose(obj.position_m, expected, atol=1e-7)  # float32 depth
    assert obj.frame_id == CAMERA
    assert obj.depth_m == pytest.approx(0.5)
    assert obj.detection.box_px == BOX


def test_face_correction_adds_half_the_size_along_the_viewing_ray() -> None:
    result = _camera_frame_localiser().localise([Detection(0, "red_cube", 0.9, BOX)], _flat_depth(0.5))
    p_face = np.array([-70 * 0.5 / 600, -40 * 0.5 / 600, 0.5])
    expected = p_face + 0.025 * p_face / np.linalg.norm(p_face)
    np.testing.assert_allclose(result.objects[0].position_m, expected, atol=1e-7)
    # The correction lies on the ray: same pixel, 25 mm further away.
    p = np.array(result.objects[0].position_m)
    np.testing.assert_allclose(K.project(p), (250.0, 200.0), atol=1e-6)
    assert np.linalg.norm(p) - np.linalg.norm(p_face) == pytest.approx(0.025, abs=1e-7)


def test_unknown_class_uses_the_default_size() -> None:
    loc = _camera_frame_localiser(default_size_m=0.1)
    (obj,) = loc.localise([Detection(7, "mug", 0.5, BOX)], _flat_depth(0.5)).objects
    p_face = np.array([-70 * 0.5 / 600, -40 * 0.5 / 600, 0.5])
    assert np.linalg.norm(obj.position_m) == pytest.approx(np.linalg.norm(p_face) + 0.05, abs=1e-6)
    assert loc.config.size_m("mug") == 0.1 and loc.config.size_m("red_cube") == 0.05


def test_extrinsics_map_camera_points_into_base_link() -> None:
    yaw = 0.7
    T = np.eye(4)
    T[:3, :3] = [[math.cos(yaw), -math.sin(yaw), 0], [math.sin(yaw), math.cos(yaw), 0], [0, 0, 1]]
    T[:3, 3] = (0.3, -0.2, 1.1)
    cfg = LocaliserConfig(class_names=("cube",), class_sizes_m=(0.0,))
    loc = Localiser(cfg, K, Extrinsics("base_link", CAMERA, T))
    (obj,) = loc.localise([Detection(0, "cube", 0.9, BOX)], _flat_depth(0.5)).objects
    p_cam = np.array([-70 * 0.5 / 600, -40 * 0.5 / 600, 0.5])
    np.testing.assert_allclose(obj.position_m, T[:3, :3] @ p_cam + T[:3, 3], atol=1e-7)
    assert obj.frame_id == "base_link"
    assert loc.camera_frame == CAMERA


def test_robust_depth_ignores_holes_zeros_out_of_range_and_outliers() -> None:
    rng = np.random.default_rng(0)
    depth = _flat_depth(np.nan)
    rows, cols = inner_box_slices(BOX, 0.5, K.width_px, K.height_px)
    patch = rng.normal(0.8, 0.002, (rows.stop - rows.start, cols.stop - cols.start)).astype(np.float32)
    flat = patch.reshape(-1)
    idx = rng.permutation(flat.size)
    n = flat.size // 10
    flat[idx[:n]] = np.nan  # holes
    flat[idx[n : 2 * n]] = 0.0  # zeros (16UC1 "no data" converted without NaN)
    flat[idx[2 * n : 3 * n]] = rng.uniform(0.31, 0.5, n)  # foreground outliers, in range
    flat[idx[3 * n : 3 * n + 5]] = 0.1  # below min_depth_m
    flat[idx[3 * n + 5 : 3 * n + 10]] = 20.0  # beyond max_depth_m
    flat[idx[3 * n + 10 : 3 * n + 15]] = np.inf
    depth[rows, cols] = patch
    depth[150:250, 200:300][:5, :] = 0.4  # background on the box rim, outside the inner half
    z = robust_box_depth(depth, BOX, inner_fraction=0.5, min_depth_m=0.3, max_depth_m=6.0)
    valid = flat[np.isfinite(flat) & (flat >= 0.3) & (flat <= 6.0)]
    assert z == pytest.approx(float(np.median(valid)))
    assert z == pytest.approx(0.8, abs=0.01)  # 10 % near outliers barely move the median


def test_inner_box_pixels_follow_pixel_centres_and_clip_to_the_image() -> None:
    rows, cols = inner_box_slices(BOX, 0.5, 640, 480)
    assert (cols.start, cols.stop, rows.start, rows.stop) == (225, 276, 175, 226)  # centres in [225, 275]
    assert inner_box_slices((10.2, 10.2, 10.4, 10.4), 0.5, 640, 480) == (slice(10, 11), slice(10, 11))
    rows, cols = inner_box_slices((-50.0, 400.0, 30.0, 520.0), 1.0, 640, 480)
    assert (cols.start, cols.stop, rows.start, rows.stop) == (0, 31, 400, 480)
    assert inner_box_slices((700.0, 10.0, 800.0, 50.0), 0.5, 640, 480) is None


@pytest.mark.parametrize(
    ("depth_value", "kwargs", "match"),
    [
        (np.nan, {}, r"box \[200\.0, 150\.0, 300\.0, 250\.0\] px: 0 of 2601 pixels"),
        (0.0, {}, r"0 of 2601 pixels in its inner 50% hold valid depth"),
        (7.0, {"max_depth_m": 6.0}, r"in \[0\.0, 6\.0\] m"),
        (0.2, {"min_depth_m": 0.3}, r"in \[0\.3, inf\] m"),
    ],
)
def test_no_valid_depth_raises_naming_the_box(depth_value: float, kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(InvalidDepthError, match=match):
        robust_box_depth(_flat_depth(depth_value), BOX, **kwargs)


def test_too_few_valid_pixels_and_boxes_outside_the_image_raise() -> None:
    depth = _flat_depth(np.nan)
    depth[200, 250] = 0.5
    assert robust_box_depth(depth, BOX) == pytest.approx(0.5)  # one pixel is enough by default
    with pytest.raises(InvalidDepthError, match=r"1 of 2601 pixels .* need 261"):
        robust_box_depth(depth, BOX, min_valid_fraction=0.1)
    with pytest.raises(InvalidDepthError, match=r"box \[700\.0, 10\.0, 800\.0, 50\.0\] px lies outside"):
        robust_box_depth(_flat_depth(0.5), (700.0, 10.0, 800.0, 50.0))


def test_detections_without_depth_are_skipped_with_their_reason() -> None:
    depth = _flat_depth(0.5)
    depth[:, 400:] = np.nan
    good = Detection(0, "red_cube", 0.9, BOX)
    hole = Detection(1, "green_cube", 0.8, (450.0, 100.0, 500.0, 150.0))
    outside = Detection(2, "blue_cube", 0.7, (900.0, 100.0, 950.0, 150.0))
    result = _camera_frame_localiser().localise([hole, good, outside], depth)
    assert [o.detection for o in result.objects] == [good]
    assert [s.detection for s in result.skipped] == [hole, outside]
    assert result.skipped[0].reason.startswith("green_cube: box [450.0, 100.0, 500.0, 150.0] px: 0 of")
    assert "lies outside" in result.skipped[1].reason
    empty = _camera_frame_localiser().localise([], depth)
    assert empty.objects == () and empty.skipped == ()


def test_frame_level_depth_problems_are_camera_errors() -> None:
    loc = _camera_frame_localiser()
    det = [Detection(0, "red_cube", 0.9, BOX)]
    with pytest.raises(CameraError, match="depth_to_metres"):
        loc.localise(det, np.full((480, 640), 500, dtype=np.int32))  # neither metres nor 16UC1
    with pytest.raises(CameraError, match=r"depth image is 320×240 but the intrinsics are for 640×480"):
        loc.localise(det, np.full((240, 320), 0.5, dtype=np.float32))
    with pytest.raises(CameraError, match="2D image"):
        loc.localise(det, np.full((480, 640, 1), 0.5, dtype=np.float32))


def test_16uc1_millimetres_localise_exactly_like_metres() -> None:
    """The raw 16UC1 image (only the sampled boxes converted) gives the float path's answer; 0 = no data."""
    loc = _camera_frame_localiser()
    rng = np.random.default_rng(3)
    depth_mm = rng.integers(700, 900, (480, 640)).astype(np.uint16)
    depth_mm[::7, ::5] = 0  # holes
    det = [Detection(0, "red_cube", 0.9, BOX), Detection(1, "green_cube", 0.8, (300.0, 200.0, 420.0, 300.0))]
    from visuomotor.geometry import depth_to_metres

    raw, metres = loc.localise(det, depth_mm), loc.localise(det, depth_to_metres(depth_mm, "16UC1"))
    assert len(raw.objects) == 2
    for a, b in zip(raw.objects, metres.objects, strict=True):
        np.testing.assert_allclose(a.position_m, b.position_m, atol=1e-6)
        assert a.depth_m == pytest.approx(b.depth_m, abs=1e-6)


def test_extrinsics_must_lead_into_the_target_frame() -> None:
    with pytest.raises(
        ConfigError, match=r"target_frame is 'base_link' but the extrinsics map .* into 'world'"
    ):
        Localiser(LocaliserConfig(), K, Extrinsics("world", CAMERA, np.eye(4)))


# ---------------------------------------------------------------------------------------------- config


def test_config_round_trips_through_flat_dict() -> None:
    cfg = LocaliserConfig()
    flat = cfg.to_flat_dict()
    assert flat["class_names"] == ["red_cube", "green_cube", "blue_cube", "bin"]
    assert LocaliserConfig.from_flat(flat) == cfg
    custom = LocaliserConfig.from_flat({"min_depth_m": 0, "class_names": ["a"], "class_sizes_m": [1]})
    assert custom.min_depth_m == 0.0 and isinstance(custom.min_depth_m, float)
    assert custom.class_sizes_m == (1.0,)


def test_localiser_yaml_maps_one_to_one_onto_the_defaults() -> None:
    params = yaml.safe_load(LOCALISER_YAML.read_text())["localiser"]["ros__parameters"]
    assert set(params) == set(LocaliserConfig().to_flat_dict())
    assert LocaliserConfig.from_flat(params) == LocaliserConfig()


@pytest.mark.parametrize(
    ("flat", "match"),
    [
        ({"inner_box_fraction": 0.0}, r"localiser: inner_box_fraction must be in \(0, 1\]"),
        ({"inner_box_fraction": 1.5}, r"inner_box_fraction must be in \(0, 1\], got 1\.5"),
        ({"min_depth_m": -0.1}, r"min_depth_m must be ≥ 0"),
        ({"max_depth_m": 0.2}, r"max_depth_m \(0\.2\) must be finite and exceed min_depth_m \(0\.3\)"),
        ({"min_valid_fraction": 2}, r"min_valid_fraction must be in \[0, 1\]"),
        (
            {"class_sizes_m": [0.05]},
            r"class_sizes_m needs one size per entry of class_names, got 1 sizes for 4",
        ),
        ({"class_names": ["a", "a"], "class_sizes_m": [1, 1]}, r"class_names has duplicates"),
        ({"class_names": [""], "class_sizes_m": [1]}, r"class_names must be non-empty strings"),
        ({"class_names": ["a"], "class_sizes_m": [-1]}, r"class_sizes_m \(for 'a'\) must be in \[0, 2\] m"),
        ({"default_size_m": 3.0}, r"default_size_m must be in \[0, 2\] m"),
        ({"target_frame": ""}, r"target_frame must be a non-empty frame name"),
        ({"inner_box": 0.5}, r"unknown localiser parameter 'inner_box'; known keys: .*inner_box_fraction"),
        ({"min_depth_m": "0.3"}, r"localiser: min_depth_m must be a finite number, got '0\.3'"),
        ({"min_depth_m": True}, r"localiser: min_depth_m must be a finite number"),
        ({"class_names": "red_cube"}, r"localiser: class_names must be a list"),
        ({"class_sizes_m": [0.05, "x", 0.05, 0.0]}, r"localiser: class_sizes_m\[1\] must be a finite number"),
        ({"target_frame": 3}, r"localiser: target_frame must be a string"),
    ],
)
def test_bad_values_name_the_key(flat: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        LocaliserConfig.from_flat(flat)
