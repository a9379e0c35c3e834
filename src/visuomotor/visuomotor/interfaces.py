"""The dataclasses passed between stages (one module, as rosbags keeps its shared types).

Frozen and slotted; positions are tuples in metres with the frame in a field or the name; pixel boxes
are (x_min, y_min, x_max, y_max) with pixel centres at integer coordinates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from visuomotor.errors import CameraError, ConfigError

__all__ = ["IMAGE_ENCODINGS", "Detection", "Object3D", "Track", "TrackState", "image_array"]

#: sensor_msgs/Image encodings we read and write → (numpy dtype, channels); one table for the ROS
#: conversion and the bag reader.
IMAGE_ENCODINGS: dict[str, tuple[np.dtype, int]] = {
    "rgb8": (np.dtype(np.uint8), 3),
    "bgr8": (np.dtype(np.uint8), 3),
    "mono8": (np.dtype(np.uint8), 1),
    "16UC1": (np.dtype("<u2"), 1),
    "mono16": (np.dtype("<u2"), 1),
    "32FC1": (np.dtype("<f4"), 1),
}


def image_array(msg: object) -> np.ndarray:
    """View a ``sensor_msgs/Image`` — an rclpy message or a bag record, any object with its fields — as
    (H, W, C) or (H, W), without copying (``np.frombuffer`` over the data, row padding dropped).

    Raises:
        CameraError: an encoding not in ``IMAGE_ENCODINGS``, an empty or big-endian image, or fewer bytes
            than height × step.
    """
    encoding = msg.encoding  # type: ignore[attr-defined]
    spec = IMAGE_ENCODINGS.get(encoding)
    if spec is None:
        raise CameraError(
            f"unsupported image encoding {encoding!r}: expected one of {sorted(IMAGE_ENCODINGS)}"
        )
    dtype, channels = spec
    h, w, step = int(msg.height), int(msg.width), int(msg.step)  # type: ignore[attr-defined]
    data = msg.data  # type: ignore[attr-defined]
    if h == 0 or w == 0:
        raise CameraError("empty image (width or height is 0)")
    if msg.is_bigendian and dtype.itemsize > 1:  # type: ignore[attr-defined]
        raise CameraError(f"big-endian {encoding} images are not supported: publish little-endian")
    row_bytes = w * channels * dtype.itemsize
    if step < row_bytes or len(data) < step * h:
        raise CameraError(
            f"{encoding} image {w}×{h} needs step ≥ {row_bytes} and {row_bytes * h} bytes, "
            f"got step {step} and {len(data)} bytes"
        )
    buf = np.frombuffer(data, dtype=np.uint8, count=step * h).reshape(h, step)
    pixels = buf[:, :row_bytes].view(dtype)
    return pixels.reshape(h, w, channels) if channels > 1 else pixels.reshape(h, w)


@dataclass(frozen=True, slots=True)
class Detection:
    """One 2D detection.

    Attributes:
        class_id: index into the model's class names.
        class_name: the model's name for it (e.g. ``red_cube``).
        score: confidence in [0, 1].
        box_px: (x_min, y_min, x_max, y_max) in pixels of the source image.
    """

    class_id: int
    class_name: str
    score: float
    box_px: tuple[float, float, float, float]

    def __post_init__(self) -> None:
        x0, y0, x1, y1 = self.box_px
        if not all(math.isfinite(v) for v in self.box_px) or x1 < x0 or y1 < y0:
            raise ConfigError(
                f"Detection.box_px must be finite (x_min, y_min, x_max, y_max), got {self.box_px}"
            )

    @property
    def center_px(self) -> tuple[float, float]:
        x0, y0, x1, y1 = self.box_px
        return ((x0 + x1) / 2.0, (y0 + y1) / 2.0)


@dataclass(frozen=True, slots=True)
class Object3D:
    """A detection lifted to 3D.

    Attributes:
        detection: the 2D detection it came from.
        position_m: (x, y, z) object centre in ``frame_id``.
        frame_id: frame of ``position_m`` (``base_link`` after extrinsics, or the camera optical frame).
        depth_m: depth along the optical axis used for the lift.
    """

    detection: Detection
    position_m: tuple[float, float, float]
    frame_id: str
    depth_m: float

    @property
    def class_id(self) -> int:
        return self.detection.class_id

    @property
    def class_name(self) -> str:
        return self.detection.class_name

    @property
    def score(self) -> float:
        return self.detection.score


class TrackState(IntEnum):
    """Track lifecycle; values equal ``visuomotor_interfaces/Track`` constants."""

    TENTATIVE = 0
    CONFIRMED = 1
    LOST = 2


@dataclass(frozen=True, slots=True)
class Track:
    """One tracked object after a tracker update.

    Attributes:
        track_id: stable identity (never reused within a tracker's life).
        class_id, class_name: the class the track is bound to.
        position_m: filtered position in ``frame_id``.
        velocity_m_s: filtered velocity in ``frame_id``.
        state: lifecycle state.
        age: frames since birth; hits: matched frames; misses: consecutive unmatched frames.
        score: score of the last matched detection.
        frame_id: frame of position and velocity.
    """

    track_id: int
    class_id: int
    class_name: str
    position_m: tuple[float, float, float]
    velocity_m_s: tuple[float, float, float]
    state: TrackState
    age: int
    hits: int
    misses: int
    score: float
    frame_id: str
