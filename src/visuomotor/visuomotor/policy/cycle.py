"""Pick after pick: the ACT policy for each cube, and a move home between them.

The policy was trained on episodes that start near the home pose and end when the cube is released over
the bin; a second pick started from above the bin is outside that distribution (measured: it fails). So
:class:`PickCycle` runs the task as a small state machine around the policy:

- ``pick``: tracks → target (not a cube already in the bin) and bin (its last track is kept: it does not
  move, and the detector, trained on empty bins, can miss it with a cube inside) → observation →
  ``select_chunk``.
  A release (the grasp ends) with the TCP over the bin counts a placed cube and starts ``home``.
- ``home``: a straight TCP line to the home pose (``home_joint_positions_rad`` through FK, its
  orientation) at ``home_speed_m_s``, as chunks in the policy's action layout so the commander checks
  them like any other; within 2 cm of home the policy, target choice and grasp state start afresh.
- ``done``: ``max_picks`` cubes placed; nothing is commanded.

In the conveyor task (``PolicyConfig.task``) the target is a :class:`MovingTarget` (position and velocity,
followed along its fitted motion while hidden) and, with ``latency_compensation``, the observation shows
it where it will be when the command acts: p + v·L, L measured per frame (``visuomotor.policy.latency``).

The same class runs in the ``policy`` node and in ``visuomotor eval policy``'s closed loop.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from scipy.spatial.transform import Rotation, Slerp

from visuomotor.interfaces import Track
from visuomotor.kinematics import Ur10eKinematics
from visuomotor.policy.configuration import PolicyConfig
from visuomotor.policy.latency import aim_point, frame_latency_s
from visuomotor.policy.observation import action_from_pose, build_observation
from visuomotor.policy.runtime import ActOnnxPolicy
from visuomotor.policy.targets import GraspedTarget, MovingTarget, TargetSelector

__all__ = ["DONE", "HOME", "PICK", "CycleStep", "PickCycle"]

PICK, HOME, DONE = "pick", "home", "done"
#: The home move is over when the TCP is this close to the home pose, metres.
_AT_HOME_M = 0.02
#: Largest TCP rotation rate of the home move, rad/s (wrist joints are limited to 2 rad/s).
_HOME_TURN_RAD_S = 0.8


@dataclass(frozen=True, slots=True)
class CycleStep:
    """One control tick of the cycle.

    Attributes:
        actions: (n, ACTION_DIM) plan to send (the policy's, or the home move's), None = nothing to send
            (no target or bin yet, or done): the commander's watchdog holds the arm.
        phase: ``pick``, ``home`` or ``done``.
        target: the target track (None while homing, or when there is none).
        placed: cubes placed so far.
    """

    actions: np.ndarray | None
    phase: str
    target: Track | None
    placed: int


class PickCycle:
    """Policy + target choice + grasp memory + the move home, one tick at a time.

    Args:
        policy: the ACT runtime.
        config: target choice, grasp band, memory, home pose and speed, ``max_picks``.
        kinematics: FK with the gripper's tool (the TCP the policy's actions are in).
        target_class: overrides ``config.target_class`` (e.g. per evaluation episode).
    """

    def __init__(
        self,
        policy: ActOnnxPolicy,
        config: PolicyConfig,
        kinematics: Ur10eKinematics,
        target_class: str | None = None,
    ) -> None:
        self.policy = policy
        self.config = config
        self.kinematics = kinematics
        self.T_home = kinematics.forward(np.asarray(config.home_joint_positions_rad, dtype=np.float64))
        self._target_class = target_class or config.target_class
        self.phase = PICK
        self.placed = 0
        self._bin: Track | None = None
        #: The latency L (s) the last conveyor tick compensated (0 when off, or none yet).
        self.last_latency_s = 0.0
        self._fresh_pick()

    def reset(self, target_class: str | None = None) -> None:
        """New task (new episode): nothing placed, picking ``target_class`` (default: the config's)."""
        self._target_class = target_class or self.config.target_class
        self.phase = PICK
        self.placed = 0
        self._bin = None
        self._fresh_pick()

    def _fresh_pick(self) -> None:
        self.selector = TargetSelector(replace(self.config, target_class=self._target_class))
        moving = self.config.task == "conveyor"
        self.grasp = MovingTarget(self.config) if moving else GraspedTarget(self.config)
        self.policy.reset()

    def step(
        self,
        tracks: Sequence[Track],
        q_rad: np.ndarray,
        gripper_closure: float,
        stamp_ns: int,
        now_ns: int | None = None,
        latency_s: float | None = None,
    ) -> CycleStep:
        """The plan for this tick from the newest tracks and the measured joints and gripper.

        Args:
            tracks: the tracker's output for the frame at ``stamp_ns`` (its camera stamp), base_link.
            q_rad: (6,) measured joints; gripper_closure: measured, 0 open … 1 closed.
            stamp_ns: the tracks' camera stamp, ns.
            now_ns: this tick's time on the stamp's clock (conveyor task: L = now − stamp +
                ``command_latency_s``; lock-step passes the stamp: the sim stood still); None = no
                compensation at all (L = 0).
            latency_s: conveyor task: the whole latency L measured by the caller (``trail_latency_s``:
                from the frame's trail, command estimate included); overrides ``now_ns``.

        Raises:
            PolicyError: the model's output or the observation is invalid (NaN/inf).
        """
        q = np.asarray(q_rad, dtype=np.float64)
        T_tcp = self.kinematics.forward(q)
        p_tcp = T_tcp[:3, 3]
        if self.phase == HOME:
            if float(np.linalg.norm(self.T_home[:3, 3] - p_tcp)) <= _AT_HOME_M:
                done = self.config.max_picks and self.placed >= self.config.max_picks
                self.phase = DONE if done else PICK
                self._fresh_pick()
            else:
                return CycleStep(self._home_actions(T_tcp), HOME, None, self.placed)
        if self.phase == DONE:
            return CycleStep(None, DONE, None, self.placed)
        was_grasped = self.grasp.grasped
        target, bin_track = self.selector.update(tracks, p_tcp)
        # The bin is a fixture: keep its last track when it drops out (the detector was trained on empty
        # bins and can miss one holding a cube).
        if bin_track is not None:
            self._bin = bin_track
        bin_track = self._bin
        v_target = None
        if isinstance(self.grasp, MovingTarget):
            state = self.grasp.state(target, p_tcp, gripper_closure, stamp_ns)
            p_target = None if state is None else state[0]
            if state is not None:
                v_target = state[1]
                if self.config.latency_compensation and not self.grasp.grasped:
                    if latency_s is not None:
                        self.last_latency_s = float(latency_s)
                    else:
                        self.last_latency_s = frame_latency_s(
                            stamp_ns, stamp_ns if now_ns is None else now_ns,
                            0.0 if now_ns is None else self.config.command_latency_s,
                        )
                    p_target = aim_point(p_target, v_target, self.last_latency_s)
        else:
            p_target = self.grasp.position(target, p_tcp, gripper_closure, stamp_ns)
        if was_grasped and not self.grasp.grasped and bin_track is not None:
            over_bin = np.abs(p_tcp[:2] - np.asarray(bin_track.position_m[:2])) <= self.config.bin_half_size_m
            if over_bin.all():  # let go over the bin: placed
                self.placed += 1
                self.phase = HOME
                return CycleStep(self._home_actions(T_tcp), HOME, None, self.placed)
        if p_target is None or bin_track is None:
            return CycleStep(None, PICK, target, self.placed)
        obs = build_observation(q, gripper_closure, p_target, bin_track.position_m, v_target)
        actions = self.policy.select_chunk(obs, stamp_ns)[: self.config.chunk_publish_steps]
        return CycleStep(actions, PICK, target, self.placed)

    def _home_actions(self, T_tcp: np.ndarray) -> np.ndarray:
        """``chunk_publish_steps`` poses along the straight line home (orientation slerped, both rates
        limited: ``home_speed_m_s`` and ``_HOME_TURN_RAD_S``), gripper open."""
        period = self.policy.control_period_s
        dist = float(np.linalg.norm(self.T_home[:3, 3] - T_tcp[:3, 3]))
        turn = Rotation.from_matrix(np.stack([T_tcp[:3, :3], self.T_home[:3, :3]]))
        angle = float((turn[0].inv() * turn[1]).magnitude())
        # Fraction of the way per step: the slower of translation and rotation sets it.
        ds = min(
            self.config.home_speed_m_s * period / dist if dist > 1e-9 else 1.0,
            _HOME_TURN_RAD_S * period / angle if angle > 1e-9 else 1.0,
        )
        slerp = Slerp([0.0, 1.0], turn)
        rows = []
        for i in range(self.config.chunk_publish_steps):
            s = min(1.0, ds * (i + 1))
            T = np.eye(4)
            T[:3, :3] = slerp([s]).as_matrix()[0]
            T[:3, 3] = T_tcp[:3, 3] + s * (self.T_home[:3, 3] - T_tcp[:3, 3])
            rows.append(action_from_pose(T, 0.0))
        return np.stack(rows)
