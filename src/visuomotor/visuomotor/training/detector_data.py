"""Labelled detector datasets rendered from the sim (YOLO format + COCO ground truth).

Each frame: ``SimWorld.reset(scene_seed)`` (random cube poses, cube colours jittered within class), then
:class:`~visuomotor.sim.randomize.DomainRandomizer` (lights, table, distractors, camera jitter, arm pose),
then one colour(+depth) render and one segmentation render of the same state.

Labels come from exact geometry: the 8 corners of each object's box (``ObjectState.extent_m``, pose in
``base_link``) are projected with the intrinsics and the *jittered* camera pose; the silhouette of a box
is the convex hull of its projected corners, so their min/max is the exact box. Visibility is decided
with MuJoCo's segmentation render (geom ids per pixel), so an object hidden behind the arm is not
labelled:

- dropped when less than ``min_in_view_fraction`` of its silhouette lies inside the image, when fewer
  than ``min_visible_px`` pixels of it are visible, or when less than ``min_visible_fraction`` of its
  in-image silhouette is visible (mostly occluded);
- otherwise the box is the projected box clipped to the image, and each side that occlusion cut back
  (the visible pixels stop more than ``occlusion_margin_px`` inside it) is moved in to the visible
  pixels. An unoccluded object therefore keeps its exact projected box; a partly hidden one gets the
  box of what a detector can see (the localiser then samples depth on the object, not on the arm).

Pixel convention of every written box: ultralytics/COCO, pixel ``i`` spans ``[i, i + 1)``; the
intrinsics put pixel centres at integers, hence the +0.5 shift.

Layout under ``out/``::

    dataset.yaml                 ultralytics data file (path, train, val, names)
    images/{train,val}/NNNNNN.jpg
    labels/{train,val}/NNNNNN.txt  "class cx cy w h", normalised to [0, 1]
    depth/{train,val}/NNNNNN.png   uint16 mm (only with save_depth)
    annotations/{train,val}.json   COCO ground truth (bbox [x, y, w, h] px, category id = class id)
    meta/{train,val}.jsonl       per frame: scene seed, T_base_link_camera, objects, boxes
    manifest.json                config, seeds, counts
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import mujoco
import numpy as np

from visuomotor.errors import ConfigError
from visuomotor.geometry import CameraIntrinsics
from visuomotor.sim import ObjectState, SimConfig, SimWorld
from visuomotor.sim.randomize import DomainRandomizer, RandomizationConfig
from visuomotor.sim.scene import BIN_NAME, CAMERA_NAME

__all__ = [
    "CLASS_NAMES",
    "BoxLabel",
    "DatasetConfig",
    "FrameRenderer",
    "SplitSummary",
    "box_corners_m",
    "build_dataset",
    "coco_ground_truth",
    "label_frame",
    "project_points",
    "render_split",
    "scene_seed",
    "write_dataset_yaml",
]

#: Detector classes; the index is the class id in labels, COCO category ids and the ONNX metadata.
CLASS_NAMES: tuple[str, ...] = ("red_cube", "green_cube", "blue_cube", "bin")

_CORNER_SIGNS = np.array(
    [[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)], dtype=np.float64
)


@dataclass(frozen=True, slots=True)
class DatasetConfig:
    """How frames are rendered and labelled.

    Attributes:
        width_px, height_px: render size (the camera's intrinsics follow from its fovy).
        num_cubes: cubes per scene (classes cycle red, green, blue).
        num_distractors: unlabelled distractor bodies available to the randomiser.
        cube_color_jitter: ± per RGB channel of each cube's colour, within its class.
        depth_noise: render depth with the sim's noise model (only matters with ``save_depth``).
        save_depth: also write the aligned depth (uint16 mm PNG).
        image_format: ``jpg`` (quality 95) or ``png``.
        min_in_view_fraction: drop objects with less of their silhouette inside the image.
        min_visible_fraction: drop objects with less of their in-image silhouette visible.
        min_visible_px: drop objects with fewer visible pixels.
        occlusion_margin_px: a side moves in to the visible pixels only if they stop further inside.
        randomization: per-frame domain randomisation ranges.
    """

    width_px: int = 640
    height_px: int = 480
    num_cubes: int = 6
    num_distractors: int = 6
    cube_color_jitter: float = 0.1
    depth_noise: bool = False
    save_depth: bool = False
    image_format: str = "jpg"
    min_in_view_fraction: float = 0.5
    min_visible_fraction: float = 0.3
    min_visible_px: int = 12
    occlusion_margin_px: float = 2.0
    randomization: RandomizationConfig = field(default_factory=RandomizationConfig)

    def __post_init__(self) -> None:
        if self.image_format not in ("jpg", "png"):
            raise ConfigError(f"dataset image_format must be 'jpg' or 'png', got {self.image_format!r}")
        for key in ("min_in_view_fraction", "min_visible_fraction"):
            value = getattr(self, key)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"dataset {key} must be in [0, 1], got {value}")
        if self.min_visible_px < 1:
            raise ConfigError(f"dataset min_visible_px must be ≥ 1, got {self.min_visible_px}")

    def sim_config(self) -> SimConfig:
        """The simulator configuration these frames are rendered with."""
        return SimConfig.from_flat(
            {
                "camera.width_px": self.width_px,
                "camera.height_px": self.height_px,
                "scene.num_cubes": self.num_cubes,
                "scene.num_distractors": self.num_distractors,
                "scene.cube_color_jitter": self.cube_color_jitter,
                "depth_noise.enabled": self.depth_noise,
            }
        )


@dataclass(frozen=True, slots=True)
class BoxLabel:
    """One labelled object in one frame.

    Attributes:
        name: object name (``red_cube_0``, ``bin``).
        class_id: index into :data:`CLASS_NAMES`.
        box_xyxy_px: (x0, y0, x1, y1) in pixels, ultralytics/COCO convention (pixel i spans [i, i+1)).
        visible_fraction: visible pixels / in-image silhouette area.
        occluded: True when a side was moved in to the visible pixels.
        visible_box_xyxy_px: box of the visible (segmentation) pixels, same convention; equals
            ``box_xyxy_px`` to rasterisation (< 1.5 px) when nothing occludes the object.
    """

    name: str
    class_id: int
    box_xyxy_px: tuple[float, float, float, float]
    visible_fraction: float
    occluded: bool
    visible_box_xyxy_px: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)


def scene_seed(split_seed: int, index: int) -> int:
    """The reset seed of frame ``index`` of a split seeded ``split_seed`` (independent streams per split)."""
    return int(np.random.SeedSequence([split_seed, index]).generate_state(1)[0])


def box_corners_m(obj: ObjectState) -> np.ndarray:
    """(8, 3) corners of the object's box in base_link, metres."""
    R = np.zeros(9)
    mujoco.mju_quat2Mat(R, np.asarray(obj.quat_wxyz, dtype=np.float64))
    half = np.asarray(obj.extent_m, dtype=np.float64) / 2
    return np.asarray(obj.position_m) + (_CORNER_SIGNS * half) @ R.reshape(3, 3).T


def project_points(
    p_base_link: np.ndarray, T_base_link_camera: np.ndarray, intrinsics: CameraIntrinsics
) -> np.ndarray:
    """Project (N, 3) base_link points to (N, 2) pixels, ultralytics/COCO convention (+0.5 on the intrinsics).

    Raises:
        ConfigError: a point lies at or behind the camera plane (the box would wrap around).
    """
    T = np.asarray(T_base_link_camera, dtype=np.float64)
    p_cam = (np.asarray(p_base_link, dtype=np.float64) - T[:3, 3]) @ T[:3, :3]
    if (p_cam[:, 2] <= 1e-6).any():
        raise ConfigError("an object corner lies behind the camera; move the camera or the object")
    return intrinsics.project(p_cam) + 0.5


def label_frame(
    objects: Sequence[ObjectState],
    object_pixels: Sequence[np.ndarray],
    T_base_link_camera: np.ndarray,
    intrinsics: CameraIntrinsics,
    config: DatasetConfig,
) -> list[BoxLabel]:
    """Boxes of the visible objects of one frame (see the module docstring for the rules).

    Args:
        objects: ground truth of each object (cubes and bin).
        object_pixels: per object, (K, 2) int (row, col) of its visible pixels from the segmentation.
        T_base_link_camera: (4, 4) optical frame of the camera that rendered the frame.
        intrinsics: its pinhole model.
        config: visibility thresholds.

    Returns:
        Labels in ``objects`` order, dropped objects left out.
    """
    W, H = intrinsics.width_px, intrinsics.height_px
    image = np.array([[0, 0], [W, 0], [W, H], [0, H]], dtype=np.float32)
    labels = []
    for obj, pixels in zip(objects, object_pixels, strict=True):
        uv = project_points(box_corners_m(obj), T_base_link_camera, intrinsics).astype(np.float32)
        hull = cv2.convexHull(uv)
        area = float(cv2.contourArea(hull))
        in_image, _ = cv2.intersectConvexConvex(hull, image)
        in_image = float(in_image)
        n_visible = len(pixels)
        if area <= 0 or in_image / area < config.min_in_view_fraction or n_visible < config.min_visible_px:
            continue
        visible_fraction = n_visible / max(in_image, 1.0)
        if visible_fraction < config.min_visible_fraction:
            continue
        x0, y0 = np.clip(uv.min(axis=0), 0, (W, H))
        x1, y1 = np.clip(uv.max(axis=0), 0, (W, H))
        rows, cols = pixels[:, 0], pixels[:, 1]
        vx0, vy0, vx1, vy1 = cols.min(), rows.min(), cols.max() + 1.0, rows.max() + 1.0
        m = config.occlusion_margin_px
        tightened = (vx0 > x0 + m, vy0 > y0 + m, vx1 < x1 - m, vy1 < y1 - m)
        box = (
            float(vx0 if tightened[0] else x0),
            float(vy0 if tightened[1] else y0),
            float(vx1 if tightened[2] else x1),
            float(vy1 if tightened[3] else y1),
        )
        labels.append(
            BoxLabel(
                obj.name,
                CLASS_NAMES.index(obj.class_name),
                box,
                min(visible_fraction, 1.0),
                any(tightened),
                (float(vx0), float(vy0), float(vx1), float(vy1)),
            )
        )
    return labels


class FrameRenderer:
    """Renders randomised, labelled frames from one world (colour, optional depth, segmentation).

    Args:
        config: dataset configuration.
    """

    def __init__(self, config: DatasetConfig) -> None:
        self.config = config
        self.world = SimWorld(config.sim_config())
        self.randomizer = DomainRandomizer(self.world, config.randomization)
        m = self.world.model
        self._seg = mujoco.Renderer(m, height=config.height_px, width=config.width_px)
        self._seg.enable_segmentation_rendering()
        # geom id → object index (−1: arm, table, distractors, ...); objects() order is cubes, then bin.
        self._objects = self.world.objects()
        self._geom_object = np.full(m.ngeom, -1, dtype=np.int64)
        bin_body = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, BIN_NAME)
        for index, obj in enumerate(self._objects):
            if obj.name == BIN_NAME:
                self._geom_object[m.geom_bodyid == bin_body] = index
            else:
                self._geom_object[mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_GEOM, obj.name)] = index

    def close(self) -> None:
        """Free both OpenGL contexts."""
        self._seg.close()
        self.world.close()

    def render(
        self, seed: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray, list[BoxLabel], dict]:
        """One frame.

        Args:
            seed: scene seed for ``SimWorld.reset``.
            rng: randomisation stream for this frame.

        Returns:
            (rgb (H, W, 3) uint8, depth_mm (H, W) uint16, labels, meta) where meta is JSON-ready.
        """
        self.world.reset(seed)
        T_base_link_camera = self.randomizer.apply(rng)
        frame = self.world.render()
        self._seg.update_scene(self.world.data, camera=CAMERA_NAME)
        seg = self._seg.render()  # (H, W, 2): object id, object type
        is_geom = seg[..., 1] == int(mujoco.mjtObj.mjOBJ_GEOM)
        owner = np.where(is_geom, self._geom_object[np.clip(seg[..., 0], 0, None)], -1)
        objects = self.world.objects()
        pixels = [np.argwhere(owner == i) for i in range(len(objects))]
        labels = label_frame(objects, pixels, T_base_link_camera, self.world.intrinsics, self.config)
        meta = {
            "scene_seed": seed,
            "T_base_link_camera": np.round(T_base_link_camera, 9).tolist(),
            "objects": [
                {
                    "name": o.name,
                    "class_name": o.class_name,
                    "position_m": np.round(o.position_m, 6).tolist(),
                    "quat_wxyz": np.round(o.quat_wxyz, 6).tolist(),
                    "extent_m": np.round(o.extent_m, 6).tolist(),
                }
                for o in objects
            ],
            "labels": [
                {
                    "name": lb.name,
                    "class_id": lb.class_id,
                    "box_xyxy_px": [round(v, 3) for v in lb.box_xyxy_px],
                    "visible_fraction": round(lb.visible_fraction, 4),
                    "occluded": lb.occluded,
                }
                for lb in labels
            ],
        }
        return frame.rgb, frame.depth_mm, labels, meta


