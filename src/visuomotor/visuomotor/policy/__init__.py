"""The ACT policy: observation → chunk of k TCP poses + gripper, trained on scripted-expert demos.

Split like LeRobot's ACT: ``configuration`` (``ActConfig`` network/objective, ``PolicyConfig`` runtime)
⟂ ``visuomotor.training.policy_model`` (the stateless PyTorch CVAE transformer) ⟂ ``runtime``
(``ActOnnxPolicy``: ``reset()``, ``select_action()``, ``predict_action_chunk()`` on onnxruntime) with
temporal ensembling in its own class (``ensembling``). ``observation`` fixes the observation/action
layouts and their normalisation; ``targets`` chooses the target cube and bin tracks that fill it.

The runtime only (numpy + onnxruntime): the PyTorch model, its training, the demos, the experts and the
sim evaluations are tools above it, in ``visuomotor.training``.
"""

from visuomotor.policy.configuration import PROVIDER_FALLBACKS, TARGET_CLASSES, ActConfig, PolicyConfig
from visuomotor.policy.ensembling import TemporalEnsembler, ensemble_offline
from visuomotor.policy.errors import PolicyError
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
