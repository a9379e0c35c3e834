"""The conveyor task's expert: an intercepting pick of a cube that the belt carries past the arm.

:class:`ConveyorExpert` is the closed-loop expert of ``demos`` (same phases, geometry, trapezoidal moves,
miss recovery) with three changes for a moving target, all driven by the observed target velocity v
(``CONVEYOR_OBS_LAYOUT``):

- Intercept: the approach aims above where the cube will be when the gripper gets there,
  p + v·(lead + t_go), t_go = the remaining distance at cruise speed (a fixed point, iterated).
- Tracking: from then on every move is planned in the belt's frame — the command first moves with the
  belt by v·dt (feed-forward), then the trapezoidal profile closes the remaining gap — so the gripper
  hovers, descends, settles and closes while moving with the cube, never trailing it.
- Lead: the commanded pose is reached one control period after it is sent and the servo lags behind
  that (``ExpertParams`` × the sim's arm), so the command leads the cube by ``lead_s``·v; measured in the
  sim (see :class:`ConveyorParams`).

After the grasp the lift, carry and release are those of the static pick. The expert sees the exact
(ground-truth, zero-latency) state in the demos; the runtime gives the policy the same quantities from
the tracker, compensated for the measured latency (``visuomotor.policy.latency``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from visuomotor.errors import ConfigError
from visuomotor.policy.observation import CONVEYOR_OBS_LAYOUT, action_from_pose
from visuomotor.training.policy_demos import ClosedLoopExpert, ExpertParams

__all__ = ["ConveyorExpert", "ConveyorParams", "intercept_point"]

_T = CONVEYOR_OBS_LAYOUT["p_base_link_target_m"]
_B = CONVEYOR_OBS_LAYOUT["p_base_link_bin_m"]
_V = CONVEYOR_OBS_LAYOUT["v_base_link_target_m_s"]
_G = CONVEYOR_OBS_LAYOUT["gripper_closure"][0]


@dataclass(frozen=True, slots=True)
class ConveyorParams:
    """What the intercepting expert adds to :class:`~visuomotor.training.policy_demos.ExpertParams`.

    Attributes:
        lead_s: the command leads the cube by v·lead_s: the arm reaches a commanded pose one control
            period later (the commander's/``PickEnv``'s one-point trajectory) and the servo adds its own
            lag; 0.15 s put the pads within 2 mm of the cube centre along the belt in the sim at
            0.05–0.15 m/s.
        descend_speed_m_s: cruise speed of the descent (the static pick's 0.12 m/s lets a 0.15 m/s cube
            travel 0.2 m while the gripper comes down, too far for a second try after a miss).
        retreat_height_m: after a missed grasp the open gripper rises this far above the cube centre
            (clear of its top) while following it, then descends again: a climb back to the approach
            height costs a second the belt does not give.
        track_tolerance_m: a moving goal counts as reached this close (its observed position and
            velocity jitter, so the static pick's 2 mm would rarely be met); the approach uses twice it.
        max_t_go_s: cap of the intercept's time-to-go (a far cube is aimed at no further ahead).
        intercept_iterations: fixed-point iterations of the intercept time.
    """

    lead_s: float = 0.15
    descend_speed_m_s: float = 0.2
    retreat_height_m: float = 0.06
    track_tolerance_m: float = 0.005
    max_t_go_s: float = 4.0
    intercept_iterations: int = 3

    def __post_init__(self) -> None:
        if not (math.isfinite(self.lead_s) and 0.0 <= self.lead_s <= 1.0):
            raise ConfigError(f"ConveyorParams.lead_s must be in [0, 1] s, got {self.lead_s}")
        if not (math.isfinite(self.descend_speed_m_s) and 0.0 < self.descend_speed_m_s <= 0.5):
            raise ConfigError(
                f"ConveyorParams.descend_speed_m_s must be in (0, 0.5] m/s, got {self.descend_speed_m_s}"
            )
        if not (math.isfinite(self.retreat_height_m) and 0.03 <= self.retreat_height_m <= 0.3):
            raise ConfigError(
                f"ConveyorParams.retreat_height_m must be in [0.03, 0.3] m, got {self.retreat_height_m}"
            )
        if not (math.isfinite(self.track_tolerance_m) and 0.0 < self.track_tolerance_m <= 0.05):
            raise ConfigError(
                f"ConveyorParams.track_tolerance_m must be in (0, 0.05] m, got {self.track_tolerance_m}"
            )
        if not (math.isfinite(self.max_t_go_s) and self.max_t_go_s > 0):
            raise ConfigError(f"ConveyorParams.max_t_go_s must be positive, got {self.max_t_go_s}")
        if self.intercept_iterations < 1:
            raise ConfigError(
                f"ConveyorParams.intercept_iterations must be ≥ 1, got {self.intercept_iterations}"
            )


def intercept_point(
    p_from_m: np.ndarray,
    p_target_m: np.ndarray,
    v_target_m_s: np.ndarray,
    speed_m_s: float,
    *,
    lead_s: float = 0.0,
    max_t_go_s: float = 4.0,
    iterations: int = 3,
) -> np.ndarray:
    """Where a target moving at constant velocity will be when a mover from ``p_from_m`` gets there.

    Solves t = |p_target + v·(lead + t) − p_from| / speed by fixed-point iteration from t = 0 (it
    converges when |v| < speed, as on a conveyor: each step shrinks the error by |v| / speed).

    Args:
        p_from_m: (3,) where the mover is now, metres.
        p_target_m: (3,) the target now, metres.
        v_target_m_s: (3,) the target's velocity, m/s.
        speed_m_s: the mover's speed (> 0).
        lead_s: extra time ahead the point is taken (the mover's own lag).
        max_t_go_s: t is capped here.
        iterations: fixed-point iterations (≥ 1).

    Returns:
        (3,) p_target + v·(lead + t).
    """
    p_from = np.asarray(p_from_m, dtype=np.float64)
    p = np.asarray(p_target_m, dtype=np.float64)
    v = np.asarray(v_target_m_s, dtype=np.float64)
    t = 0.0
    for _ in range(iterations):
        t = min(max_t_go_s, float(np.linalg.norm(p + v * (lead_s + t) - p_from)) / speed_m_s)
    return p + v * (lead_s + t)


class ConveyorExpert(ClosedLoopExpert):
    """Intercept, track, grasp, lift, carry, release — one TCP pose + gripper per control tick.

    Args:
        params: the static pick's geometry and timing.
        conveyor: intercept and lead.
        control_period_s: seconds per tick.
    """

    def __init__(
        self,
        params: ExpertParams | None = None,
        conveyor: ConveyorParams | None = None,
        control_period_s: float = 0.1,
    ) -> None:
        super().__init__(params, control_period_s)
        self.conveyor = conveyor if conveyor is not None else ConveyorParams()
        self._v = np.zeros(3)

    def act(self, obs: np.ndarray) -> np.ndarray:
        """Next action (ACTION_DIM,) from a conveyor observation (CONVEYOR_OBS_DIM,)."""
        p, c = self.params, self.conveyor
        target = np.asarray(obs[_T[0] : _T[1]], np.float64)
        v = np.zeros(3)
        v[:2] = np.asarray(obs[_V[0] : _V[0] + 2], np.float64)  # the belt is flat: no vertical motion
        self._v = v
        lead = target + v * c.lead_s  # where the gripper must be commanded to sit on the cube
        up = np.array([0.0, 0.0, p.approach_height_m])
        gripper = 0.0
        if self.phase == "approach":
            goal = intercept_point(
                self._p_cmd - up, target, v, p.max_speed_m_s, lead_s=c.lead_s, max_t_go_s=c.max_t_go_s,
                iterations=c.intercept_iterations,
            ) + up
            if self._track(goal, v, p.max_speed_m_s, 2 * c.track_tolerance_m):
                self.phase = "descend"
        elif self.phase == "descend":
            if self._track(lead, v, c.descend_speed_m_s, c.track_tolerance_m):
                self.phase, self._ticks = "settle", 0
        elif self.phase == "settle":
            self._track(lead, v, c.descend_speed_m_s)
            self._ticks += 1
            if self._ticks >= p.settle_ticks:
                self.phase, self._ticks = "close", 0
        elif self.phase == "close":
            gripper = 1.0
            self._track(lead, v, c.descend_speed_m_s)
            self._ticks += 1
            if self._ticks >= p.close_ticks:
                self._p_grasp = self._p_cmd.copy()
                self._speed = 0.0
                self.phase = "retreat" if obs[_G] > p.miss_closure else "lift"
        elif self.phase == "retreat":  # missed: open, rise clear of the cube with the belt, go down again
            above = np.array([lead[0], lead[1], target[2] + c.retreat_height_m])
            if self._track(above, v, p.max_speed_m_s, 2 * c.track_tolerance_m):
                self.phase = "descend"
        else:  # lift, carry, release, hold: the static pick's (the cube is off the belt)
            return super().act(obs)
        T = np.eye(4)
        T[:3, :3], T[:3, 3] = self._R, self._p_cmd
        return action_from_pose(T, gripper)

    def _track(
        self, goal: np.ndarray, v: np.ndarray, cruise_m_s: float, tolerance_m: float | None = None
    ) -> bool:
        """One tick towards a goal that moves at ``v``: move with it (feed-forward), then close the gap with
        the trapezoidal profile; True once within ``tolerance_m`` (default: ``track_tolerance_m``)."""
        self._p_cmd = self._p_cmd + v * self.dt
        tol = self.conveyor.track_tolerance_m if tolerance_m is None else tolerance_m
        return self._move(goal, cruise_m_s, tol)
