"""The pick task in the sim at the policy's control rate, shared by the demo recorder and the evaluator.

``PickEnv`` wraps a :class:`~visuomotor.sim.SimWorld`: it picks a target cube, builds the observation from
ground truth (optionally with tracker-like noise; in the conveyor task with the belt's velocity), turns an
action (TCP pose + gripper) into a joint command the way the commander does — closed-form IK nearest the
previous command, sent as a one-point trajectory reaching it one control period later (like a JTC goal) —
and judges success (the target cube inside the bin). No rendering; no ROS.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from visuomotor.errors import ConfigError, KinematicsError
from visuomotor.kinematics import UR10E_JOINT_NAMES, Ur10eKinematics
from visuomotor.policy.observation import TASKS, build_observation, gripper_command, pose_from_action
from visuomotor.sim import JointTrajectoryCommand, ObjectState, SimConfig, SimWorld
from visuomotor.sim.config import ConveyorConfig

__all__ = ["CONVEYOR_SPEED_M_S", "CUBE_CLASSES", "ObservationNoise", "PickEnv", "cube_in_bin"]

#: Belt speed of the conveyor task's default scene (the evaluation's), m/s.
CONVEYOR_SPEED_M_S = 0.1

CUBE_CLASSES = ("red_cube", "green_cube", "blue_cube")
#: Largest joint move accepted between two consecutive commands (0.1 s apart), radians: a jump beyond
#: this is an IK branch switch, not a motion (UR10e: ≤ 3.14 rad/s → 0.31 rad per 0.1 s).
MAX_JUMP_RAD = 0.6


@dataclass(frozen=True, slots=True)
class ObservationNoise:
    """Tracker-like error added to the target and bin positions of the observation.

    Attributes:
        bias_std_m: σ per axis of an offset drawn once per episode and object (localisation bias).
        jitter_std_m: σ per axis of white noise drawn every control step (filtered-track jitter).
        velocity_bias_std_m_s, velocity_jitter_std_m_s: the same for the target's velocity (conveyor task;
            horizontal axes only: the belt is flat).
    """

    bias_std_m: float = 0.0
    jitter_std_m: float = 0.0
    velocity_bias_std_m_s: float = 0.0
    velocity_jitter_std_m_s: float = 0.0

    def __post_init__(self) -> None:
        for name in ("bias_std_m", "jitter_std_m"):
            value = getattr(self, name)
            if not (math.isfinite(value) and 0.0 <= value <= 0.05):
                raise ConfigError(f"ObservationNoise.{name} must be in [0, 0.05] m, got {value}")
        for name in ("velocity_bias_std_m_s", "velocity_jitter_std_m_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and 0.0 <= value <= 0.05):
                raise ConfigError(f"ObservationNoise.{name} must be in [0, 0.05] m/s, got {value}")


def cube_in_bin(cube: ObjectState, bin_state: ObjectState, wall_m: float = 0.01) -> bool:
    """True when the cube's centre lies inside the bin's inner walls and below its rim."""
    inner_half = bin_state.extent_m[:2] / 2 - wall_m - cube.size_m / 2
    rim_z = bin_state.position_m[2] + bin_state.extent_m[2] / 2
    inside_xy = bool((np.abs(cube.position_m[:2] - bin_state.position_m[:2]) <= inner_half + 2e-3).all())
    return inside_xy and float(cube.position_m[2]) < rim_z


class PickEnv:
    """One pick episode at a time: observe → act → step, at ``control_period_s``.

    Args:
        control_period_s: time between actions, seconds (a multiple of the physics step).
        noise: observation noise (none by default: ground truth).
        sim_config: simulator configuration (defaults when None; the conveyor task's default is the plain
            scene with a belt at 0.1 m/s).
        task: ``pick`` (a cube on the table) or ``conveyor`` (the leading cube on the belt; the
            observation carries its velocity — the belt's, held like the runtime's ``MovingTarget`` holds
            the last clear estimate, also while the cube is in the gripper).
    """

    def __init__(
        self,
        control_period_s: float = 0.1,
        noise: ObservationNoise | None = None,
        sim_config: SimConfig | None = None,
        task: str = "pick",
    ) -> None:
        if task not in TASKS:
            raise ConfigError(f"task must be one of {TASKS}, got {task!r}")
        if task == "conveyor" and sim_config is None:
            sim_config = SimConfig(conveyor=ConveyorConfig(speed_m_s=CONVEYOR_SPEED_M_S))
        if task == "conveyor" and not (sim_config is not None and sim_config.conveyor.enabled):
            raise ConfigError("the conveyor task needs a sim config with conveyor.speed_m_s > 0")
        self.task = task
        self.world = SimWorld(sim_config)
        self.kinematics = Ur10eKinematics(T_flange_tcp=SimWorld.T_FLANGE_TCP)
        dt = self.world.model.opt.timestep
        self.steps_per_action = round(control_period_s / dt)
        if self.steps_per_action < 1 or abs(self.steps_per_action * dt - control_period_s) > 1e-9:
            raise ConfigError(
                f"control_period_s ({control_period_s}) must be a multiple of the physics step ({dt})"
            )
        self.control_period_s = float(control_period_s)
        self.noise = noise if noise is not None else ObservationNoise()
        self.target_index = 0
        self.ik_failures = 0
        self._rng = np.random.default_rng(0)
        self._bias = np.zeros((2, 3))
        self._v_bias = np.zeros(3)
        self._q_cmd = self.world.arm_command()

    def reset(
        self,
        seed: int,
        target_index: int | None = None,
        start_joint_noise_rad: float = 0.0,
        conveyor_speed_m_s: float | None = None,
    ) -> None:
        """New scene from ``seed``; target cube ``target_index`` (random from the seed when None; the
        leading belt cube in the conveyor task).

        Args:
            seed: scene seed (cube poses) and the seed of the target choice and the noise.
            target_index: index into the world's cubes, or None.
            start_joint_noise_rad: σ of a Gaussian offset of the start joints (diversity for demos).
            conveyor_speed_m_s: belt speed of this episode (conveyor task); None keeps the current one.
        """
        self.world.reset(seed)
        if conveyor_speed_m_s is not None:
            self.world.set_conveyor_speed(conveyor_speed_m_s)
        self._rng = np.random.default_rng([seed, 7])
        n_cubes = len(self.world.objects()) - 1
        self.target_index = int(self._rng.integers(n_cubes)) if target_index is None else int(target_index)
        if self.task == "conveyor" and target_index is None:
            self.target_index = self.world.conveyor_cube_indices()[0]
        if not 0 <= self.target_index < n_cubes:
            raise ConfigError(f"target_index must be in [0, {n_cubes}), got {target_index}")
        if start_joint_noise_rad > 0:
            q0 = self.world.joint_positions() + self._rng.normal(0.0, start_joint_noise_rad, 6)
            self.world.teleport_arm(q0)
        self._bias = (
            self._rng.normal(0.0, self.noise.bias_std_m, (2, 3))
            if self.noise.bias_std_m
            else np.zeros((2, 3))
        )
        if self.task == "conveyor":
            self._v_bias = np.zeros(3)
            if self.noise.velocity_bias_std_m_s:
                self._v_bias[:2] = self._rng.normal(0.0, self.noise.velocity_bias_std_m_s, 2)
        self.ik_failures = 0
        self._q_cmd = self.world.arm_command()

    @property
    def target(self) -> ObjectState:
        """Ground truth of the target cube."""
        return self.world.objects()[self.target_index]

    @property
    def bin(self) -> ObjectState:
        """Ground truth of the bin."""
        return self.world.objects()[-1]

    @property
    def time_s(self) -> float:
        """Sim time since reset, seconds."""
        return self.world.time_s

    def commanded_tcp_pose(self) -> np.ndarray:
        """(4, 4) FK of the current arm command (where the arm is being sent), base_link."""
        return self.kinematics.forward(self._q_cmd)

    def target_velocity(self) -> np.ndarray:
        """(3,) the target's velocity as the conveyor task observes it: the belt's (0 in the pick task)."""
        return np.array([0.0, self.world.conveyor_speed_m_s if self.task == "conveyor" else 0.0, 0.0])

    def observe(self) -> np.ndarray:
        """Observation (layout of the task), float32: measured joints and gripper, (noisy) target and bin
        centres, and in the conveyor task the (noisy) target velocity."""
        jitter = (
            self._rng.normal(0.0, self.noise.jitter_std_m, (2, 3))
            if self.noise.jitter_std_m
            else np.zeros((2, 3))
        )
        noise = self._bias + jitter
        velocity = None
        if self.task == "conveyor":
            velocity = self.target_velocity() + self._v_bias
            if self.noise.velocity_jitter_std_m_s:
                velocity[:2] += self._rng.normal(0.0, self.noise.velocity_jitter_std_m_s, 2)
        return build_observation(
            self.world.joint_positions(),
            self.world.gripper_closure(),
            self.target.position_m + noise[0],
            self.bin.position_m + noise[1],
            velocity,
        )

    def apply(self, action: np.ndarray) -> bool:
        """Command one action: IK nearest the previous command → joints reached one period from now.

        The gripper gets the binary ``gripper_command`` (≥ 0.5 closes), as the commander should send it.

        Returns:
            False when the pose had no acceptable IK solution (unreachable or a branch jump); the arm
            then holds its previous command and ``ik_failures`` counts it.

        Raises:
            PolicyError: the action is malformed (shape, NaN/inf, degenerate rotation).
        """
        T, gripper = pose_from_action(action)
        self.world.set_gripper(gripper_command(gripper))
        try:
            q = self.kinematics.nearest(T, self._q_cmd, max_jump_rad=MAX_JUMP_RAD)
        except KinematicsError:  # unreachable, a branch jump or a singularity: hold and count it
            self.ik_failures += 1
            return False
        traj = JointTrajectoryCommand(UR10E_JOINT_NAMES, np.array([self.control_period_s]), q[None, :], None)
        self.world.follow_trajectory(traj)
        self._q_cmd = q
        return True

    def step(self) -> None:
        """Advance the physics by one control period."""
        self.world.step(self.steps_per_action)

    def settle(self, seconds: float) -> None:
        """Let the physics run ``seconds`` with the current commands (a dropped cube comes to rest)."""
        self.world.step(round(seconds / self.world.model.opt.timestep))

    def success(self) -> bool:
        """The target cube is inside the bin."""
        return cube_in_bin(self.target, self.bin)
