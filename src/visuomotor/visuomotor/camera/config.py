"""Configuration of the RealSense source: one frozen dataclass per concern, validated on construction.

A ROS node reads ``config/camera.yaml`` (``camera: ros__parameters: ...``) into :class:`RealSenseConfig`
with :meth:`RealSenseConfig.from_flat`; nested sections become dotted keys (``colour.width_px``),
exactly as ROS 2 flattens a nested parameters file. Every error names the dotted key.

The defaults are a D455's usual pair (realsense2_camera's defaults): colour 640×480 rgb8, depth 848×480 z16,
both at 30 fps; depth is always aligned to colour (``rs.align``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from visuomotor.config import (
    config_from_flat,
    config_to_flat,
    require_positive,
)
from visuomotor.errors import ConfigError

__all__ = [
    "COLOUR_FORMATS",
    "DEPTH_FORMATS",
    "ColourStreamConfig",
    "DepthStreamConfig",
    "RealSenseConfig",
    "ReconnectConfig",
    "TimestampConfig",
]

#: Colour formats we accept from the device; both become RGB in :class:`~visuomotor.camera.RgbdCapture`.
COLOUR_FORMATS = ("rgb8", "bgr8")
#: Depth formats: z16 is what every D4xx streams (uint16 counts of the device's depth unit).
DEPTH_FORMATS = ("z16",)


def _check_stream(
    prefix: str, width_px: int, height_px: int, fps: int, fmt: str, formats: tuple[str, ...]
) -> None:
    if not (16 <= width_px <= 4096 and 16 <= height_px <= 4096):
        raise ConfigError(
            f"{prefix}.width_px/{prefix}.height_px must be in [16, 4096], got {width_px}×{height_px}"
        )
    if not 1 <= fps <= 300:
        raise ConfigError(f"{prefix}.fps must be in [1, 300], got {fps} (D4xx: 5, 6, 15, 30, 60, 90)")
    if fmt not in formats:
        raise ConfigError(f"{prefix}.format must be one of {formats}, got {fmt!r}")


@dataclass(frozen=True, slots=True)
class ColourStreamConfig:
    """The colour stream profile requested from the device.

    Attributes:
        width_px, height_px: image size.
        fps: frame rate (must equal ``depth.fps``).
        format: ``rgb8`` or ``bgr8`` as streamed; captures are always RGB.
    """

    width_px: int = 640
    height_px: int = 480
    fps: int = 30
    format: str = "rgb8"

    def __post_init__(self) -> None:
        _check_stream("colour", self.width_px, self.height_px, self.fps, self.format, COLOUR_FORMATS)


@dataclass(frozen=True, slots=True)
class DepthStreamConfig:
    """The depth stream profile requested from the device (aligned to colour after capture).

    Attributes:
        width_px, height_px: image size as streamed (the aligned output has the colour size).
        fps: frame rate (must equal ``colour.fps``).
        format: ``z16``.
    """

    width_px: int = 848
    height_px: int = 480
    fps: int = 30
    format: str = "z16"

    def __post_init__(self) -> None:
        _check_stream("depth", self.width_px, self.height_px, self.fps, self.format, DEPTH_FORMATS)


@dataclass(frozen=True, slots=True)
class ReconnectConfig:
    """What to do when the device goes away (unplugged, USB reset, no frames).

    Attributes:
        enabled: reopen the device by serial; off makes a lost device raise :class:`CameraError` from read().
        initial_backoff_s: wait before the first reopen attempt; doubles after each failed attempt.
        max_backoff_s: cap of the doubling back-off.
    """

    enabled: bool = True
    initial_backoff_s: float = 0.25
    max_backoff_s: float = 4.0

    def __post_init__(self) -> None:
        require_positive("reconnect.initial_backoff_s", self.initial_backoff_s)
        require_positive("reconnect.max_backoff_s", self.max_backoff_s)
        if self.max_backoff_s < self.initial_backoff_s:
            raise ConfigError(
                f"reconnect.max_backoff_s ({self.max_backoff_s}) must be ≥ reconnect.initial_backoff_s "
                f"({self.initial_backoff_s})"
            )
        if self.max_backoff_s > 60.0:
            raise ConfigError(f"reconnect.max_backoff_s must be ≤ 60 s, got {self.max_backoff_s}")


@dataclass(frozen=True, slots=True)
class TimestampConfig:
    """How device timestamps become host (ROS) stamps; see :mod:`visuomotor.camera.timestamps`.

    Attributes:
        use_global_time: enable the D4xx ``global_time_enabled`` option, so librealsense maps the device
            clock to the host system clock itself (its frames then arrive in the ``global_time`` domain and
            are used as they are). Off, frames carry the raw ``hardware_clock`` and the min-offset
            estimator maps them.
        offset_window_s: sliding window of the min-offset estimator; long enough to contain an undelayed
            frame, short enough that clock drift (≈ 50 ppm → 0.5 ms per 10 s) stays small.
    """

    use_global_time: bool = True
    offset_window_s: float = 10.0

    def __post_init__(self) -> None:
        require_positive("timestamps.offset_window_s", self.offset_window_s)
        if self.offset_window_s > 600.0:
            raise ConfigError(f"timestamps.offset_window_s must be ≤ 600 s, got {self.offset_window_s}")


@dataclass(frozen=True, slots=True)
class RealSenseConfig:
    """Everything :class:`~visuomotor.camera.RealSenseCamera` needs; defaults equal ``config/camera.yaml``.

    Attributes:
        serial: device serial number; ``""`` opens the first device found and then sticks to its serial
            (reconnects reopen that serial only).
        colour: colour stream profile.
        depth: depth stream profile.
        frame_timeout_s: no frameset for this long counts as a lost device (reconnect). Also the default
            wait of ``read()``.
        reconnect: reconnect back-off.
        timestamps: device → host time mapping.
    """

    serial: str = ""
    colour: ColourStreamConfig = field(default_factory=ColourStreamConfig)
    depth: DepthStreamConfig = field(default_factory=DepthStreamConfig)
    frame_timeout_s: float = 2.0
    reconnect: ReconnectConfig = field(default_factory=ReconnectConfig)
    timestamps: TimestampConfig = field(default_factory=TimestampConfig)

    def __post_init__(self) -> None:
        if self.serial != self.serial.strip() or any(c.isspace() for c in self.serial):
            raise ConfigError(f"serial must not contain whitespace, got {self.serial!r}")
        require_positive("frame_timeout_s", self.frame_timeout_s)
        if self.frame_timeout_s > 60.0:
            raise ConfigError(f"frame_timeout_s must be ≤ 60 s, got {self.frame_timeout_s}")
        # One colour per depth frame is what the syncer pairs; unequal rates give half-empty framesets.
        if self.colour.fps != self.depth.fps:
            raise ConfigError(
                f"colour.fps ({self.colour.fps}) must equal depth.fps ({self.depth.fps}) so every colour "
                "frame has a depth frame to align"
            )
        if self.frame_timeout_s * self.colour.fps < 2.0:
            raise ConfigError(
                f"frame_timeout_s ({self.frame_timeout_s}) must cover at least two frame periods at "
                f"colour.fps = {self.colour.fps}"
            )

    @classmethod
    def from_flat(cls, d: dict[str, Any]) -> RealSenseConfig:
        """Build a config from dotted keys (``{"colour.width_px": 1280, "serial": "0123"}``).

        Missing keys keep their defaults. Ints are accepted for floats (ROS parameter files write ``1`` for
        ``1.0``); nested dicts (as ``yaml.safe_load`` returns them) are flattened to dotted keys first.

        Raises:
            ConfigError: an unknown key, a value of the wrong type, or a value out of range; the message
                names the dotted key.
        """
        return config_from_flat(cls, d, "camera")

    def to_flat_dict(self) -> dict[str, Any]:
        """The inverse of :meth:`from_flat`: dotted keys (ROS-parameter friendly)."""
        return config_to_flat(self)
