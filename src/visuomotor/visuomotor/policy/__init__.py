"""The ACT policy: observation → chunk of k TCP poses + gripper, trained on scripted-expert demos.

Split like LeRobot's ACT: ``configuration`` (``ActConfig`` network/objective, ``PolicyConfig`` runtime)
⟂ ``modeling`` (the stateless PyTorch CVAE transformer) ⟂ ``runtime`` (``ActOnnxPolicy``: ``reset()``,
``select_action()``, ``predict_action_chunk()`` on onnxruntime) with temporal ensembling in its own class
(``ensembling``). ``observation`` fixes the observation/action layouts and their normalisation;
``targets`` chooses the target cube and bin tracks that fill it.

Imported here: the runtime side only (numpy + onnxruntime). The sim-side modules — ``sim_env`` (the pick
task at the control rate), ``demos`` (closed-loop expert + recorder), ``evaluation`` (rollouts with ground
truth) — need MuJoCo and are imported explicitly; ``modeling`` and ``training`` need torch (optional
training extra) and are never imported by the rest.
"""

from visuomotor.policy.configuration import (
    PROVIDER_FALLBACKS,
    TARGET_CLASSES,
    ActConfig,
    PolicyConfig,
    PolicyError,
)
from visuomotor.policy.ensembling import TemporalEnsembler, ensemble_offline
from visuomotor.policy.observation import (
    ACTION_DIM,
    ACTION_LAYOUT,
    OBS_DIM,
    OBS_LAYOUT,
    NormStats,
    action_from_pose,
    build_observation,
    gripper_command,
    pose_from_action,
    rotation_from_6d,
    rotation_to_6d,
)
from visuomotor.policy.runtime import INPUT_NAME, METADATA_FORMAT, OUTPUT_NAME, ActOnnxPolicy
from visuomotor.policy.targets import GraspedTarget, TargetSelector

__all__ = [
    "ACTION_DIM",
    "ACTION_LAYOUT",
    "INPUT_NAME",
    "METADATA_FORMAT",
    "OBS_DIM",
    "OBS_LAYOUT",
    "OUTPUT_NAME",
    "PROVIDER_FALLBACKS",
    "TARGET_CLASSES",
    "ActConfig",
    "ActOnnxPolicy",
    "GraspedTarget",
    "NormStats",
    "PolicyConfig",
    "PolicyError",
    "TargetSelector",
    "TemporalEnsembler",
    "action_from_pose",
    "build_observation",
    "ensemble_offline",
    "gripper_command",
    "pose_from_action",
    "rotation_from_6d",
    "rotation_to_6d",
]
