"""Configuration of the ACT policy: the network (:class:`ActConfig`) and the runtime (:class:`PolicyConfig`).

Split as in LeRobot's ``configuration_act.py``: a documented, frozen dataclass whose ``__post_init__``
rejects bad combinations and names the fields. ``ActConfig`` describes the network and its training
objective (it travels inside the ONNX metadata); ``PolicyConfig`` is what the ``policy`` node reads from
``config/policy.yaml`` (``policy: ros__parameters: ...``) via :meth:`PolicyConfig.from_flat`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from visuomotor.config import (
    config_from_flat,
    config_to_flat,
    require_int_range,
    require_range,
)
from visuomotor.errors import ConfigError
from visuomotor.policy.errors import PolicyError

__all__ = [
    "POLICY_TASKS",
    "PROVIDER_FALLBACKS",
    "TARGET_CLASSES",
    "ActConfig",
    "PolicyConfig",
    "PolicyError",
]

#: Classes the policy can be told to pick; ``any`` = the cube nearest the TCP.
TARGET_CLASSES = ("any", "red_cube", "green_cube", "blue_cube")
PROVIDER_FALLBACKS = ("warn", "error")
#: Tasks a policy can run (``observation.TASKS``): a cube on the table, or one on the conveyor belt.
POLICY_TASKS = ("pick", "conveyor")


@dataclass(frozen=True, slots=True)
class ActConfig:
    """Architecture and objective of Action Chunking with Transformers (Zhao et al., RSS 2023).

    The observation is a state vector (no images), split into three encoder tokens — robot state
    (joints + gripper), target position, bin position — beside the latent token, like LeRobot's
    ``robot_state``/``env_state`` tokens. The decoder turns ``chunk_size`` learned queries into the chunk.

    Attributes:
        chunk_size: k, actions predicted per inference (ACT: 100 at 50 Hz = 2 s; here 10 at 10 Hz = 1 s,
            enough to span the 0.3 s settle + 0.6 s close of a grasp).
        control_period_s: time between two actions of a chunk, seconds (the demos' control period).
        d_model: transformer width.
        n_heads: attention heads; must divide ``d_model``.
        dim_feedforward: hidden size of the feed-forward blocks (2 × d_model: the model must train in
            minutes on 2 CPU cores; ACT uses 3200 with ResNet image tokens).
        n_encoder_layers: transformer encoder layers over the observation tokens.
        n_decoder_layers: transformer decoder layers (ACT's original code effectively used 1).
        n_vae_encoder_layers: layers of the CVAE encoder (training only).
        latent_dim: size of the CVAE latent z (ACT: 32); inference uses z = 0, the prior mean.
        use_vae: train with the CVAE encoder and KL term; False = plain L1 regression.
        fk_features: add an encoder token (and skip input) of exact forward-kinematics features —
            TCP position, target − TCP, bin − TCP — computed in the graph from the observed joints.
        kl_weight: β of the KL term (ACT: 10).
        dropout: dropout in every transformer block (ACT: 0.1).
        temporal_ensembling: average the overlapping chunks at every step (ACT §IV-C) instead of
            playing ``n_action_steps`` actions from a queue.
        ensemble_coeff: m in w_i = exp(−m·i), i = 0 the OLDEST prediction (ACT: 0.01); ≥ 0.
        n_action_steps: actions played from one chunk before the next inference (queue mode).
    """

    chunk_size: int = 10
    control_period_s: float = 0.1
    d_model: int = 128
    n_heads: int = 4
    dim_feedforward: int = 256
    n_encoder_layers: int = 2
    n_decoder_layers: int = 1
    n_vae_encoder_layers: int = 1
    latent_dim: int = 16
    use_vae: bool = True
    fk_features: bool = True
    kl_weight: float = 10.0
    dropout: float = 0.1
    temporal_ensembling: bool = True
    ensemble_coeff: float = 0.01
    n_action_steps: int = 1

    def __post_init__(self) -> None:
        owner = "ActConfig"
        for name, hi in (
            ("chunk_size", 1000),
            ("d_model", 4096),
            ("n_heads", 64),
            ("dim_feedforward", 16384),
            ("n_encoder_layers", 32),
            ("n_decoder_layers", 32),
            ("n_vae_encoder_layers", 32),
            ("latent_dim", 1024),
            ("n_action_steps", 1000),
        ):
            require_int_range(f"{owner}.{name}", getattr(self, name), 1, hi)
        require_range(f"{owner}.control_period_s", self.control_period_s, 1e-3, 10.0)
        require_range(f"{owner}.dropout", self.dropout, 0.0, 0.9)
        require_range(f"{owner}.kl_weight", self.kl_weight, 0.0, 1e6)
        require_range(f"{owner}.ensemble_coeff", self.ensemble_coeff, 0.0, 10.0)
        if self.d_model % self.n_heads:
            raise ConfigError(
                f"ActConfig.d_model ({self.d_model}) must be divisible by ActConfig.n_heads ({self.n_heads})"
            )
        if self.n_action_steps > self.chunk_size:
            raise ConfigError(
                f"ActConfig.n_action_steps ({self.n_action_steps}) cannot exceed ActConfig.chunk_size "
                f"({self.chunk_size}): a chunk only holds chunk_size actions"
            )
        if self.temporal_ensembling and self.n_action_steps != 1:
            # LeRobot raises the same: ensembling queries the model every step by construction.
            raise ConfigError(
                "ActConfig.temporal_ensembling queries the policy every step, so ActConfig.n_action_steps "
                f"must be 1, got {self.n_action_steps}; turn ensembling off to play chunks from a queue"
            )

    @classmethod
    def from_flat(cls, flat: Mapping[str, Any]) -> ActConfig:
        """Build from dotted keys (missing keys keep defaults); raises ConfigError naming the key."""
        return config_from_flat(cls, flat, "act")

    def to_flat(self) -> dict[str, Any]:
        """The inverse of :meth:`from_flat`."""
        return config_to_flat(self)


@dataclass(frozen=True, slots=True)
class PolicyConfig:
    """Runtime parameters of the policy node (``config/policy.yaml``; keys = fields).

    Chunk size, control period and normalisation come from the ONNX model's metadata; this says how to
    run it.

    Attributes:
        model_path: the ACT ONNX file from ``visuomotor train act``.
        task: ``pick`` (a cube on the table) or ``conveyor`` (a cube on the belt: the observation adds the
            target's velocity, a hidden target is extrapolated along its fitted motion — ``MovingTarget``
            — and the aim is latency-compensated); the model must have been trained for it.
        latency_compensation: conveyor task: show the policy the target where it will be when the command
            acts, p + v·L with L = (tick time − camera stamp) + ``command_latency_s``
            (``visuomotor.policy.latency``); false = where it was seen. Static targets need none.
        command_latency_s: expected time from the policy's tick until the arm follows its command, beyond
            the demos' one-period step: policy → commander → driver hops (≈ 10–20 ms) and the commander's
            trajectory (the arm trails it ≈ 0.1 s longer than the demos' step); seconds of the world's
            clock. 0.15 put the TCP within 1 mm of a 0.1 m/s cube in lock-step (0: 10 mm behind). It is
            part of L in lock-step too, where the measured part is 0.
        motion_window_s: conveyor task: clear views of the target from the last this-many seconds are fit
            with a constant velocity to follow it while the gripper hides it.
        control_rate_hz: actions per second; must match the model's control period (the chunk is a
            time series at that period — playing it faster or slower changes the motion).
        tick_on_tracks: the node acts on every new tracks message, at the camera's rate (the time-based
            ensembler weaves chunks predicted at any rate into the model's plan), so each frame's command
            leaves as soon as its tracks arrive; false: a timer at ``control_rate_hz`` acts on the newest
            tracks (the conveyor task: re-planning a moving grasp 30×/s placed 13/20 in real time).
        temporal_ensembling: average overlapping chunks every step (smooth; one inference per step).
        ensemble_coeff: m in w_i = exp(−m·i), i = 0 the oldest prediction.
        n_action_steps: without ensembling, actions played from one chunk before the next inference.
            Use ≥ 3: the observation carries no velocity, so the speed of a motion lives in the chunk;
            replanning every tick from the first action alone stalls (measured: 1 → 0 %, 2 → 8 %,
            3 → 100 % success; ensembling → 100 %).
        target_class: which cube to pick: ``red_cube``, ``green_cube``, ``blue_cube`` or ``any`` (the
            confirmed cube track nearest the TCP).
        target_track_id: pick this track id (≥ 0) regardless of class; −1 = select by ``target_class``.
        bin_class: detector class of the bin.
        providers: ONNX Runtime providers, best first (``cpu``, ``cuda`` or full names); the model is tiny,
            CPU is the default.
        provider_fallback: ``warn`` or ``error`` when the provider in use is not the first one asked for.
        intra_op_threads: ONNX Runtime threads per operator (the ≤ 2 ms/chunk budget is for 2).
        chunk_publish_steps: rows of the plan (``select_chunk``) sent to the commander each tick. It
            replans every tick, so a short horizon only shapes the velocity between ticks; the far rows
            are the newest chunk's least averaged part (its tail dips a few mm below the grasp height).
        grasp_closure_min, grasp_closure_max: measured gripper closure band meaning "closed on an
            object" (sim: 0.31 on a 5 cm cube; empty closed = 1.0).
        grasp_radius_m: the target counts as grasped when the closure enters that band with the target
            this close to the TCP; while grasped and not freshly detected (a cube between the fingers is
            mostly hidden), the target position is the TCP's (see ``GraspedTarget``).
        target_memory_s: a target not freshly matched (hidden by the gripper, or its track deleted) stays
            at its last fresh position for this long (cubes do not move by themselves).
        occlusion_radius_m: fresh matches of the target taken with the TCP this close do not move it (the
            fingers covering part of the cube shift its box by 1–2 cm).
        bin_half_size_m: half the bin's outer width: cubes whose centre lies this close to the bin's (in
            x and y) are already placed and are never chosen as a target.
        home_joint_positions_rad: where the arm waits between picks (the demos start there, so the policy
            is in its training distribution only from near it); the TCP pose is its forward kinematics.
        home_speed_m_s: TCP speed of the move home after a placed cube.
        max_picks: cubes to place before stopping (0 = while any cube is left outside the bin).
    """

    model_path: str = "models/act_pick.onnx"
    task: str = "pick"
    latency_compensation: bool = True
    command_latency_s: float = 0.15
    motion_window_s: float = 2.0
    control_rate_hz: float = 10.0
    tick_on_tracks: bool = True
    temporal_ensembling: bool = True
    ensemble_coeff: float = 0.01
    n_action_steps: int = 1
    target_class: str = "any"
    target_track_id: int = -1
    bin_class: str = "bin"
    providers: tuple[str, ...] = ("cpu",)
    provider_fallback: str = "warn"
    intra_op_threads: int = 2
    chunk_publish_steps: int = 3
    grasp_closure_min: float = 0.05
    grasp_closure_max: float = 0.7
    grasp_radius_m: float = 0.05
    target_memory_s: float = 3.0
    occlusion_radius_m: float = 0.2
    bin_half_size_m: float = 0.15
    home_joint_positions_rad: tuple[float, ...] = (-0.4, -2.2, 2.1, -1.47, -1.5708, 0.0)
    home_speed_m_s: float = 0.25
    max_picks: int = 0

    def __post_init__(self) -> None:
        owner = "policy"
        if self.task not in POLICY_TASKS:
            raise ConfigError(f"{owner}.task must be one of {POLICY_TASKS}, got {self.task!r}")
        require_range(f"{owner}.command_latency_s", self.command_latency_s, 0.0, 1.0)
        require_range(f"{owner}.motion_window_s", self.motion_window_s, 0.2, 10.0)
        require_int_range(f"{owner}.chunk_publish_steps", self.chunk_publish_steps, 1, 1000)
        require_range(f"{owner}.grasp_closure_min", self.grasp_closure_min, 0.0, 1.0)
        require_range(f"{owner}.grasp_closure_max", self.grasp_closure_max, 0.0, 1.0)
        require_range(f"{owner}.grasp_radius_m", self.grasp_radius_m, 0.0, 1.0)
        require_range(f"{owner}.target_memory_s", self.target_memory_s, 0.0, 60.0)
        require_range(f"{owner}.occlusion_radius_m", self.occlusion_radius_m, 0.0, 2.0)
        require_range(f"{owner}.bin_half_size_m", self.bin_half_size_m, 0.0, 2.0)
        require_range(f"{owner}.home_speed_m_s", self.home_speed_m_s, 0.01, 1.0)
        if len(self.home_joint_positions_rad) != 6 or not all(
            math.isfinite(v) for v in self.home_joint_positions_rad
        ):
            raise ConfigError(
                f"{owner}.home_joint_positions_rad must be 6 finite joint angles (rad), got "
                f"{list(self.home_joint_positions_rad)}"
            )
        if isinstance(self.max_picks, bool) or not isinstance(self.max_picks, int) or self.max_picks < 0:
            raise ConfigError(
                f"{owner}.max_picks must be an integer ≥ 0 (0 = no limit), got {self.max_picks!r}"
            )
        if self.grasp_closure_min >= self.grasp_closure_max:
            raise ConfigError(
                f"{owner}.grasp_closure_min ({self.grasp_closure_min}) must be below grasp_closure_max "
                f"({self.grasp_closure_max})"
            )
        if not isinstance(self.tick_on_tracks, bool):
            raise ConfigError(f"{owner}.tick_on_tracks must be true or false, got {self.tick_on_tracks!r}")
        if not isinstance(self.model_path, str) or not self.model_path:
            raise ConfigError(f"{owner}.model_path must be a non-empty path, got {self.model_path!r}")
        require_range(f"{owner}.control_rate_hz", self.control_rate_hz, 0.1, 1000.0)
        require_range(f"{owner}.ensemble_coeff", self.ensemble_coeff, 0.0, 10.0)
        require_int_range(f"{owner}.n_action_steps", self.n_action_steps, 1, 1000)
        require_int_range(f"{owner}.intra_op_threads", self.intra_op_threads, 1, 256)
        if self.temporal_ensembling and self.n_action_steps != 1:
            raise ConfigError(
                f"{owner}.temporal_ensembling needs {owner}.n_action_steps = 1 (one inference per step), "
                f"got {self.n_action_steps}"
            )
        if self.target_class not in TARGET_CLASSES:
            raise ConfigError(
                f"{owner}.target_class must be one of {TARGET_CLASSES}, got {self.target_class!r}"
            )
        if isinstance(self.target_track_id, bool) or self.target_track_id < -1:
            raise ConfigError(
                f"{owner}.target_track_id must be ≥ 0 or −1 (by class), got {self.target_track_id}"
            )
        if not self.bin_class:
            raise ConfigError(f"{owner}.bin_class must be a class name, got {self.bin_class!r}")
        if not self.providers:
            raise ConfigError(f"{owner}.providers must list at least one execution provider")
        if self.provider_fallback not in PROVIDER_FALLBACKS:
            raise ConfigError(
                f"{owner}.provider_fallback must be one of {PROVIDER_FALLBACKS}, "
                f"got {self.provider_fallback!r}"
            )

    @property
    def control_period_s(self) -> float:
        """1 / control_rate_hz, seconds."""
        return 1.0 / self.control_rate_hz

    @classmethod
    def from_flat(cls, flat: Mapping[str, Any]) -> PolicyConfig:
        """Build from ROS-style dotted keys (missing keys keep defaults); ConfigError names a bad key."""
        return config_from_flat(cls, flat, "policy")

    def to_flat(self) -> dict[str, Any]:
        """The inverse of :meth:`from_flat` (tuples as lists)."""
        return config_to_flat(self)
