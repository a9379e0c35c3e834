"""Roll a policy out in the sim with ground-truth observations and count successful picks (no ROS).

Every control tick: observation from ground truth → ``policy.select_action`` → IK nearest the previous
command → one-point joint trajectory reaching it one period later (``PickEnv.apply``) → physics. An
episode succeeds when the target cube lies inside the bin with the gripper commanded open; it fails after
``max_steps``. Seeds differ from the demos' (``EVAL_SEED`` onwards), so no test scene was seen in training.
This measures the policy alone; ``closed_loop`` runs the same episodes with the whole stack (rendering,
detector, localiser, tracker, commander with its safety guard) in the loop.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import numpy as np

from visuomotor.policy.observation import ACTION_LAYOUT
from visuomotor.sim.pick_task import ObservationNoise, PickEnv

__all__ = ["EVAL_SEED", "EpisodeResult", "EvalResult", "Policy", "evaluate_policy", "summarise"]

#: First scene seed of evaluations (the demos use 0 … N−1).
EVAL_SEED = 100_000
_GRIPPER = ACTION_LAYOUT["gripper_command"][0]


class Policy(Protocol):
    """What the evaluator needs from a policy (``ActOnnxPolicy`` or the expert)."""

    def reset(self) -> None: ...

    def select_action(self, observation: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True, slots=True)
class EpisodeResult:
    """One evaluation episode: scene seed, target class, success, sim time to place, IK failures, and (in
    the closed loop) commands the safety guard refused and measured-state limit violations."""

    seed: int
    target: str
    success: bool
    time_to_place_s: float
    steps: int
    ik_failures: int
    safety_rejections: int = 0
    safety_violations: int = 0


@dataclass(frozen=True, slots=True)
class EvalResult:
    """Summary over the episodes.

    Attributes:
        episodes: number run; successes: how many placed the cube; success_rate: their ratio.
        mean_time_to_place_s: mean sim time of the successful episodes (NaN if none).
        ik_failures: actions without an acceptable IK solution (the arm held instead).
        mean_inference_ms: mean wall time of ``select_action``.
        wall_s: wall time of the whole evaluation.
        per_episode: the individual results.
        observation: ``ground_truth`` (policy alone) or ``perception`` (the whole stack).
        safety_violations: samples of the measured arm state outside a safety limit (closed loop; the
            guard should make this 0 — a non-zero value is a bug in the safety layer or the controller).
        safety_violations_by_reason: the same, per reason.
        safety_rejections: commands the guard refused (HOLDs) per reason — the guard doing its job.
        peak_velocity_ratio: highest measured |q̇| / velocity limit over all joints and samples.
        latency_ms: per-stage p50/p99 wall time of a tick, milliseconds (closed loop).
    """

    episodes: int
    successes: int
    success_rate: float
    mean_time_to_place_s: float
    ik_failures: int
    mean_inference_ms: float
    wall_s: float
    per_episode: tuple[EpisodeResult, ...]
    observation: str = "ground_truth"
    safety_violations: int = 0
    safety_violations_by_reason: dict[str, int] = field(default_factory=dict)
    safety_rejections: dict[str, int] = field(default_factory=dict)
    peak_velocity_ratio: float = 0.0
    latency_ms: dict[str, dict[str, float]] = field(default_factory=dict)

    def to_dict(self) -> dict:
        """JSON-friendly form."""
        return asdict(self)


def evaluate_policy(
    policy: Policy,
    episodes: int,
    seed: int = EVAL_SEED,
    *,
    control_period_s: float = 0.1,
    max_steps: int = 250,
    noise: ObservationNoise | None = None,
    progress: Callable[[int, EpisodeResult], None] | None = None,
    task: str = "pick",
) -> EvalResult:
    """Run ``episodes`` seeded episodes (scene seeds ``seed …``, random target cube per seed; the
    conveyor task: the leading belt cube, belt at ``sim_env.CONVEYOR_SPEED_M_S``).

    Args:
        policy: reset() + select_action(obs) → action (layout in ``observation``).
        episodes: how many.
        seed: first scene seed.
        control_period_s: seconds per action; must be the policy's.
        max_steps: ticks before an episode counts as failed.
        noise: observation noise (None = exact ground truth).
        progress: called after each episode.
        task: ``pick`` or ``conveyor`` (the policy must take that task's observation).
    """
    env = PickEnv(control_period_s, noise, task=task)
    results = []
    infer_s, infer_n = 0.0, 0
    t0 = time.perf_counter()
    for i in range(episodes):
        env.reset(seed + i)
        policy.reset()
        success, steps, open_ticks = False, 0, 0
        for steps in range(1, max_steps + 1):  # noqa: B007 - steps is reported after the loop
            obs = env.observe()
            t = time.perf_counter()
            action = policy.select_action(obs)
            infer_s += time.perf_counter() - t
            infer_n += 1
            env.apply(action)
            env.step()
            open_ticks = open_ticks + 1 if action[_GRIPPER] < 0.5 else 0
            if open_ticks >= 3 and env.success():
                success = True
                break
        result = EpisodeResult(
            seed=seed + i,
            target=env.target.class_name,
            success=success,
            time_to_place_s=env.time_s if success else float("nan"),
            steps=steps,
            ik_failures=env.ik_failures,
        )
        results.append(result)
        if progress is not None:
            progress(i, result)
    return summarise(
        results, mean_inference_ms=1000.0 * infer_s / max(infer_n, 1), wall_s=time.perf_counter() - t0
    )


def summarise(
    results: list[EpisodeResult], *, mean_inference_ms: float, wall_s: float, **extra: Any
) -> EvalResult:
    """The :class:`EvalResult` of these episodes (``extra``: the closed-loop fields)."""
    successes = sum(r.success for r in results)
    times = [r.time_to_place_s for r in results if r.success]
    return EvalResult(
        episodes=len(results),
        successes=successes,
        success_rate=successes / len(results) if results else 0.0,
        mean_time_to_place_s=float(np.mean(times)) if times else float("nan"),
        ik_failures=sum(r.ik_failures for r in results),
        mean_inference_ms=mean_inference_ms,
        wall_s=wall_s,
        per_episode=tuple(results),
        safety_violations=sum(r.safety_violations for r in results),
        **extra,
    )