@dataclass(frozen=True, slots=True)
class SplitSummary:
    """What :func:`render_split` wrote.

    Attributes:
        split: ``train`` or ``val``.
        images: number of frames.
        seed: split seed (frame i uses ``scene_seed(seed, i)``).
        instances: labelled objects per class name.
        occluded: labels whose box was cut back to the visible pixels.
    """

    split: str
    images: int
    seed: int
    instances: dict[str, int]
    occluded: int


def _yolo_line(label: BoxLabel, width: int, height: int) -> str:
    x0, y0, x1, y1 = label.box_xyxy_px
    return (
        f"{label.class_id} {(x0 + x1) / 2 / width:.6f} {(y0 + y1) / 2 / height:.6f} "
        f"{(x1 - x0) / width:.6f} {(y1 - y0) / height:.6f}"
    )


def coco_ground_truth(frames: Sequence[tuple[str, int, int, Sequence[BoxLabel]]]) -> dict:
    """COCO ground truth for frames (file name, width, height, labels).

    Image ids are the frame indices (0-based); annotation ids start at 1 (COCO evaluators treat 0 as
    "unmatched"); category ids are the class ids of :data:`CLASS_NAMES`; ``bbox`` is [x, y, w, h] px.
    """
    images, annotations = [], []
    for image_id, (file_name, width, height, labels) in enumerate(frames):
        images.append({"id": image_id, "file_name": file_name, "width": width, "height": height})
        for lb in labels:
            x0, y0, x1, y1 = lb.box_xyxy_px
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": lb.class_id,
                    "bbox": [round(x0, 3), round(y0, 3), round(x1 - x0, 3), round(y1 - y0, 3)],
                    "area": round((x1 - x0) * (y1 - y0), 3),
                    "iscrowd": 0,
                }
            )
    categories = [{"id": i, "name": n, "supercategory": "object"} for i, n in enumerate(CLASS_NAMES)]
    return {"images": images, "annotations": annotations, "categories": categories}


