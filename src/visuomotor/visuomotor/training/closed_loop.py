"""The whole stack in the sim, in lock-step, without ROS: what ``visuomotor eval policy`` measures.

Every control tick (``control_period_s`` of sim time):

    render RGB-D → detector (ONNX) → localiser (depth + extrinsics) → HungarianTracker → TargetSelector
    → ACT (``select_chunk``) → Commander (IK + SafetyGuard) → JTC trajectory → physics

exactly the data path of the ROS graph (camera → perception → policy → commander → driver), with the same
core classes and the same config files; only the transport is gone, and the sim waits for each command
(lock-step), so the result does not depend on how fast this machine is. While the physics runs between
ticks, a :class:`~visuomotor.control.StateMonitor` checks the measured arm against the safety limits every
10 ms: those are the ``safety_violations``; the guard's refusals (HOLDs) are ``safety_rejections``.
The target class of each episode is the class of the scene's randomly chosen target cube, so success (that
cube in the bin) means the stack picked the cube it was asked for.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from visuomotor.config import read_params_file
from visuomotor.control import Commander, SafetyConfig, StateMonitor
from visuomotor.detection import DetectorConfig, make_detector
from visuomotor.errors import ConfigError
from visuomotor.geometry import LocaliserConfig, load_extrinsics
from visuomotor.kinematics import Ur10eKinematics
from visuomotor.latency import percentile_ms
from visuomotor.perception import PerceptionFrame, PerceptionPipeline
from visuomotor.policy.configuration import PolicyConfig
from visuomotor.policy.cycle import PickCycle
from visuomotor.policy.observation import ACTION_LAYOUT, pose_from_action
from visuomotor.policy.runtime import ActOnnxPolicy
from visuomotor.sim import JointTrajectoryCommand, SimConfig, SimWorld
from visuomotor.sim.pick_task import cube_in_bin
from visuomotor.tracking import TrackerConfig
from visuomotor.training.policy_eval import EpisodeResult, EvalResult, summarise

__all__ = [
    "STAGES",
    "TASK_FILES",
    "ClosedLoopConfig",
    "SimClosedLoop",
    "episode_target",
    "episode_target_index",
    "evaluate_closed_loop",
]

#: Timed stages of one tick, in order.
STAGES = ("render", "detect", "localise", "track", "policy", "command")
_GRIPPER = ACTION_LAYOUT["gripper_command"][0]
#: Measured closure below which the gripper counts as open (released) for success.
_OPEN_BELOW = 0.1
#: Physics steps between two StateMonitor samples (2 ms steps → every 10 ms).
_MONITOR_EVERY = 5
#: A target cube this far below the table top has fallen off it (off the belt's end): the episode is lost.
_FELL_BELOW_M = -0.1
#: Task → the params file (in the config folder) whose ``sim``/``policy`` sections override sim.yaml and
#: policy.yaml for it; the nodes get the same file as a second ``--params-file``.
TASK_FILES: dict[str, str | None] = {"pick": None, "conveyor": "conveyor.yaml"}


@dataclass(frozen=True, slots=True)
class ClosedLoopConfig:
    """Every stage's configuration, as the nodes read it.

    Attributes:
        detector, localiser, tracker, policy, safety: the stage configs.
        extrinsics_path: T_base_link_camera file (``config/extrinsics/sim.yaml`` for the sim).
        sim: the simulator.
    """

    detector: DetectorConfig
    localiser: LocaliserConfig
    tracker: TrackerConfig
    policy: PolicyConfig
    safety: SafetyConfig
    extrinsics_path: str
    sim: SimConfig = field(default_factory=SimConfig)

    @classmethod
    def from_config_dir(
        cls, config_dir: str | Path, root: str | Path | None = None, task: str = "pick"
    ) -> ClosedLoopConfig:
        """Read ``detector.yaml``, ``localiser.yaml``, ``tracker.yaml``, ``policy.yaml``, ``safety.yaml``,
        ``sim.yaml`` and ``extrinsics/sim.yaml`` from ``config_dir`` — and, for a task other than
        ``pick``, its overrides (``TASK_FILES``: ``conveyor.yaml``).

        Model paths relative in the files are resolved against ``root`` (default: the parent of
        ``config_dir``, the repository root).

        Raises:
            ConfigError: a missing or invalid file, or an unknown task (naming the known ones).
        """
        if task not in TASK_FILES:
            raise ConfigError(f"unknown task {task!r}; known tasks: {', '.join(TASK_FILES)}")
        d = Path(config_dir)
        base = Path(root) if root is not None else d.parent
        overrides = d / TASK_FILES[task] if TASK_FILES[task] else None

        def read(name: str, section: str, *, required: bool = True) -> dict:
            flat = read_params_file(d / name, section, required=required)
            if overrides is not None:
                flat |= read_params_file(overrides, section, required=False)
            return flat

        detector = DetectorConfig.from_flat(read_params_file(d / "detector.yaml", "detector"))
        policy = PolicyConfig.from_flat(read("policy.yaml", "policy"))
        return cls(
            detector=replace(detector, model_path=str(_resolve(detector.model_path, base))),
            localiser=LocaliserConfig.from_flat(read_params_file(d / "localiser.yaml", "localiser")),
            tracker=TrackerConfig.from_flat(read_params_file(d / "tracker.yaml", "tracker")),
            policy=replace(policy, model_path=str(_resolve(policy.model_path, base))),
            safety=SafetyConfig.from_flat(read_params_file(d / "safety.yaml", "commander")),
            extrinsics_path=str(d / "extrinsics" / "sim.yaml"),
            sim=SimConfig.from_flat(read("sim.yaml", "sim", required=False)),
        )


def _resolve(path: str, base: Path) -> Path:
    p = Path(path)
    return p if p.is_absolute() else base / p


def episode_target_index(seed: int, n_cubes: int) -> int:
    """The seeded episode's target: an index into the scene's cubes (every evaluation uses this rule)."""
    return int(np.random.default_rng([seed, 7]).integers(n_cubes))


def episode_target(world: SimWorld, seed: int, task: str = "pick") -> int:
    """The target cube of a world just reset with ``seed``: ``episode_target_index`` for the pick task,
    the leading cube on the belt for the conveyor task."""
    if task == "conveyor":
        return world.conveyor_cube_indices()[0]
    return episode_target_index(seed, len(world.objects()) - 1)


@dataclass(frozen=True, slots=True)
class Tick:
    """One control tick: whether a chunk was planned, the command kind and the stage times (ns)."""

    had_target: bool
    command: str
    gripper_open: bool
    stage_ns: dict[str, int]


class SimClosedLoop:
    """The perception-to-command stack around a :class:`SimWorld`, one tick at a time.

    Args:
        config: stage configs.
        policy: an already open policy (default: opened from ``config.policy``).
    """

    def __init__(self, config: ClosedLoopConfig, policy: ActOnnxPolicy | None = None) -> None:
        self.config = config
        self.policy = policy if policy is not None else ActOnnxPolicy.from_config(config.policy)
        self.world = SimWorld(config.sim)
        dt = self.world.model.opt.timestep
        self.control_period_s = self.policy.control_period_s
        self.steps_per_tick = round(self.control_period_s / dt)
        if self.steps_per_tick < 1 or abs(self.steps_per_tick * dt - self.control_period_s) > 1e-9:
            raise ConfigError(
                f"the policy's control period ({self.control_period_s} s) must be a multiple of the physics "
                f"step ({dt} s)"
            )
        self.perception = PerceptionPipeline(
            make_detector(config.detector), config.localiser, config.tracker,
            load_extrinsics(config.extrinsics_path),
        )
        tool = SimWorld.T_FLANGE_TCP
        self.kinematics = Ur10eKinematics(T_flange_tcp=tool)
        self.commander = Commander(config.safety, T_flange_tcp=tool)
        self.monitor = StateMonitor(config.safety, T_flange_tcp=tool)
        self.cycle = PickCycle(self.policy, config.policy, self.kinematics)
        self.target_index = 0
        self._last_chunk_ns: int | None = None

    def reset(self, seed: int, target_class: str | None = None) -> None:
        """New scene from ``seed``; the target is a random cube of it (seeded), picked by its class —
        or every cube of ``target_class`` (``any``: all of them, nearest first, up to ``max_picks``)."""
        self.world.reset(seed)
        self.target_index = episode_target(self.world, seed, self.config.policy.task)
        if target_class is None:
            target_class = self.world.objects()[self.target_index].class_name
        self.cycle.reset(target_class)
        self.perception.reset()
        self.commander.reset()
        self.monitor.reset()
        self._last_chunk_ns = None

    def success(self) -> bool:
        """The target cube lies inside the bin."""
        objects = self.world.objects()
        return cube_in_bin(objects[self.target_index], objects[-1])

    def target_fell(self) -> bool:
        """The target cube has fallen off the table (a conveyor cube nobody picked)."""
        return float(self.world.objects()[self.target_index].position_m[2]) < _FELL_BELOW_M

    def cubes_in_bin(self) -> int:
        """How many cubes lie inside the bin."""
        objects = self.world.objects()
        return sum(cube_in_bin(o, objects[-1]) for o in objects[:-1])

    def tick(self) -> Tick:
        """Perceive, decide, command, then run the physics for one control period."""
        w = self.world
        now_ns = round(w.time_s * 1e9)
        t = [time.monotonic_ns()]
        frame = w.render()
        t.append(time.monotonic_ns())
        # 16UC1 millimetres, as the sim node publishes and a RealSense delivers.
        seen = self.perception.process(
            PerceptionFrame(now_ns, frame.rgb, "rgb8", frame.depth_mm, "16UC1", w.intrinsics)
        )
        stage_end = {s.stage: s.end_ns for s in seen.trail.timings}
        for stage in ("detect.post", "localise"):
            t.append(stage_end.get(stage, t[-1]))
        t.append(time.monotonic_ns())  # track (and the pipeline's own bookkeeping)
        tracks = seen.tracks
        q, qd = w.joint_positions(), w.joint_velocities()
        # The tick's time is the frame's: lock-step, the world stood still while the stack computed.
        chunk = self.cycle.step(tracks, q, w.gripper_closure(), now_ns, now_ns).actions
        t.append(time.monotonic_ns())
        if chunk is not None:
            poses = np.stack([pose_from_action(a)[0] for a in chunk])
            cmd = self.commander.plan(
                poses, chunk[:, _GRIPPER], self.control_period_s, q, now_ns=now_ns,
                perception_stamp_ns=now_ns, joints_stamp_ns=now_ns, qd_current_rad_s=qd,
            )
            self._last_chunk_ns = now_ns
        else:  # no chunk this tick: what the commander node's watchdog does
            cmd = self.commander.watchdog(
                now_ns, q, perception_stamp_ns=self._last_chunk_ns, joints_stamp_ns=now_ns,
                qd_current_rad_s=qd,
            )
        if cmd is not None and cmd.publish and cmd.times_s.size:
            traj = JointTrajectoryCommand(cmd.joint_names, cmd.times_s, cmd.positions, cmd.velocities)
            w.follow_trajectory(traj)
            if cmd.gripper is not None:
                w.set_gripper(cmd.gripper)
        t.append(time.monotonic_ns())
        for _ in range(self.steps_per_tick // _MONITOR_EVERY):
            w.step(_MONITOR_EVERY)
            self.monitor.check(w.joint_positions(), w.joint_velocities())
        w.step(self.steps_per_tick % _MONITOR_EVERY)
        return Tick(
            had_target=chunk is not None,
            command="none" if cmd is None else cmd.kind,
            gripper_open=w.gripper_closure() < _OPEN_BELOW,
            stage_ns={s: t[i + 1] - t[i] for i, s in enumerate(STAGES)},
        )

    def close(self) -> None:
        """Release the renderer."""
        self.world.close()


def evaluate_closed_loop(
    loop: SimClosedLoop,
    episodes: int,
    seed: int,
    *,
    max_steps: int = 250,
    progress: Callable[[int, EpisodeResult], None] | None = None,
) -> EvalResult:
    """Run ``episodes`` seeded episodes (scene seeds ``seed …``) of the whole stack.

    Success: the target cube in the bin with the gripper measured open for 3 ticks (a released cube). A
    target that fell off the table ends its episode as a failure.
    """
    stage_ns: dict[str, list[int]] = {s: [] for s in STAGES}
    results: list[EpisodeResult] = []
    rejections: Counter[str] = Counter()
    violations: Counter[str] = Counter()
    peak_velocity_ratio = 0.0
    t0 = time.perf_counter()
    for i in range(episodes):
        loop.reset(seed + i)
        success, steps, open_ticks = False, 0, 0
        for steps in range(1, max_steps + 1):  # noqa: B007 - steps is reported after the loop
            tick = loop.tick()
            for s, ns in tick.stage_ns.items():
                stage_ns[s].append(ns)
            open_ticks = open_ticks + 1 if tick.gripper_open else 0
            if open_ticks >= 3 and loop.success():
                success = True
                break
            if loop.target_fell():
                break
        episode_rejections = loop.commander.guard.rejections
        rejections.update(episode_rejections)
        violations.update(v.reason for v in loop.monitor.violations)
        peak_velocity_ratio = max(peak_velocity_ratio, loop.monitor.peak_velocity_ratio)
        result = EpisodeResult(
            seed=seed + i,
            target=loop.world.objects()[loop.target_index].class_name,
            success=success,
            time_to_place_s=loop.world.time_s if success else float("nan"),
            steps=steps,
            ik_failures=sum(episode_rejections.get(r, 0) for r in ("ik_unreachable", "ik_jump")),
            safety_rejections=int(sum(episode_rejections.values())),
            safety_violations=len(loop.monitor.violations),
        )
        results.append(result)
        if progress is not None:
            progress(i, result)
    latency = {
        s: {"p50_ms": percentile_ms(np.array(v), 50), "p99_ms": percentile_ms(np.array(v), 99)}
        for s, v in stage_ns.items()
        if v
    }
    total = np.sum([np.array(v) for v in stage_ns.values()], axis=0) if stage_ns["render"] else np.array([])
    if total.size:
        latency["total"] = {"p50_ms": percentile_ms(total, 50), "p99_ms": percentile_ms(total, 99)}
    return summarise(
        results,
        mean_inference_ms=float(np.mean(stage_ns["policy"]) * 1e-6) if stage_ns["policy"] else 0.0,
        wall_s=time.perf_counter() - t0,
        observation="perception",
        safety_rejections=dict(sorted(rejections.items())),
        safety_violations_by_reason=dict(sorted(violations.items())),
        peak_velocity_ratio=peak_velocity_ratio,
        latency_ms=latency,
    )
