"""3D localisation: 2D detections + aligned metric depth → object centres in the target frame.

Per detection: the robust depth is the median of the valid depth in the inner part of its box (holes,
zeros, NaN and out-of-range pixels ignored); the box centre is deprojected at that depth into the camera
optical frame (X = (u − cx)·d/fx, Y = (v − cy)·d/fy, Z = d); the point, which lies on the visible face,
is moved half the object size further along the viewing ray to reach the object centre; extrinsics map
it into ``target_frame`` (p_base = R·p_cam + t).

The inner fraction and the half-size correction work together: on the sim camera (≈ 48° above the
table, 1.3–1.7 m from the cubes) the inner half gave a median error of 1.2 mm against ground truth
(tests/unit/geometry), an inner 0.3 or 0.7 about 4 mm, and no correction 26 mm.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from visuomotor.config import config_from_flat, config_to_flat
from visuomotor.errors import CameraError, ConfigError, InvalidDepthError
from visuomotor.geometry.box_fit import fit_resting_box
from visuomotor.geometry.extrinsics import Extrinsics
from visuomotor.geometry.intrinsics import CameraIntrinsics
from visuomotor.interfaces import Detection, Object3D

__all__ = [
    "LocaliseResult",
    "Localiser",
    "LocaliserConfig",
    "SkippedDetection",
    "inner_box_slices",
    "robust_box_depth",
]


@dataclass(frozen=True, slots=True)
class LocaliserConfig:
    """Parameters of the 3D localiser (``config/localiser.yaml``, keys = field names).

    Attributes:
        inner_box_fraction: side length of the centred sub-box sampled for depth, as a fraction of the
            box's width and height, in (0, 1]; the inner half avoids background at the box corners.
        min_depth_m: depth below this is invalid (RealSense D455 min-Z ≈ 0.4 m at 640×480).
        max_depth_m: depth above this is invalid.
        min_valid_fraction: share of the inner box's pixels that must hold valid depth, in [0, 1]; at
            least one pixel is always required.
        class_names: classes with a known size, e.g. ``red_cube``.
        class_sizes_m: size of each of ``class_names`` along the viewing ray (cube edge), metres; the
            visible-face point is moved half of it further from the camera. 0 = no correction.
        default_size_m: size for classes not in ``class_names``, metres.
        box_fit_class_names: classes localised by :func:`~visuomotor.geometry.fit_resting_box` instead of
            depth (known boxes standing upright on the table, edges along the target frame's axes).
        box_fit_extents_m: their sizes, 3 numbers (x, y, z extent, metres) per class, flattened.
        support_plane_z_m: height of the table plane in ``target_frame`` (table top: 0): box-fit objects
            stand on it, and no sized object's centre is put below it by half its size.
        target_frame: frame of the output positions; must equal the extrinsics' parent frame.
    """

    inner_box_fraction: float = 0.5
    min_depth_m: float = 0.3
    max_depth_m: float = 6.0
    min_valid_fraction: float = 0.1
    class_names: tuple[str, ...] = ("red_cube", "green_cube", "blue_cube", "bin")
    # The bin is localised at the visible surface at its box centre (its floor, seen from above): that is
    # where a cube is dropped, and an open box has no face whose half-size would lead to its centre.
    class_sizes_m: tuple[float, ...] = (0.05, 0.05, 0.05, 0.0)
    default_size_m: float = 0.0
    # The policy observes the bin's box centre; depth alone would give its floor (see box_fit).
    box_fit_class_names: tuple[str, ...] = ("bin",)
    box_fit_extents_m: tuple[float, ...] = (0.3, 0.3, 0.1)
    support_plane_z_m: float = 0.0
    target_frame: str = "base_link"

    def __post_init__(self) -> None:
        if not (math.isfinite(self.inner_box_fraction) and 0.0 < self.inner_box_fraction <= 1.0):
            raise ConfigError(
                f"localiser: inner_box_fraction must be in (0, 1], got {self.inner_box_fraction}"
            )
        if not (math.isfinite(self.min_depth_m) and self.min_depth_m >= 0.0):
            raise ConfigError(f"localiser: min_depth_m must be ≥ 0, got {self.min_depth_m}")
        if not (math.isfinite(self.max_depth_m) and self.max_depth_m > self.min_depth_m):
            raise ConfigError(
                f"localiser: max_depth_m ({self.max_depth_m}) must be finite and exceed min_depth_m "
                f"({self.min_depth_m})"
            )
        if not (math.isfinite(self.min_valid_fraction) and 0.0 <= self.min_valid_fraction <= 1.0):
            raise ConfigError(
                f"localiser: min_valid_fraction must be in [0, 1], got {self.min_valid_fraction}"
            )
        if len(self.class_names) != len(self.class_sizes_m):
            raise ConfigError(
                f"localiser: class_sizes_m needs one size per entry of class_names, got "
                f"{len(self.class_sizes_m)} sizes for {len(self.class_names)} names"
            )
        if any(not isinstance(n, str) or not n for n in self.class_names):
            raise ConfigError(
                f"localiser: class_names must be non-empty strings, got {list(self.class_names)}"
            )
        if len(set(self.class_names)) != len(self.class_names):
            raise ConfigError(f"localiser: class_names has duplicates: {list(self.class_names)}")
        for name, size in (
            *zip(self.class_names, self.class_sizes_m, strict=True),
            ("default", self.default_size_m),
        ):
            if not (math.isfinite(size) and 0.0 <= size <= 2.0):
                key = "default_size_m" if name == "default" else f"class_sizes_m (for {name!r})"
                raise ConfigError(f"localiser: {key} must be in [0, 2] m, got {size}")
        if len(self.box_fit_extents_m) != 3 * len(self.box_fit_class_names):
            raise ConfigError(
                f"localiser: box_fit_extents_m needs 3 sizes (x, y, z) per entry of box_fit_class_names, got "
                f"{len(self.box_fit_extents_m)} numbers for {len(self.box_fit_class_names)} names"
            )
        if any(not (math.isfinite(e) and 0.0 < e <= 5.0) for e in self.box_fit_extents_m):
            raise ConfigError(
                f"localiser: box_fit_extents_m must be in (0, 5] m, got {list(self.box_fit_extents_m)}"
            )
        if not math.isfinite(self.support_plane_z_m):
            raise ConfigError(f"localiser: support_plane_z_m must be finite, got {self.support_plane_z_m}")
        if not isinstance(self.target_frame, str) or not self.target_frame:
            raise ConfigError(
                f"localiser: target_frame must be a non-empty frame name, got {self.target_frame!r}"
            )

    def size_m(self, class_name: str) -> float:
        """Object size used for the face correction of ``class_name``, metres."""
        for name, size in zip(self.class_names, self.class_sizes_m, strict=True):
            if name == class_name:
                return size
        return self.default_size_m

    @classmethod
    def from_flat(cls, d: Mapping[str, Any]) -> LocaliserConfig:
        """Build from ROS-style parameters (``{"inner_box_fraction": 0.5, ...}``); missing keys keep defaults.

        Lists are accepted for tuple fields and ints for floats (ROS parameter files write ``1`` for ``1.0``).

        Raises:
            ConfigError: an unknown key, a wrong type or a value out of range; the message names the key.
        """
        return config_from_flat(cls, d, "localiser")

    def to_flat_dict(self) -> dict[str, Any]:
        """The inverse of :meth:`from_flat` (tuples as lists, ROS-parameter friendly)."""
        return config_to_flat(self)


@dataclass(frozen=True, slots=True)
class SkippedDetection:
    """A detection the localiser could not lift, and why (e.g. no valid depth in its box)."""

    detection: Detection
    reason: str


@dataclass(frozen=True, slots=True)
class LocaliseResult:
    """Output of :meth:`Localiser.localise`.

    Attributes:
        objects: the localised detections, in input order, positions in the target frame.
        skipped: detections without a position, with the reason; never silently dropped.
    """

    objects: tuple[Object3D, ...]
    skipped: tuple[SkippedDetection, ...]


def inner_box_slices(
    box_px: tuple[float, float, float, float], fraction: float, width_px: int, height_px: int
) -> tuple[slice, slice] | None:
    """Pixel rows and columns of the centred inner part of a box, clipped to the image.

    Pixel centres sit at integer coordinates, so a pixel belongs to the inner box when its centre does;
    an inner box narrower than a pixel keeps the pixel nearest its centre.

    Args:
        box_px: (x_min, y_min, x_max, y_max) in pixels.
        fraction: side of the inner box relative to the box, in (0, 1].
        width_px, height_px: image size.

    Returns:
        (rows, cols) slices into an (H, W) image, or None when the inner box lies outside the image.
    """
    x0, y0, x1, y1 = box_px
    spans = []
    for lo_px, hi_px, size in ((y0, y1, height_px), (x0, x1, width_px)):
        centre, half = (lo_px + hi_px) / 2.0, (hi_px - lo_px) * fraction / 2.0
        lo, hi = math.ceil(centre - half), math.floor(centre + half)
        if lo > hi:
            lo = hi = math.floor(centre + 0.5)
        lo, hi = max(lo, 0), min(hi, size - 1)
        if lo > hi:
            return None
        spans.append(slice(lo, hi + 1))
    return spans[0], spans[1]


def robust_box_depth(
    depth_m: np.ndarray,
    box_px: tuple[float, float, float, float],
    *,
    inner_fraction: float = 0.5,
    min_depth_m: float = 0.0,
    max_depth_m: float = math.inf,
    min_valid_fraction: float = 0.0,
) -> float:
    """Median of the valid depth in the inner part of a box.

    Args:
        depth_m: (H, W) depth along the optical axis: float metres (NaN/0/inf = no data) or uint16
            millimetres as ``16UC1`` holds them (0 = no data; only the sampled patch is converted).
        box_px: (x_min, y_min, x_max, y_max) in pixels.
        inner_fraction: side of the sampled centred sub-box relative to the box, in (0, 1].
        min_depth_m, max_depth_m: valid depth range (inclusive), metres.
        min_valid_fraction: share of sampled pixels that must be valid (at least one always is required).

    Returns:
        The median valid depth, metres.

    Raises:
        InvalidDepthError: the inner box is outside the image or holds too few valid pixels; the message
            names the box.
    """
    h, w = depth_m.shape
    spans = inner_box_slices(box_px, inner_fraction, w, h)
    if spans is None:
        raise InvalidDepthError(f"box {_box_text(box_px)} px lies outside the {w}×{h} depth image")
    patch = depth_m[spans]
    if patch.dtype == np.uint16:
        patch = patch.astype(np.float32) * np.float32(1e-3)  # 0 stays 0: no data, dropped below
    # NaN compares False, so holes drop out here without a separate isfinite pass.
    values = patch[(patch >= min_depth_m) & (patch <= max_depth_m) & (patch > 0.0)]
    needed = max(1, math.ceil(min_valid_fraction * patch.size))
    if values.size < needed:
        raise InvalidDepthError(
            f"box {_box_text(box_px)} px: {values.size} of {patch.size} pixels in its inner "
            f"{inner_fraction:.0%} hold valid depth in [{min_depth_m}, {max_depth_m}] m, need {needed} "
            "(holes, zeros, NaN or out of range)"
        )
    return _median(values)


class Localiser:
    """Lifts 2D detections to object centres in ``config.target_frame`` using aligned depth.

    Args:
        config: localiser parameters.
        intrinsics: pinhole model of the colour image the boxes live in (depth is aligned to it).
        extrinsics: ``T_target_camera``, the camera optical frame in ``config.target_frame``.

    Raises:
        ConfigError: the extrinsics' parent frame is not ``config.target_frame``.
    """

    def __init__(self, config: LocaliserConfig, intrinsics: CameraIntrinsics, extrinsics: Extrinsics) -> None:
        if extrinsics.parent_frame != config.target_frame:
            raise ConfigError(
                f"localiser: target_frame is {config.target_frame!r} but the extrinsics map "
                f"{extrinsics.child_frame!r} into {extrinsics.parent_frame!r}; "
                f"load T_{config.target_frame}_camera"
            )
        self.config = config
        self.intrinsics = intrinsics
        self.extrinsics = extrinsics
        self._R = np.ascontiguousarray(extrinsics.rotation)
        self._t = extrinsics.translation_m.copy()
        self._half_size = {n: s / 2.0 for n, s in zip(config.class_names, config.class_sizes_m, strict=True)}
        extents = np.asarray(config.box_fit_extents_m, dtype=np.float64).reshape(-1, 3)
        self._box_fit = dict(zip(config.box_fit_class_names, extents, strict=True))

    @property
    def camera_frame(self) -> str:
        """The optical frame the depth image and boxes belong to."""
        return self.extrinsics.child_frame

    def localise(self, detections: Sequence[Detection], depth_m: np.ndarray) -> LocaliseResult:
        """Localise every detection; those without valid depth are skipped with the reason.

        Args:
            detections: boxes in the colour image.
            depth_m: (H, W) depth aligned to colour: float metres, NaN = no data (see ``depth_to_metres``),
                or the uint16 millimetres of a ``16UC1`` image as they come (0 = no data): only the
                sampled box centres are converted, not the whole image (≈ 0.4 ms saved per frame).

        Returns:
            Object centres in ``config.target_frame`` plus the skipped detections.

        Raises:
            CameraError: the depth image is not a 2D float/uint16 image of the intrinsics' size (a frame-level
                problem, unlike a single box without depth).
        """
        K, cfg = self.intrinsics, self.config
        if not isinstance(depth_m, np.ndarray) or depth_m.ndim != 2 or not (
            depth_m.dtype.kind == "f" or depth_m.dtype == np.uint16
        ):
            raise CameraError(
                "localiser: depth must be a 2D image, float metres or uint16 millimetres (16UC1; convert "
                "other encodings with depth_to_metres), got "
                f"{getattr(depth_m, 'dtype', type(depth_m).__name__)} {getattr(depth_m, 'shape', '')}"
            )
        if depth_m.shape != (K.height_px, K.width_px):
            raise CameraError(
                f"localiser: depth image is {depth_m.shape[1]}×{depth_m.shape[0]} but the intrinsics are for "
                f"{K.width_px}×{K.height_px}: align depth to colour (align_depth.enable:=true)"
            )
        kept: list[Detection] = []
        depths: list[float] = []
        skipped: list[SkippedDetection] = []
        for det in detections:
            try:
                z = robust_box_depth(
                    depth_m,
                    det.box_px,
                    inner_fraction=cfg.inner_box_fraction,
                    min_depth_m=cfg.min_depth_m,
                    max_depth_m=cfg.max_depth_m,
                    min_valid_fraction=cfg.min_valid_fraction,
                )
            except InvalidDepthError as err:
                skipped.append(SkippedDetection(det, f"{det.class_name}: {err}"))
                continue
            kept.append(det)
            depths.append(z)
        if not kept:
            return LocaliseResult((), tuple(skipped))
        # All kept detections at once: (N, 3) points on the visible faces in the optical frame.
        boxes = np.array([d.box_px for d in kept], dtype=np.float64)
        z = np.array(depths)
        u = (boxes[:, 0] + boxes[:, 2]) * 0.5
        v = (boxes[:, 1] + boxes[:, 3]) * 0.5
        p_face = np.stack([(u - K.cx_px) * z / K.fx_px, (v - K.cy_px) * z / K.fy_px, z], axis=1)
        half = np.array([self._half_size.get(d.class_name, cfg.default_size_m / 2.0) for d in kept])
        # The face is nearer the camera than the centre: continue along the unit viewing ray.
        p_cam = p_face + p_face * (half / np.linalg.norm(p_face, axis=1))[:, None]
        p_target = p_cam @ self._R.T + self._t
        # A solid object cannot sink into its support: a centre lower than half its size above the plane
        # comes from table pixels in a partly occluded box (fingers around a cube), so lift it there.
        sized = half > 0
        p_target[sized, 2] = np.maximum(p_target[sized, 2], cfg.support_plane_z_m + half[sized])
        for i, det in enumerate(kept):
            extent = self._box_fit.get(det.class_name)
            if extent is not None:
                fit = fit_resting_box(
                    det.box_px, extent, cfg.support_plane_z_m, K, self.extrinsics.matrix, p_target[i, :2]
                )
                if fit is not None:  # else the geometry admits no fit: keep the depth estimate
                    p_target[i] = fit
        objects = tuple(
            Object3D(det, (float(p[0]), float(p[1]), float(p[2])), cfg.target_frame, float(d))
            for det, p, d in zip(kept, p_target, depths, strict=True)
        )
        return LocaliseResult(objects, tuple(skipped))


def _median(values: np.ndarray) -> float:
    """Median of a non-empty 1D array; np.partition directly is ~5× faster than np.median at box sizes."""
    k = values.size // 2
    if values.size % 2:
        return float(np.partition(values, k)[k])
    part = np.partition(values, (k - 1, k))
    return 0.5 * (float(part[k - 1]) + float(part[k]))


def _box_text(box_px: tuple[float, float, float, float]) -> str:
    return "[" + ", ".join(f"{v:.1f}" for v in box_px) + "]"