def render_split(
    out_dir: Path,
    split: str,
    num_images: int,
    seed: int,
    config: DatasetConfig,
    progress: Callable[[int], None] | None = None,
) -> SplitSummary:
    """Render ``num_images`` labelled frames into ``out_dir`` (images/, labels/, annotations/, meta/).

    Args:
        out_dir: dataset root.
        split: sub-folder name (``train``, ``val``).
        num_images: frames to render (≥ 1).
        seed: split seed; frame i resets the scene with ``scene_seed(seed, i)`` and randomises with
            ``default_rng([seed, i, 1])``, so a frame depends only on (seed, i, config).
        config: rendering and labelling configuration.
        progress: called with 1 after each frame (e.g. a tqdm bar's ``update``).

    Returns:
        Counts of what was written.
    """
    if num_images < 1:
        raise ConfigError(f"a split needs at least 1 image, got {num_images}")
    out_dir = Path(out_dir)
    dirs = {k: out_dir / k / split for k in ("images", "labels") + (("depth",) if config.save_depth else ())}
    for d in (*dirs.values(), out_dir / "annotations", out_dir / "meta"):
        d.mkdir(parents=True, exist_ok=True)
    renderer = FrameRenderer(config)
    coco_frames = []
    counts = dict.fromkeys(CLASS_NAMES, 0)
    occluded = 0
    W, H = config.width_px, config.height_px
    try:
        with (out_dir / "meta" / f"{split}.jsonl").open("w") as meta_file:
            for i in range(num_images):
                rgb, depth_mm, labels, meta = renderer.render(
                    scene_seed(seed, i), np.random.default_rng([seed, i, 1])
                )
                stem = f"{i:06d}"
                file_name = f"{stem}.{config.image_format}"
                bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
                params = [cv2.IMWRITE_JPEG_QUALITY, 95] if config.image_format == "jpg" else []
                if not cv2.imwrite(str(dirs["images"] / file_name), bgr, params):
                    raise ConfigError(
                        f"could not write {dirs['images'] / file_name}; check the output folder"
                    )
                if config.save_depth:
                    cv2.imwrite(str(dirs["depth"] / f"{stem}.png"), depth_mm)
                (dirs["labels"] / f"{stem}.txt").write_text(
                    "".join(_yolo_line(lb, W, H) + "\n" for lb in labels)
                )
                meta_file.write(json.dumps({"index": i, "file_name": file_name, **meta}) + "\n")
                coco_frames.append((file_name, W, H, labels))
                for lb in labels:
                    counts[CLASS_NAMES[lb.class_id]] += 1
                    occluded += lb.occluded
                if progress is not None:
                    progress(1)
    finally:
        renderer.close()
    (out_dir / "annotations" / f"{split}.json").write_text(json.dumps(coco_ground_truth(coco_frames)))
    return SplitSummary(split, num_images, seed, counts, occluded)


