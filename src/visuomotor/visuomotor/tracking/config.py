"""Configuration of the 3D tracker (``config/tracker.yaml``: ``tracker: ros__parameters: ...``)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from visuomotor.config import config_from_flat, config_to_flat
from visuomotor.errors import ConfigError

__all__ = ["COST_METRICS", "TrackerConfig"]

#: ``mahalanobis``: Gaussian negative log-likelihood d² + ln|S| of the detection under the track's
#: prediction; ``euclidean``: distance in metres.
COST_METRICS = ("mahalanobis", "euclidean")


@dataclass(frozen=True, slots=True)
class TrackerConfig:
    """Parameters of :class:`~visuomotor.tracking.HungarianTracker`; keys of the params file = field names.

    Attributes:
        frame_id: frame every input position must be in (and the tracks are in).
        cost_metric: ``mahalanobis`` (default) or ``euclidean``, see ``COST_METRICS``.
        gate_mahalanobis_sq: largest d² accepted with the Mahalanobis metric (χ², 3 degrees of freedom:
            16.27 keeps 99.9 % of true matches).
        gate_distance_m: largest distance between prediction and detection for any metric, metres; it
            bounds the Mahalanobis gate, which widens without limit while a track is lost.
        confirm_hits: matched frames for a tentative track to become confirmed (1 = at once).
        tentative_max_misses: consecutive misses that delete a tentative track.
        lost_after_misses: consecutive misses that turn a confirmed track LOST (it keeps predicting).
        lost_timeout_s: a LOST track is deleted this long after its last match; within it, a match
            restores the same ID (occlusions by the gripper last up to ~1 s).
        process_accel_std_m_s2: σ of the white-noise acceleration of the constant-velocity model.
        measurement_std_m: σ of each position component of a localised detection.
        initial_velocity_std_m_s: σ of each velocity component of a new track (born at rest).
    """

    frame_id: str = "base_link"
    cost_metric: str = "mahalanobis"
    gate_mahalanobis_sq: float = 16.27
    gate_distance_m: float = 0.15
    confirm_hits: int = 3
    tentative_max_misses: int = 1
    lost_after_misses: int = 3
    lost_timeout_s: float = 1.5
    process_accel_std_m_s2: float = 0.3
    measurement_std_m: float = 0.01
    initial_velocity_std_m_s: float = 0.3

    def __post_init__(self) -> None:
        if not isinstance(self.frame_id, str) or not self.frame_id:
            raise ConfigError(f"tracker: frame_id must be a non-empty frame name, got {self.frame_id!r}")
        if self.cost_metric not in COST_METRICS:
            raise ConfigError(f"tracker: cost_metric must be one of {COST_METRICS}, got {self.cost_metric!r}")
        for key in (
            "gate_mahalanobis_sq",
            "gate_distance_m",
            "lost_timeout_s",
            "process_accel_std_m_s2",
            "measurement_std_m",
        ):
            value = getattr(self, key)
            if not (math.isfinite(value) and value > 0):
                raise ConfigError(f"tracker: {key} must be a positive finite number, got {value}")
        if not (math.isfinite(self.initial_velocity_std_m_s) and self.initial_velocity_std_m_s >= 0):
            raise ConfigError(
                f"tracker: initial_velocity_std_m_s must be ≥ 0, got {self.initial_velocity_std_m_s}"
            )
        for key in ("confirm_hits", "tentative_max_misses", "lost_after_misses"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 1000:
                raise ConfigError(f"tracker: {key} must be an integer in [1, 1000], got {value!r}")

    @classmethod
    def from_flat(cls, d: Mapping[str, Any]) -> TrackerConfig:
        """Build from ROS-style parameters (``{"confirm_hits": 2, ...}``); missing keys keep defaults.

        Raises:
            ConfigError: an unknown key, a wrong type or a value out of range; the message names the key.
        """
        return config_from_flat(cls, d, "tracker")

    def to_flat_dict(self) -> dict[str, Any]:
        """The inverse of :meth:`from_flat`."""
        return config_to_flat(self)
