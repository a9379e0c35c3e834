"""Detector dataset: exact projected labels, visibility from segmentation, randomisation, files written.

Runs without torch/ultralytics (rendering + numpy + OpenCV only).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import mujoco
import numpy as np
import pytest

from visuomotor.cli import dataset as dataset_cli
from visuomotor.errors import ConfigError
from visuomotor.sim import SimConfig, SimWorld
from visuomotor.sim.randomize import DomainRandomizer, RandomizationConfig, rotation_about
from visuomotor.sim.scene import CUBE_CLASSES
from visuomotor.training.detector_data import (
    CLASS_NAMES,
    DatasetConfig,
    FrameRenderer,
    box_corners_m,
    build_dataset,
    coco_ground_truth,
    label_frame,
    project_points,
    scene_seed,
)

SMALL = DatasetConfig(width_px=320, height_px=240, num_cubes=3, num_distractors=3)


def _no_randomisation() -> RandomizationConfig:
    return RandomizationConfig(
        textured_table_probability=0.0,
        distractor_probability=0.0,
        camera_translation_m=0.0,
        camera_rotation_deg=0.0,
        arm_home_probability=1.0,
        arm_hover_probability=0.0,
    )


def test_scene_seeds_are_deterministic_and_split_specific() -> None:
    assert scene_seed(0, 5) == scene_seed(0, 5)
    train = {scene_seed(0, i) for i in range(200)}
    val = {scene_seed(1, i) for i in range(200)}
    assert len(train) == 200 and not train & val


def test_projection_matches_the_pinhole_model() -> None:
    world = SimWorld()
    T = world.T_base_link_camera
    k = world.intrinsics
    p_cam = np.array([[0.1, -0.05, 1.2]])
    p_base = p_cam @ T[:3, :3].T + T[:3, 3]
    uv = project_points(p_base, T, k)
    expected = (k.fx_px * 0.1 / 1.2 + k.cx_px + 0.5, k.fy_px * -0.05 / 1.2 + k.cy_px + 0.5)
    np.testing.assert_allclose(uv[0], expected, atol=1e-9)
    with pytest.raises(ConfigError, match="behind the camera"):
        project_points(T[:3, 3][None] - T[:3, 2] * 0.5, T, k)


def test_box_corners_follow_the_object_pose() -> None:
    world = SimWorld()
    cube = world.objects()[0]
    corners = box_corners_m(cube)
    assert corners.shape == (8, 3)
    np.testing.assert_allclose(corners.mean(axis=0), cube.position_m, atol=1e-12)
    # Every edge of a cube has length size_m: each corner has exactly 3 neighbours at that distance.
    d = np.linalg.norm(corners[:, None] - corners[None], axis=-1)
    assert ((np.abs(d - cube.size_m) < 1e-9).sum(axis=1) == 3).all()


def test_unoccluded_labels_are_the_projected_box_and_agree_with_segmentation() -> None:
    renderer = FrameRenderer(DatasetConfig(num_cubes=3, num_distractors=0, randomization=_no_randomisation()))
    try:
        rgb, _, labels, meta = renderer.render(scene_seed(0, 0), np.random.default_rng(0))
        world = renderer.world
        T, k = world.T_base_link_camera, world.intrinsics
        np.testing.assert_allclose(meta["T_base_link_camera"], T, atol=1e-8)
        by_name = {o.name: o for o in world.objects()}
        assert {lb.name for lb in labels} == set(by_name)  # 3 cubes + bin, all visible with the arm at home
        for lb in labels:
            uv = project_points(box_corners_m(by_name[lb.name]), T, k)
            exact = (
                *np.clip(uv.min(axis=0), 0, (k.width_px, k.height_px)),
                *np.clip(uv.max(axis=0), 0, (k.width_px, k.height_px)),
            )
            assert not lb.occluded
            np.testing.assert_allclose(lb.box_xyxy_px, exact, atol=1e-9)
            assert CLASS_NAMES[lb.class_id] == by_name[lb.name].class_name
            # The segmentation's pixels of the object fill that box to within rasterisation on every side.
            np.testing.assert_allclose(lb.visible_box_xyxy_px, lb.box_xyxy_px, atol=1.5)
            assert lb.visible_fraction > 0.8
            assert rgb.shape == (k.height_px, k.width_px, 3)
    finally:
        renderer.close()


def test_visibility_rules_drop_hidden_objects_and_trim_occluded_sides() -> None:
    world = SimWorld()
    T, k = world.T_base_link_camera, world.intrinsics
    cube = world.objects()[0]
    uv = project_points(box_corners_m(cube), T, k)
    x0, y0 = np.floor(uv.min(axis=0)).astype(int)
    x1, y1 = np.ceil(uv.max(axis=0)).astype(int)
    rows, cols = np.mgrid[y0:y1, x0:x1]
    full = np.stack([rows.ravel(), cols.ravel()], axis=1)
    config = DatasetConfig()
    (whole,) = label_frame([cube], [full], T, k, config)
    assert not whole.occluded
    # The arm hides the right 40 %: the right side moves in to the visible pixels, the rest stays exact.
    cut = x0 + int(0.6 * (x1 - x0))
    (trimmed,) = label_frame([cube], [full[full[:, 1] < cut]], T, k, config)
    assert trimmed.occluded
    assert trimmed.box_xyxy_px[2] == pytest.approx(cut)
    assert trimmed.box_xyxy_px[:2] == pytest.approx(whole.box_xyxy_px[:2])
    assert trimmed.box_xyxy_px[3] == pytest.approx(whole.box_xyxy_px[3])
    # Mostly hidden (a few pixels left) or fully hidden: no label.
    assert label_frame([cube], [full[:5]], T, k, config) == []
    assert label_frame([cube], [np.zeros((0, 2), int)], T, k, config) == []


def test_randomizer_is_reproducible_bounded_and_restorable() -> None:
    world = SimWorld(SimConfig.from_flat({"scene.num_distractors": 4}))
    T0 = world.T_base_link_camera
    randomizer = DomainRandomizer(world)
    poses = []
    for _ in range(2):
        world.reset(3)
        poses.append(
            (randomizer.apply(np.random.default_rng(7)), world.joint_positions(), world.data.mocap_pos.copy())
        )
    np.testing.assert_allclose(poses[0][0], poses[1][0])
    np.testing.assert_allclose(poses[0][1], poses[1][1])
    np.testing.assert_allclose(poses[0][2], poses[1][2])
    cfg = randomizer.config
    for seed in range(20):
        T = randomizer.apply(np.random.default_rng(seed))
        assert np.abs(T[:3, 3] - T0[:3, 3]).max() <= cfg.camera_translation_m + 1e-9
        angle = math.acos(np.clip((np.trace(T0[:3, :3].T @ T[:3, :3]) - 1) / 2, -1, 1))
        assert math.degrees(angle) <= cfg.camera_rotation_deg + 1e-6
        for i in range(4):
            gid = mujoco.mj_name2id(world.model, mujoco.mjtObj.mjOBJ_GEOM, f"distractor_{i}")
            colour = world.model.geom_rgba[gid, :3]
            for _, class_rgba in CUBE_CLASSES:
                assert np.abs(colour - class_rgba[:3]).max() > 0.15, "a distractor looks like a cube class"
    randomizer.restore()
    np.testing.assert_allclose(randomizer.camera_pose(), T0, atol=1e-9)
    assert (world.data.mocap_pos[:, 2] < -1).all()


def test_rotation_about_is_a_rotation() -> None:
    R = rotation_about(np.array([1.0, 2.0, 3.0]), 0.3)
    np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-12)
    assert math.isclose(np.linalg.det(R), 1.0)


def test_plain_world_still_randomizes_without_distractors() -> None:
    world = SimWorld()
    T = DomainRandomizer(world).apply(np.random.default_rng(0))
    assert T.shape == (4, 4)


def test_build_dataset_writes_yolo_coco_meta_and_yaml(tmp_path: Path) -> None:
    manifest = build_dataset(tmp_path, 3, 2, seed=0, val_seed=9, config=SMALL)
    assert manifest["splits"]["train"]["images"] == 3 and manifest["splits"]["val"]["seed"] == 9
    yaml_text = (tmp_path / "dataset.yaml").read_text()
    assert f"path: {tmp_path.resolve()}" in yaml_text and "3: bin" in yaml_text
    coco = json.loads((tmp_path / "annotations" / "val.json").read_text())
    assert [c["name"] for c in coco["categories"]] == list(CLASS_NAMES)
    assert min(a["id"] for a in coco["annotations"]) == 1
    for split, n in (("train", 3), ("val", 2)):
        images = sorted((tmp_path / "images" / split).glob("*.jpg"))
        labels = sorted((tmp_path / "labels" / split).glob("*.txt"))
        assert len(images) == len(labels) == n
        metas = [json.loads(line) for line in (tmp_path / "meta" / f"{split}.jsonl").read_text().splitlines()]
        for label_file, meta in zip(labels, metas, strict=True):
            rows = [list(map(float, line.split())) for line in label_file.read_text().splitlines()]
            assert len(rows) == len(meta["labels"]) > 0
            for row, lb in zip(rows, meta["labels"], strict=True):
                assert int(row[0]) == lb["class_id"]
                assert all(0.0 <= v <= 1.0 for v in row[1:])
                x0, _, x1, _ = lb["box_xyxy_px"]
                assert row[1] == pytest.approx((x0 + x1) / 2 / SMALL.width_px, abs=2e-6)
    n_val_labels = sum(
        len(json.loads(line)["labels"]) for line in (tmp_path / "meta" / "val.jsonl").read_text().splitlines()
    )
    assert len(coco["annotations"]) == n_val_labels
    with pytest.raises(ConfigError, match="different from the training seed"):
        build_dataset(tmp_path, 1, 1, seed=4, val_seed=4, config=SMALL)


def test_coco_ground_truth_boxes_are_xywh() -> None:
    from visuomotor.training.detector_data import BoxLabel

    coco = coco_ground_truth(
        [("a.jpg", 640, 480, [BoxLabel("bin", 3, (10.0, 20.0, 40.0, 60.0), 1.0, False)])]
    )
    (ann,) = coco["annotations"]
    assert ann["bbox"] == [10.0, 20.0, 30.0, 40.0] and ann["area"] == 1200.0 and ann["category_id"] == 3


def test_dataset_config_rejects_bad_values() -> None:
    with pytest.raises(ConfigError, match="image_format"):
        DatasetConfig(image_format="bmp")
    with pytest.raises(ConfigError, match="num_distractors"):
        SimConfig.from_flat({"scene.num_distractors": 99})


def test_cli_renders_both_splits_with_depth(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    dataset_cli.add_arguments(parser)
    args = parser.parse_args(
        [
            "detector",
            "--images",
            "2",
            "--val-images",
            "1",
            "--out",
            str(tmp_path),
            "--imgsz",
            "160",
            "120",
            "--cubes",
            "3",
            "--depth",
            "--depth-noise",
            "--no-progress",
        ]
    )
    assert dataset_cli.run(args) == 0
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["command"].startswith("visuomotor ")
    assert len(list((tmp_path / "depth" / "train").glob("*.png"))) == 2