def write_dataset_yaml(out_dir: Path, splits: Sequence[str] = ("train", "val")) -> Path:
    """Write the ultralytics data file ``out_dir/dataset.yaml`` (absolute path, names by class id)."""
    out_dir = Path(out_dir).resolve()
    lines = [f"path: {out_dir}"]
    for split in splits:
        lines.append(f"{split}: images/{split}")
    lines.append("names:")
    lines += [f"  {i}: {name}" for i, name in enumerate(CLASS_NAMES)]
    path = out_dir / "dataset.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def build_dataset(
    out_dir: Path,
    train_images: int,
    val_images: int,
    seed: int = 0,
    val_seed: int = 1,
    config: DatasetConfig | None = None,
    progress: Callable[[int], None] | None = None,
) -> dict:
    """Render a train split and a held-out val split (different seed), plus dataset.yaml and manifest.json.

    Returns:
        The manifest (also written to ``out_dir/manifest.json``).
    """
    if seed == val_seed:
        raise ConfigError(
            f"the held-out split needs a seed different from the training seed, both are {seed}"
        )
    config = config if config is not None else DatasetConfig()
    out_dir = Path(out_dir)
    summaries = []
    if train_images > 0:
        summaries.append(render_split(out_dir, "train", train_images, seed, config, progress))
    summaries.append(render_split(out_dir, "val", val_images, val_seed, config, progress))
    write_dataset_yaml(out_dir, [s.split for s in summaries])
    manifest = {
        "classes": list(CLASS_NAMES),
        "config": asdict(config),
        "splits": {s.split: asdict(s) for s in summaries},
        "box_rule": "projected 8-corner box clipped to the image; sides cut back by occlusion move in to the "
        "visible pixels (segmentation render); pixel i spans [i, i+1)",
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest
