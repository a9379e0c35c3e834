"""Configuration of an offline replay (one documented dataclass, validated on construction)."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from visuomotor.config import read_params_file
from visuomotor.detection import DetectorConfig
from visuomotor.errors import ConfigError
from visuomotor.geometry import LocaliserConfig
from visuomotor.tracking import TrackerConfig

__all__ = ["ReplayConfig", "resolve_path"]


def resolve_path(path: str, what: str) -> Path:
    """An absolute path as is; a relative one from the working directory, else from ``$VISUOMOTOR_ROOT``.

    Raises:
        ConfigError: the file exists in neither place (the message lists both).
    """
    p = Path(path)
    candidates = [p] if p.is_absolute() else [Path.cwd() / p]
    if not p.is_absolute() and os.environ.get("VISUOMOTOR_ROOT"):
        candidates.append(Path(os.environ["VISUOMOTOR_ROOT"]) / p)
    for c in candidates:
        if c.is_file():
            return c
    raise ConfigError(f"{what} {path!r} not found; looked in: {', '.join(str(c) for c in candidates)}")


@dataclass(frozen=True, slots=True)
class ReplayConfig:
    """How to replay a bag through detect → localise → track.

    Attributes:
        detector: the detector (``detector.model_path`` is the ONNX model; relative paths are resolved
            from the working directory, then ``$VISUOMOTOR_ROOT``).
        localiser: the 3D localiser; its ``target_frame`` must be the extrinsics' parent frame.
        tracker: the tracker; its ``frame_id`` must equal ``localiser.target_frame``.
        extrinsics_path: ``T_base_link_camera`` YAML (``config/extrinsics/*.yaml``), resolved like the model.
        color_topic, depth_topic, info_topic: camera topics; "" = detect the layout (sim / realsense2_camera).
        ground_truth_topic: ``visuomotor_interfaces/SimGroundTruth`` topic (none in a bag: no ground truth).
        frame_trail_topic: the live graph's ``FrameTrail`` topic, copied into ``timing.json``.
        status_topics: ``std_msgs/String`` topics whose texts form ``policy.status``; besides these, every
            String topic under ``/visuomotor/`` whose name ends in ``status`` is read.
        rejection_topic: ``std_msgs/String`` reason codes of rejected commands (``policy.rejections``).
        sync_tolerance_ms: largest colour ↔ depth stamp difference for a pair (ms, > 0).
        ground_truth_tolerance_ms: largest frame ↔ ground-truth stamp difference (ms, > 0).
        start_offset_s: skip the bag's first seconds (by log time, ≥ 0).
        max_frames: stop after this many frames (0 = all).
        progress: show a tqdm progress bar on stderr.
    """

    detector: DetectorConfig = field(default_factory=DetectorConfig)
    localiser: LocaliserConfig = field(default_factory=LocaliserConfig)
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    extrinsics_path: str = "config/extrinsics/sim.yaml"
    color_topic: str = ""
    depth_topic: str = ""
    info_topic: str = ""
    ground_truth_topic: str = "/sim/ground_truth"
    frame_trail_topic: str = "/visuomotor/frame_trail"
    status_topics: tuple[str, ...] = ("/scripted_pick/status",)
    rejection_topic: str = "/visuomotor/rejections"
    sync_tolerance_ms: float = 5.0
    ground_truth_tolerance_ms: float = 20.0
    start_offset_s: float = 0.0
    max_frames: int = 0
    progress: bool = False

    def __post_init__(self) -> None:
        for key in ("sync_tolerance_ms", "ground_truth_tolerance_ms"):
            value = getattr(self, key)
            if not (math.isfinite(value) and value > 0):
                raise ConfigError(f"replay: {key} must be a positive number of milliseconds, got {value}")
        if not (math.isfinite(self.start_offset_s) and self.start_offset_s >= 0):
            raise ConfigError(f"replay: start_offset_s must be ≥ 0, got {self.start_offset_s}")
        if isinstance(self.max_frames, bool) or not isinstance(self.max_frames, int) or self.max_frames < 0:
            raise ConfigError(f"replay: max_frames must be an integer ≥ 0 (0 = all), got {self.max_frames!r}")
        if self.tracker.frame_id != self.localiser.target_frame:
            raise ConfigError(
                f"replay: tracker.frame_id ({self.tracker.frame_id!r}) must equal localiser.target_frame "
                f"({self.localiser.target_frame!r})"
            )
        if not self.extrinsics_path:
            raise ConfigError("replay: extrinsics_path must name a config/extrinsics/*.yaml file")

    @classmethod
    def from_params_files(
        cls,
        config_dir: str | Path = "config",
        *,
        required: bool = False,
        **overrides: object,
    ) -> ReplayConfig:
        """The stage configs from ``detector.yaml``, ``localiser.yaml`` and ``tracker.yaml`` in ``config_dir``
        (the files the graph's nodes read), so an offline replay runs with the live pipeline's parameters.

        Args:
            config_dir: directory of the params files (relative: resolved like the model).
            required: raise when a file is missing instead of keeping that stage's defaults.
            overrides: further ``ReplayConfig`` fields (e.g. ``extrinsics_path``, ``max_frames``).

        Raises:
            ConfigError: a file is unreadable or holds an unknown/invalid key (named).
        """
        stages: dict[str, object] = {}
        for name, config_cls in (
            ("detector", DetectorConfig),
            ("localiser", LocaliserConfig),
            ("tracker", TrackerConfig),
        ):
            try:
                path = resolve_path(str(Path(config_dir) / f"{name}.yaml"), f"{name} params file")
            except ConfigError:
                if required:
                    raise
                continue
            stages[name] = config_cls.from_flat(read_params_file(path, name))  # type: ignore[attr-defined]
        return cls(**{**stages, **overrides})  # type: ignore[arg-type]

    @property
    def model_path(self) -> str:
        """The detector model (``detector.model_path``)."""
        return self.detector.model_path
