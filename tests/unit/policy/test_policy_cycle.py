"""PickCycle: pick → (release over the bin) → home → next pick, with placed cubes never targeted again."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from visuomotor.interfaces import Track, TrackState
from visuomotor.kinematics import T_FLANGE_TCP, Ur10eKinematics
from visuomotor.policy import ActOnnxPolicy, PolicyConfig, pose_from_action
from visuomotor.policy.cycle import DONE, HOME, PICK, PickCycle

ROOT = Path(__file__).resolve().parents[3]
KIN = Ur10eKinematics(T_flange_tcp=T_FLANGE_TCP)
HOME_Q = np.array(PolicyConfig().home_joint_positions_rad)
BIN = (0.55, -0.45, 0.05)
S = 100_000_000  # one 0.1 s tick in ns


def _track(tid: int, cls: str, p: tuple[float, float, float], misses: int = 0) -> Track:
    return Track(tid, 0, cls, p, (0.0, 0.0, 0.0), TrackState.CONFIRMED, 10, 5, misses, 0.9, "base_link")


def _cycle(**config: object) -> PickCycle:
    cfg = replace(PolicyConfig(), **config)
    return PickCycle(ActOnnxPolicy(ROOT / "models" / "act_pick.onnx"), cfg, KIN)


def _q_at(p: np.ndarray) -> np.ndarray:
    T = KIN.forward(HOME_Q)
    T[:3, 3] = p
    return KIN.nearest(T, HOME_Q)


def test_pick_then_release_over_the_bin_goes_home_then_picks_the_next_free_cube() -> None:
    cycle = _cycle()
    red, green = _track(1, "red_cube", (0.6, 0.1, 0.025)), _track(2, "green_cube", (0.8, 0.3, 0.025))
    bin_ = _track(3, "bin", BIN)
    step = cycle.step([red, green, bin_], HOME_Q, 0.0, 0)
    assert step.phase == PICK and step.target.track_id == 1 and step.actions.shape == (3, 10)
    # Grasped next to the red cube, carried over the bin, let go.
    above_red = _q_at(np.array([0.6, 0.1, 0.03]))
    cycle.step([red, green, bin_], above_red, 0.31, S)
    assert cycle.grasp.grasped
    over_bin = _q_at(np.array([0.55, -0.45, 0.2]))
    in_bin = _track(1, "red_cube", (0.55, -0.45, 0.025))
    step = cycle.step([in_bin, green, bin_], over_bin, 0.0, 2 * S)
    assert step.phase == HOME and step.placed == 1 and step.target is None
    # The home move: straight towards the home TCP, no faster than home_speed_m_s, gripper open.
    p_home = KIN.forward(HOME_Q)[:3, 3]
    p0 = KIN.forward(over_bin)[:3, 3]
    poses = [pose_from_action(a) for a in step.actions]
    assert all(g == 0.0 for _, g in poses)
    first = poses[0][0][:3, 3]
    assert np.linalg.norm(first - p0) <= 0.25 * 0.1 + 1e-9
    assert np.dot(first - p0, p_home - p0) > 0
    # Home reached: a fresh pick of the cube that is not in the bin (the red one is, by position).
    step = cycle.step([in_bin, green, _track(3, "bin", BIN)], HOME_Q, 0.0, 3 * S)
    assert step.phase == PICK and step.target.track_id == 2 and step.actions is not None


def test_max_picks_ends_the_task_and_the_bin_is_remembered() -> None:
    cycle = _cycle(max_picks=1)
    red, bin_ = _track(1, "red_cube", (0.6, 0.1, 0.025)), _track(3, "bin", BIN)
    cycle.step([red, bin_], HOME_Q, 0.0, 0)
    cycle.step([red], _q_at(np.array([0.6, 0.1, 0.03])), 0.31, S)  # bin dropped out: remembered
    assert cycle.grasp.grasped
    step = cycle.step([], _q_at(np.array([0.55, -0.45, 0.2])), 0.0, 2 * S)
    assert step.phase == HOME and step.placed == 1
    assert cycle.step([], HOME_Q, 0.0, 3 * S).phase == DONE
    assert cycle.step([red, bin_], HOME_Q, 0.0, 4 * S).actions is None  # done: nothing more is sent
    cycle.reset()
    assert cycle.phase == PICK and cycle.placed == 0


def test_letting_go_away_from_the_bin_is_not_a_place() -> None:
    cycle = _cycle()
    red, bin_ = _track(1, "red_cube", (0.6, 0.1, 0.025)), _track(3, "bin", BIN)
    cycle.step([red, bin_], _q_at(np.array([0.6, 0.1, 0.03])), 0.31, 0)
    step = cycle.step([red, bin_], _q_at(np.array([0.6, 0.1, 0.1])), 0.0, S)  # dropped on the table
    assert step.phase == PICK and step.placed == 0
