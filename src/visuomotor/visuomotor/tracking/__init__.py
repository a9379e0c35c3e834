"""3D multi-object tracking: a constant-velocity Kalman filter per track, gated Hungarian assignment
(Mahalanobis or Euclidean cost, class-consistent) and a tentative → confirmed → lost lifecycle.

Positions and velocities are in the tracker's ``frame_id`` (``base_link``), metres and m/s; time comes
from the frames' source stamps in nanoseconds.
"""

from visuomotor.tracking.assignment import Assignment, gated_assignment
from visuomotor.tracking.config import COST_METRICS, TrackerConfig
from visuomotor.tracking.errors import TrackingError
from visuomotor.tracking.kalman import (
    cv_process_noise,
    cv_transition,
    kf_initiate,
    kf_predict,
    kf_project,
    kf_update,
    mahalanobis_sq,
)
from visuomotor.tracking.tracker import HungarianTracker

__all__ = [
    "COST_METRICS",
    "Assignment",
    "HungarianTracker",
    "TrackerConfig",
    "TrackingError",
    "cv_process_noise",
    "cv_transition",
    "gated_assignment",
    "kf_initiate",
    "kf_predict",
    "kf_project",
    "kf_update",
    "mahalanobis_sq",
]
