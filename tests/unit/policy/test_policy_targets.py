"""TargetSelector: class/track-id selection, nearest cube, stickiness through LOST, the bin."""

from __future__ import annotations

import numpy as np

from visuomotor.interfaces import Track, TrackState
from visuomotor.policy import PolicyConfig
from visuomotor.policy.targets import TargetSelector


def _track(tid: int, cls: str, p: tuple[float, float, float], state=TrackState.CONFIRMED, hits=5) -> Track:
    return Track(tid, 0, cls, p, (0.0, 0.0, 0.0), state, 10, hits, 0, 0.9, "base_link")


TRACKS = [
    _track(1, "red_cube", (0.8, 0.3, 0.025)),
    _track(2, "green_cube", (0.45, 0.0, 0.025)),
    _track(3, "blue_cube", (0.5, 0.1, 0.025), state=TrackState.TENTATIVE),
    _track(4, "bin", (0.55, -0.45, 0.05), hits=50),
    _track(5, "bin", (0.9, -0.45, 0.05), state=TrackState.TENTATIVE, hits=1),
]
TCP = np.array([0.5, 0.1, 0.4])


def test_any_picks_the_nearest_confirmed_cube_and_the_best_bin() -> None:
    sel = TargetSelector(PolicyConfig())
    target, bin_track = sel.update(TRACKS, TCP)
    assert target is not None and target.track_id == 2  # blue is nearer but only tentative
    assert bin_track is not None and bin_track.track_id == 4


def test_class_and_track_id_selection() -> None:
    assert TargetSelector(PolicyConfig(target_class="red_cube")).update(TRACKS, TCP)[0].track_id == 1
    assert TargetSelector(PolicyConfig(target_track_id=3)).update(TRACKS, TCP)[0].track_id == 3
    assert TargetSelector(PolicyConfig(target_track_id=9)).update(TRACKS, TCP)[0] is None


def test_target_sticks_while_its_track_lives_and_reset_forgets_it() -> None:
    sel = TargetSelector(PolicyConfig())
    assert sel.update(TRACKS, TCP)[0].track_id == 2
    lost = [*TRACKS[:1], _track(2, "green_cube", (0.46, 0.0, 0.2), state=TrackState.LOST), *TRACKS[2:]]
    target, _ = sel.update(lost, np.array([0.8, 0.3, 0.4]))  # now nearer to red: still green
    assert target is not None and target.track_id == 2 and target.position_m[2] == 0.2
    gone = [t for t in TRACKS if t.track_id != 2]
    assert sel.update(gone, TCP)[0].track_id == 1  # track deleted: choose again
    sel.reset()
    assert sel.target_id is None
    assert sel.update([], TCP) == (None, None)



def _fresh(tid: int, p: tuple[float, float, float], misses: int = 0, state=TrackState.CONFIRMED) -> Track:
    return Track(tid, 0, "red_cube", p, (0.0, 0.0, 0.0), state, 10, 5, misses, 0.9, "base_link")


S = 1_000_000_000  # ns per second


def test_grasped_target_moves_with_the_tcp_until_the_gripper_opens() -> None:
    from visuomotor.policy import GraspedTarget

    g = GraspedTarget(PolicyConfig())
    cube = _fresh(7, (0.6, 0.1, 0.025))
    tcp = np.array([0.6, 0.1, 0.03])
    assert np.allclose(g.position(cube, tcp, 0.0, 0), cube.position_m) and not g.grasped  # open: the track
    assert np.allclose(g.position(cube, tcp, 0.31, S // 10), cube.position_m) and g.grasped  # closed on it
    lifted = np.array([0.6, 0.1, 0.2])
    coasting = _fresh(7, (0.6, 0.1, 0.025), misses=4, state=TrackState.LOST)
    assert np.allclose(g.position(coasting, lifted, 0.31, S), lifted)  # hidden in the fingers: the TCP
    assert np.allclose(g.position(None, lifted, 0.31, 10 * S), lifted)  # track deleted: still the TCP
    assert g.position(None, lifted, 0.0, 11 * S) is None and not g.grasped  # released, memory expired


def test_closing_away_from_the_target_or_on_nothing_is_not_a_grasp() -> None:
    from visuomotor.policy import GraspedTarget

    g = GraspedTarget(PolicyConfig())
    cube = _fresh(7, (0.6, 0.1, 0.025))
    far_tcp = np.array([0.6, 0.3, 0.03])  # 20 cm away (missed)
    assert np.allclose(g.position(cube, far_tcp, 0.31, 0), cube.position_m) and not g.grasped
    g.reset()
    near_tcp = np.array([0.6, 0.1, 0.03])
    assert np.allclose(g.position(cube, near_tcp, 1.0, 0), cube.position_m) and not g.grasped  # closed empty


def test_a_hidden_target_stays_where_it_was_last_seen_clearly() -> None:
    from visuomotor.policy import GraspedTarget

    cfg = PolicyConfig()
    g = GraspedTarget(cfg)
    home = np.array([0.4, 0.0, 0.45])
    assert np.allclose(g.position(_fresh(3, (0.8, 0.05, 0.025)), home, 0.0, 0), (0.8, 0.05, 0.025))
    above = np.array([0.8, 0.05, 0.1])  # the gripper covers part of the cube: its box shifts 1.5 cm
    shifted = _fresh(3, (0.815, 0.05, 0.025))
    assert np.allclose(g.position(shifted, above, 0.0, S), (0.8, 0.05, 0.025))
    coasting = _fresh(3, (0.83, 0.06, 0.01), misses=5, state=TrackState.LOST)  # Kalman drift
    assert np.allclose(g.position(coasting, above, 0.0, 2 * S), (0.8, 0.05, 0.025))
    # Track deleted: remembered until target_memory_s after the last fresh match (at 1 s), then gone.
    assert np.allclose(g.position(None, above, 0.0, S + int(cfg.target_memory_s * S)), (0.8, 0.05, 0.025))
    assert g.position(None, above, 0.0, S + int(cfg.target_memory_s * S) + 1) is None
    # Seen clearly again (the arm backed off) somewhere else: the new position wins.
    assert np.allclose(g.position(_fresh(9, (0.7, 0.1, 0.025)), home, 0.0, 9 * S), (0.7, 0.1, 0.025))
