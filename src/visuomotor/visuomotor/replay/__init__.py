"""Replay recorded bags: offline through the core pipeline (detect → localise → track), deterministically.

``replay_offline(bag, ReplayConfig(...))`` returns an :class:`OfflineRun`; ``run.write(out_dir)`` writes
``result.json`` (deterministic, schema ``visuomotor.replay/1``) and ``timing.json`` (this run's stage
times and the recorded graph run's frame trails). Replaying a bag into a live ROS graph is the
``visuomotor_ros`` ``replay`` node (``visuomotor replay BAG --graph``).
"""

from visuomotor.replay.config import ReplayConfig, resolve_path
from visuomotor.replay.ground_truth import (
    GroundTruthObject,
    ground_truth_objects,
    projected_box,
)
from visuomotor.replay.offline import replay_offline
from visuomotor.replay.result import (
    DECIMALS,
    RESULT_FILE,
    RESULT_SCHEMA,
    STAGES,
    TIMING_FILE,
    TIMING_SCHEMA,
    CameraSummary,
    FrameResult,
    OfflineRun,
    PolicyLog,
    dump_json,
)

__all__ = [
    "DECIMALS",
    "RESULT_FILE",
    "RESULT_SCHEMA",
    "STAGES",
    "TIMING_FILE",
    "TIMING_SCHEMA",
    "CameraSummary",
    "FrameResult",
    "GroundTruthObject",
    "OfflineRun",
    "PolicyLog",
    "ReplayConfig",
    "dump_json",
    "ground_truth_objects",
    "projected_box",
    "replay_offline",
    "resolve_path",
]
