"""Demonstrations for ACT: a closed-loop scripted expert and the recorder that writes the dataset.

The expert (:class:`ClosedLoopExpert`) reuses the geometry of :class:`~visuomotor.sim.expert.ScriptedPick`
(approach height, top-down grasp at the cube centre, settle before closing, lift, carry to the release
height above the bin, open) but runs closed loop at the control rate: every tick it reads the observation
(target and bin positions — noisy like a tracker's when asked) and outputs the next TCP pose, moving in a
straight Cartesian line with a trapezoidal speed profile. The tool stays top-down at one fixed yaw (the
home pose's): perception gives no cube yaw, and a fixed-yaw grasp of a 5 cm cube in the 85 mm gripper
was measured to succeed at every cube yaw (36/36 scenes with ScriptedPick).

Robustness (DART, Laskey et al. 2017): in free-space phases the executed command is the expert's plus a
small Gaussian offset, and the expert continues from where the arm was actually sent, so the labels show
how to recover from small deviations. Labels are always the clean expert command.

Dataset layout (``DIR``): ``episode_00000.npz`` … with ``observations`` (T, OBS_DIM) float32, ``actions``
(T, ACTION_DIM) float32 (action t = the pose commanded at tick t, due one period later), ``phases`` (T,)
int8 (index into ``PHASES``), ``valid`` (T,) bool (False: a forced-miss tick, see ``DemoConfig``),
``success``, ``seed``, ``target_index``; and ``manifest.json``. Chunks of k actions (``actions[t : t+k]``,
padded with the last action — the arm holds after the episode) are cut at training time, so one dataset
serves any chunk size.

Missed grasps: when the measured closure after closing (or while carrying) says the fingers met no cube,
the expert opens, retreats to the approach height and tries again; ``DemoConfig.miss_probability`` forces
such misses so the recovery is in the data.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from visuomotor.errors import ConfigError
from visuomotor.policy.errors import PolicyError
from visuomotor.policy.observation import (
    ACTION_DIM,
    ACTION_LAYOUT,
    TASK_OBS_LAYOUTS,
    TASKS,
    action_from_pose,
)
from visuomotor.sim import top_down_tcp_pose
from visuomotor.sim.pick_task import ObservationNoise, PickEnv

__all__ = [
    "DATASET_VERSION",
    "PHASES",
    "ClosedLoopExpert",
    "DemoConfig",
    "Episode",
    "ExpertParams",
    "load_episodes",
    "record_demos",
    "record_episode",
]

DATASET_VERSION = 2
#: DART offsets stop this far from a move's goal, metres.
DART_FREE_M = 0.03
PHASES = ("approach", "descend", "settle", "close", "lift", "carry", "release", "hold", "retreat", "done")


@dataclass(frozen=True, slots=True)
class ExpertParams:
    """Geometry and timing of the closed-loop expert (metres, m/s, control ticks).

    Attributes:
        approach_height_m: TCP height above the cube centre before descending (ScriptedPick: 0.15).
        lift_height_m: TCP height above the grasp after lifting.
        release_clearance_m: cube bottom above the bin rim at release (ScriptedPick: 0.08).
        bin_height_m, cube_size_m: scene constants (the observation has centres only).
        max_speed_m_s: cruise speed of free-space moves.
        descend_speed_m_s: cruise speed of the descent onto the cube.
        accel_m_s2: acceleration/deceleration of the trapezoidal profile.
        tolerance_m: a goal closer than this is reached.
        settle_ticks: holds at the grasp pose before closing (≈ 0.3 s; closing on a lagging servo
            pressed cubes into the table).
        close_ticks, release_ticks: ticks for the fingers to close / open.
        hold_ticks: ticks recorded after the release (the cube drops; the arm holds).
        action_noise_m: σ of the DART offset added to executed free-space commands (0 = off).
        miss_closure: a measured closure above this after closing means the fingers closed on air
            (a 5 cm cube stops them at ≈ 0.44): open, retreat to the approach height and try again.
    """

    approach_height_m: float = 0.15
    lift_height_m: float = 0.15
    release_clearance_m: float = 0.08
    bin_height_m: float = 0.1
    cube_size_m: float = 0.05
    max_speed_m_s: float = 0.3
    descend_speed_m_s: float = 0.12
    accel_m_s2: float = 0.6
    tolerance_m: float = 0.002
    settle_ticks: int = 3
    close_ticks: int = 6
    release_ticks: int = 5
    hold_ticks: int = 5
    action_noise_m: float = 0.003
    miss_closure: float = 0.7

    def __post_init__(self) -> None:
        for name in (
            "approach_height_m",
            "lift_height_m",
            "release_clearance_m",
            "bin_height_m",
            "cube_size_m",
            "max_speed_m_s",
            "descend_speed_m_s",
            "accel_m_s2",
            "tolerance_m",
        ):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ConfigError(f"ExpertParams.{name} must be a positive number, got {value}")
        for name in ("settle_ticks", "close_ticks", "release_ticks", "hold_ticks"):
            if getattr(self, name) < 1:
                raise ConfigError(f"ExpertParams.{name} must be ≥ 1, got {getattr(self, name)}")
        if not (math.isfinite(self.action_noise_m) and 0 <= self.action_noise_m <= 0.02):
            raise ConfigError(
                f"ExpertParams.action_noise_m must be in [0, 0.02] m, got {self.action_noise_m}"
            )


class ClosedLoopExpert:
    """Pick-and-place state machine that outputs one TCP pose + gripper per control tick.

    Args:
        params: geometry and timing.
        control_period_s: seconds per tick.
    """

    def __init__(self, params: ExpertParams | None = None, control_period_s: float = 0.1) -> None:
        self.params = params if params is not None else ExpertParams()
        self.dt = float(control_period_s)
        self.phase = "approach"
        self._p_cmd = np.zeros(3)
        self._R = np.eye(3)
        self._speed = 0.0
        self._ticks = 0
        self._p_grasp = np.zeros(3)
        self._dist = 0.0

    def reset(self, T_base_link_tcp_start: np.ndarray, yaw_rad: float) -> None:
        """Start at the commanded TCP pose ``T_base_link_tcp_start`` (4, 4); tool yaw ``yaw_rad``."""
        self.phase = "approach"
        self._p_cmd = np.asarray(T_base_link_tcp_start, dtype=np.float64)[:3, 3].copy()
        self._R = top_down_tcp_pose(np.zeros(3), yaw_rad)[:3, :3]
        self._speed = 0.0
        self._ticks = 0

    @property
    def done(self) -> bool:
        """The episode is over (released and held)."""
        return self.phase == "done"

    @property
    def free_space(self) -> bool:
        """True in mid-move of a free-space phase, where a DART offset is harmless.

        Not at the grasp or the release, and not in the last ``DART_FREE_M`` of a move: noise there
        would keep the command from ever settling inside the goal tolerance.
        """
        return self.phase in ("approach", "lift", "carry") and self._dist > DART_FREE_M

    def sent(self, p_base_link_tcp_m: np.ndarray) -> None:
        """Tell the expert where the arm was actually sent (label + DART offset); it continues from there."""
        self._p_cmd = np.asarray(p_base_link_tcp_m, dtype=np.float64).copy()

    def act(self, obs: np.ndarray) -> np.ndarray:
        """Next action (ACTION_DIM,) from an observation (OBS_DIM,) (layout in ``observation``)."""
        p = self.params
        target, bin_c = np.asarray(obs[7:10], np.float64), np.asarray(obs[10:13], np.float64)
        gripper = 0.0
        if self.phase == "approach":
            if self._move(target + np.array([0.0, 0.0, p.approach_height_m]), p.max_speed_m_s):
                self.phase = "descend"
        elif self.phase == "descend":
            if self._move(target, p.descend_speed_m_s):
                self.phase, self._ticks = "settle", 0
        elif self.phase == "settle":
            self._ticks += 1
            if self._ticks >= p.settle_ticks:
                self.phase, self._ticks, self._p_grasp = "close", 0, self._p_cmd.copy()
        elif self.phase == "close":
            gripper = 1.0
            self._ticks += 1
            if self._ticks >= p.close_ticks:
                self.phase = "retreat" if obs[6] > p.miss_closure else "lift"
        elif self.phase == "retreat":  # missed grasp: open, back up, approach again
            up = np.array([self._p_grasp[0], self._p_grasp[1], target[2] + p.approach_height_m])
            if self._move(up, p.max_speed_m_s):
                self.phase = "approach"
        elif self.phase in ("lift", "carry") and obs[6] > p.miss_closure:  # the cube slipped out
            self.phase = "retreat"
            self._p_grasp = self._p_cmd.copy()
        elif self.phase == "lift":
            gripper = 1.0
            if self._move(self._p_grasp + np.array([0.0, 0.0, p.lift_height_m]), p.max_speed_m_s):
                self.phase = "carry"
        elif self.phase == "carry":
            gripper = 1.0
            release_z = bin_c[2] + p.bin_height_m / 2 + p.release_clearance_m + p.cube_size_m / 2
            if self._move(np.array([bin_c[0], bin_c[1], release_z]), p.max_speed_m_s):
                self.phase, self._ticks = "release", 0
        elif self.phase == "release":
            self._ticks += 1
            if self._ticks >= p.release_ticks:
                self.phase, self._ticks = "hold", 0
        elif self.phase == "hold":
            self._ticks += 1
            if self._ticks >= p.hold_ticks:
                self.phase = "done"
        T = np.eye(4)
        T[:3, :3], T[:3, 3] = self._R, self._p_cmd
        return action_from_pose(T, gripper)

    def _move(self, goal: np.ndarray, cruise_m_s: float, tolerance_m: float | None = None) -> bool:
        """Advance the command one tick towards ``goal`` (trapezoidal speed); True once within
        ``tolerance_m`` (default ``params.tolerance_m``)."""
        a = self.params.accel_m_s2
        delta = goal - self._p_cmd
        dist = float(np.linalg.norm(delta))
        self._dist = dist
        if dist <= (self.params.tolerance_m if tolerance_m is None else tolerance_m):
            self._p_cmd = goal.copy()
            self._speed = 0.0
            return True
        self._speed = min(cruise_m_s, self._speed + a * self.dt, math.sqrt(2.0 * a * dist))
        step = min(self._speed * self.dt, dist)
        self._p_cmd = self._p_cmd + delta * (step / dist)
        return False


@dataclass(frozen=True, slots=True)
class DemoConfig:
    """What the recorder randomises and adds.

    Attributes:
        task: ``pick`` (a cube on the table, ``ClosedLoopExpert``) or ``conveyor`` (the leading cube on
            the belt, ``visuomotor.training.conveyor_expert.ConveyorExpert``; the observation has its
            velocity).
        conveyor_speed_m_s: [min, max] belt speed of a conveyor episode, drawn uniformly per episode.
        velocity_noise_m_s: (bias σ, jitter σ) of the observed target velocity in the conveyor task
            (the tracker's velocity is noisier than its position).
        control_period_s: seconds per action (10 Hz).
        max_ticks: an episode that has not finished by then is recorded as failed.
        settle_s: physics time after the expert finishes before success is judged.
        start_joint_noise_rad: σ of the start-joint offset from home (diverse starts).
        noise: observation noise (tracker-like; the expert sees the same noisy observation).
        miss_probability: share of episodes whose first grasp is forced to miss: the executed
            commands of that descent/settle/close are shifted ``miss_offset_m`` sideways (across the
            closing direction, clear of the cube), so the fingers close on air and the expert's retreat
            and retry is recorded. The shifted ticks are marked invalid (their labels assume an aligned
            arm) and never start a training chunk; the recovery after them is what the policy learns.
        miss_offset_m: [min, max] of that sideways shift, metres, drawn uniformly (pads are 25 mm wide:
            50 mm clears a 5 cm cube, 25 mm catches an edge — closures between "holding" and "empty").
        expert: expert geometry and timing.
    """

    task: str = "pick"
    conveyor_speed_m_s: tuple[float, float] = (0.05, 0.15)
    velocity_noise_m_s: tuple[float, float] = (0.003, 0.005)
    control_period_s: float = 0.1
    max_ticks: int = 250
    settle_s: float = 0.5
    start_joint_noise_rad: float = 0.05
    noise: ObservationNoise = field(default_factory=lambda: ObservationNoise(0.0015, 0.001))
    miss_probability: float = 0.2
    miss_offset_m: tuple[float, float] = (0.025, 0.05)
    expert: ExpertParams = field(default_factory=ExpertParams)

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ConfigError(f"DemoConfig.task must be one of {TASKS}, got {self.task!r}")
        lo, hi = self.conveyor_speed_m_s
        if not (math.isfinite(lo) and math.isfinite(hi) and 0.0 < lo <= hi <= 0.5):
            raise ConfigError(
                f"DemoConfig.conveyor_speed_m_s must be [min, max] in (0, 0.5] m/s, got {[lo, hi]}"
            )

    def env_noise(self) -> ObservationNoise:
        """The observation noise of this task's env (velocity noise only in the conveyor task)."""
        if self.task != "conveyor":
            return self.noise
        bias, jitter = self.velocity_noise_m_s
        return ObservationNoise(self.noise.bias_std_m, self.noise.jitter_std_m, bias, jitter)


@dataclass(frozen=True, slots=True)
class Episode:
    """One recorded demonstration.

    Attributes:
        observations: (T, OBS_DIM) float32.
        actions: (T, ACTION_DIM) float32, action t commanded at tick t.
        phases: (T,) int8 index into PHASES.
        valid: (T,) bool, False on ticks whose executed command was deliberately shifted (forced miss).
        success: the target cube ended inside the bin.
        seed: scene seed.
        target_index: which cube (index into the sim's cubes).
        target_class: its class name.
        duration_s: sim time until the expert finished.
    """

    observations: np.ndarray
    actions: np.ndarray
    phases: np.ndarray
    valid: np.ndarray
    success: bool
    seed: int
    target_index: int
    target_class: str
    duration_s: float


def _home_yaw(env: PickEnv) -> float:
    T = env.kinematics.forward(np.asarray(env.world.config.scene.home_q_rad))
    return math.atan2(T[1, 1], T[0, 1])  # angle of the tool y axis (closing direction), top_down_tcp_pose


def record_episode(env: PickEnv, seed: int, config: DemoConfig | None = None) -> Episode:
    """Run the expert for one seeded scene and record (observation, action) at every tick."""
    config = config if config is not None else DemoConfig()
    if config.task == "conveyor":
        from visuomotor.training.conveyor_expert import (
            ConveyorExpert,  # the conveyor module builds on this one
        )

        speed = float(np.random.default_rng([seed, 13]).uniform(*config.conveyor_speed_m_s))
        env.reset(seed, start_joint_noise_rad=config.start_joint_noise_rad, conveyor_speed_m_s=speed)
        expert: ClosedLoopExpert = ConveyorExpert(config.expert, control_period_s=config.control_period_s)
    else:
        env.reset(seed, start_joint_noise_rad=config.start_joint_noise_rad)
        expert = ClosedLoopExpert(config.expert, config.control_period_s)
    expert.reset(env.commanded_tcp_pose(), _home_yaw(env))
    noise_rng = np.random.default_rng([seed, 11])
    miss_pending = bool(noise_rng.random() < config.miss_probability)
    # Across the closing direction (tool x of the top-down pose), random side.
    yaw = _home_yaw(env)
    shift_m = noise_rng.uniform(*config.miss_offset_m) * noise_rng.choice([-1.0, 1.0])
    miss_shift = shift_m * np.array([-math.sin(yaw), math.cos(yaw), 0.0])
    obs_list, act_list, phase_list, valid_list = [], [], [], []
    for _ in range(config.max_ticks):
        obs = env.observe()
        phase = expert.phase
        action = expert.act(obs)
        if expert.done:
            break
        shifted = miss_pending and phase in ("descend", "settle", "close")
        if expert.phase in ("retreat", "lift"):  # the forced grasp is over: execute what the expert says
            miss_pending = False
        obs_list.append(obs)
        act_list.append(action.astype(np.float32))
        phase_list.append(PHASES.index(phase))
        valid_list.append(not shifted)
        executed = action.copy()
        if shifted:
            executed[:3] += miss_shift
        elif expert.free_space and config.expert.action_noise_m > 0:
            executed[:3] += noise_rng.normal(0.0, config.expert.action_noise_m, 3)
            expert.sent(executed[:3])
        env.apply(executed)
        env.step()
    finished = expert.done
    duration = env.time_s
    env.settle(config.settle_s)
    obs_dim = max(b for _, b in TASK_OBS_LAYOUTS[config.task].values())
    return Episode(
        observations=np.asarray(obs_list, dtype=np.float32).reshape(-1, obs_dim),
        actions=np.asarray(act_list, dtype=np.float32).reshape(-1, ACTION_DIM),
        phases=np.asarray(phase_list, dtype=np.int8),
        valid=np.asarray(valid_list, dtype=bool),
        success=bool(finished and env.success()),
        seed=int(seed),
        target_index=env.target_index,
        target_class=env.target.class_name,
        duration_s=float(duration),
    )


def record_demos(
    out_dir: Path,
    episodes: int,
    seed: int = 0,
    config: DemoConfig | None = None,
    progress: Callable[[int, Episode], None] | None = None,
    command: str = "",
) -> dict:
    """Record ``episodes`` demos with scene seeds ``seed … seed+episodes−1`` into ``out_dir``.

    Args:
        out_dir: created if needed; existing episode files are overwritten.
        episodes: number of episodes (≥ 1).
        seed: first scene seed.
        config: randomisation and expert settings.
        progress: called after every episode with (index, episode) (a progress bar).
        command: the command line, stored in the manifest.

    Returns:
        The manifest (also written to ``out_dir/manifest.json``).
    """
    if episodes < 1:
        raise ConfigError(f"episodes must be ≥ 1, got {episodes}")
    config = config if config is not None else DemoConfig()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    env = PickEnv(config.control_period_s, config.env_noise(), task=config.task)
    t0 = time.perf_counter()
    entries = []
    for i in range(episodes):
        ep = record_episode(env, seed + i, config)
        name = f"episode_{i:05d}.npz"
        np.savez_compressed(
            out_dir / name,
            observations=ep.observations,
            actions=ep.actions,
            phases=ep.phases,
            valid=ep.valid,
            success=np.bool_(ep.success),
            seed=np.int64(ep.seed),
            target_index=np.int64(ep.target_index),
        )
        entries.append(
            {
                "file": name,
                "seed": ep.seed,
                "target": ep.target_class,
                "success": ep.success,
                "steps": int(ep.actions.shape[0]),
                "forced_miss": bool((~ep.valid).any()),
                "duration_s": round(ep.duration_s, 3),
            }
        )
        if progress is not None:
            progress(i, ep)
    manifest = {
        "version": DATASET_VERSION,
        "kind": f"visuomotor ACT {config.task} demos (state observations, TCP-pose actions)",
        "task": config.task,
        "command": command,
        "created_unix": round(time.time(), 1),
        "record_seconds": round(time.perf_counter() - t0, 2),
        "control_period_s": config.control_period_s,
        "obs_layout": TASK_OBS_LAYOUTS[config.task],
        "action_layout": ACTION_LAYOUT,
        "action_frame": "base_link; rotation = first two columns of R_base_link_tcp (6D)",
        "phases": list(PHASES),
        "config": asdict(config),
        "episodes": entries,
        "successes": sum(e["success"] for e in entries),
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return manifest


def load_episodes(data_dir: Path, successful_only: bool = True) -> tuple[list[Episode], dict]:
    """Read a dataset written by :func:`record_demos`.

    Returns:
        (episodes, manifest); failed demos are skipped when ``successful_only``.

    Raises:
        PolicyError: no manifest, a missing episode file, or a layout this code does not know.
    """
    data_dir = Path(data_dir)
    path = data_dir / "manifest.json"
    if not path.is_file():
        raise PolicyError(f"{path} not found; record demos first with `visuomotor demos --out {data_dir}`")
    manifest = json.loads(path.read_text())
    task = manifest.get("task", "pick")
    if (
        manifest.get("version") != DATASET_VERSION
        or task not in TASK_OBS_LAYOUTS
        or manifest.get("obs_layout") != {k: list(v) for k, v in TASK_OBS_LAYOUTS[task].items()}
    ):
        raise PolicyError(
            f"{path} is dataset version {manifest.get('version')} with another layout; re-record it with "
            "`visuomotor demos`"
        )
    episodes = []
    for entry in manifest["episodes"]:
        if successful_only and not entry["success"]:
            continue
        file = data_dir / entry["file"]
        if not file.is_file():
            raise PolicyError(f"{file} listed in the manifest is missing; re-record the dataset")
        with np.load(file) as z:
            episodes.append(
                Episode(
                    observations=z["observations"],
                    actions=z["actions"],
                    phases=z["phases"],
                    valid=z["valid"],
                    success=bool(z["success"]),
                    seed=int(z["seed"]),
                    target_index=int(z["target_index"]),
                    target_class=entry["target"],
                    duration_s=float(entry["duration_s"]),
                )
            )
    return episodes, manifest
