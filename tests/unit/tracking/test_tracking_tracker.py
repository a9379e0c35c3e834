"""HungarianTracker on synthetic 3D detections: lifecycle, occlusions, classes, crossings, config."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from visuomotor.errors import ConfigError
from visuomotor.interfaces import Detection, Object3D, Track, TrackState
from visuomotor.tracking import HungarianTracker, TrackerConfig, TrackingError

TRACKER_YAML = Path(__file__).resolve().parents[3] / "config" / "tracker.yaml"
FRAME_NS = 33_333_333  # 30 Hz
CLASSES = {"red_cube": 0, "green_cube": 1, "blue_cube": 2}


def _obj(class_name: str, p: Sequence[float], frame_id: str = "base_link", score: float = 0.9) -> Object3D:
    det = Detection(CLASSES[class_name], class_name, score, (0.0, 0.0, 1.0, 1.0))
    return Object3D(det, (float(p[0]), float(p[1]), float(p[2])), frame_id, 1.0)


def _by_id(tracks: Sequence[Track]) -> dict[int, Track]:
    return {t.track_id: t for t in tracks}


def test_tentative_confirmed_lost_recovered_then_deleted() -> None:
    cfg = TrackerConfig(confirm_hits=3, lost_after_misses=2, lost_timeout_s=0.5)
    tracker = HungarianTracker(cfg)
    cube = [_obj("red_cube", (0.6, 0.1, 0.025))]
    states = [tracker.update(cube, k * FRAME_NS)[0].state for k in range(3)]
    assert states == [TrackState.TENTATIVE, TrackState.TENTATIVE, TrackState.CONFIRMED]
    (t,) = tracker.tracks
    assert (t.track_id, t.age, t.hits, t.misses, t.score, t.frame_id) == (1, 3, 3, 0, 0.9, "base_link")
    # Occluded: confirmed while coasting one frame, LOST after two misses, still reported.
    assert tracker.update([], 3 * FRAME_NS)[0].state is TrackState.CONFIRMED
    (t,) = tracker.update([], 4 * FRAME_NS)
    assert (t.state, t.misses, t.age) == (TrackState.LOST, 2, 5)
    for k in range(5, 12):  # 0.3 s since the last match at frame 2: within the 0.5 s timeout
        assert tracker.update([], k * FRAME_NS)[0].state is TrackState.LOST
    (t,) = tracker.update(cube, 12 * FRAME_NS)
    assert (t.track_id, t.state, t.misses, t.hits) == (1, TrackState.CONFIRMED, 0, 4)
    # Lost again for longer than the timeout: deleted; the cube coming back gets a new ID.
    for k in range(13, 29):
        tracker.update([], k * FRAME_NS)
    assert tracker.tracks == ()
    (t,) = tracker.update(cube, 29 * FRAME_NS)
    assert (t.track_id, t.state) == (2, TrackState.TENTATIVE)


def test_tentative_tracks_die_on_a_miss_and_confirm_hits_one_confirms_at_once() -> None:
    tracker = HungarianTracker(TrackerConfig(confirm_hits=3, tentative_max_misses=1))
    tracker.update([_obj("red_cube", (0.5, 0.0, 0.025))], 0)
    assert tracker.update([], FRAME_NS) == ()
    eager = HungarianTracker(TrackerConfig(confirm_hits=1))
    assert eager.update([_obj("red_cube", (0.5, 0.0, 0.025))], 0)[0].state is TrackState.CONFIRMED
    patient = HungarianTracker(TrackerConfig(confirm_hits=2, tentative_max_misses=2))
    patient.update([_obj("red_cube", (0.5, 0.0, 0.025))], 0)
    assert patient.update([], FRAME_NS)[0].state is TrackState.TENTATIVE
    assert (
        patient.update([_obj("red_cube", (0.5, 0.0, 0.025))], 2 * FRAME_NS)[0].state is TrackState.CONFIRMED
    )


def test_classes_are_never_matched_across() -> None:
    tracker = HungarianTracker()
    for k in range(3):
        tracker.update(
            [_obj("red_cube", (0.6, 0.0, 0.025)), _obj("green_cube", (0.7, 0.0, 0.025))], k * FRAME_NS
        )
    ids = {t.class_name: t.track_id for t in tracker.tracks}
    # The colours swap places: same-position matching would swap IDs; class consistency starts new tracks.
    tracks = tracker.update(
        [_obj("red_cube", (0.7, 0.0, 0.025)), _obj("green_cube", (0.6, 0.0, 0.025))], 3 * FRAME_NS
    )
    for t in tracks:
        if t.track_id in ids.values():
            assert t.class_name == next(c for c, i in ids.items() if i == t.track_id)
            assert t.misses == 1
        else:
            assert t.state is TrackState.TENTATIVE
    assert len(tracks) == 4


@pytest.mark.parametrize("metric", ["mahalanobis", "euclidean"])
def test_same_class_paths_crossing_keep_their_ids(metric: str) -> None:
    # Two red cubes on crossing diagonals, 6 cm apart where they pass (5 cm cubes), 0.42 m/s, 3 mm noise,
    # both undetected for 0.2 s around the crossing.
    rng = np.random.default_rng(5)
    tracker = HungarianTracker(TrackerConfig(cost_metric=metric, gate_distance_m=0.1))
    a0, va = np.array([0.4, -0.2, 0.025]), np.array([0.3, 0.3, 0.0])
    b0, vb = np.array([0.46, 0.24, 0.025]), np.array([0.3, -0.3, 0.0])
    first: dict[int, int] = {}
    for k in range(60):
        t = k / 30
        pa, pb = a0 + va * t + rng.normal(0, 0.003, 3), b0 + vb * t + rng.normal(0, 0.003, 3)
        order = [(0, pa), (1, pb)][:: 1 if k % 2 else -1]  # detection order must not matter
        if abs(t - 0.733) < 0.1:  # both missed while they pass each other: only the motion model knows
            tracker.update([], k * FRAME_NS)
            continue
        tracks = tracker.update([_obj("red_cube", p) for _, p in order], k * FRAME_NS)
        for who, p in order:
            nearest = min(tracks, key=lambda tr, p=p: np.linalg.norm(np.subtract(tr.position_m, p)))
            assert first.setdefault(who, nearest.track_id) == nearest.track_id
    assert sorted(first.values()) == [1, 2]
    by_id = _by_id(tracker.tracks)
    np.testing.assert_allclose(by_id[first[0]].velocity_m_s, va, atol=0.05)
    np.testing.assert_allclose(by_id[first[1]].velocity_m_s, vb, atol=0.05)


@pytest.mark.parametrize(
    ("accel_std", "noise_std", "max_prediction_error"),
    [
        (None, 0.003, 0.045),  # defaults, the localiser's 1–3 mm error on the sim
        # A loose motion model and noisier detections: A's covariance balloons while it coasts, so its
        # d² to B's detection drops below B's own; d² alone (without ln|S|) hands B's detection to A.
        (1.0, 0.006, 0.15),
    ],
)
def test_a_lost_track_predicts_through_the_occlusion_and_does_not_steal_its_neighbour(
    accel_std: float | None, noise_std: float, max_prediction_error: float
) -> None:
    # Cube A moves at 0.1 m/s and is hidden for 0.9 s; cube B of the same class stands 12 cm from where A
    # is hidden. B keeps its ID throughout and A comes back as itself.
    rng = np.random.default_rng(7)
    cfg = TrackerConfig() if accel_std is None else TrackerConfig(process_accel_std_m_s2=accel_std)
    tracker = HungarianTracker(cfg)
    a0, v = np.array([0.5, 0.0, 0.025]), np.array([0.1, 0.0, 0.0])
    b = np.array([0.58, 0.12, 0.025])
    ids: dict[str, int] = {}
    for k in range(120):
        t = k / 30
        hidden = 30 <= k < 57
        noise = rng.normal(0.0, noise_std, (2, 3))
        objs = [_obj("red_cube", b + noise[0])] + (
            [] if hidden else [_obj("red_cube", a0 + v * t + noise[1])]
        )
        tracks = _by_id(tracker.update(objs, k * FRAME_NS))
        if k == 10:
            ids = {
                name: min(tracks, key=lambda i, p=p: np.linalg.norm(np.subtract(tracks[i].position_m, p)))
                for name, p in (("a", a0 + v * t), ("b", b))
            }
        if k == 56:
            assert tracks[ids["a"]].state is TrackState.LOST
            # Predicted along its velocity (with the defaults: nearer the truth than half of the 9 cm it
            # moved while hidden).
            assert np.linalg.norm(np.subtract(tracks[ids["a"]].position_m, a0 + v * t)) < max_prediction_error
        if k > 10:
            assert set(tracks) == set(ids.values()), f"frame {k}: {sorted(tracks)}"
            np.testing.assert_allclose(tracks[ids["b"]].position_m, b, atol=0.03)  # A is ≥ 12 cm away
    assert _by_id(tracker.tracks)[ids["a"]].state is TrackState.CONFIRMED


def test_dt_comes_from_the_stamps() -> None:
    tracker = HungarianTracker(TrackerConfig(confirm_hits=1))
    v = np.array([0.2, 0.0, 0.0])
    stamps = np.cumsum([0, 33, 40, 25, 33, 60, 33, 33, 20, 45, 33, 33] * 3) * 1_000_000  # jittery frame times
    for s in stamps:
        tracker.update([_obj("blue_cube", np.array([0.5, 0.0, 0.025]) + v * s * 1e-9)], int(s))
    np.testing.assert_allclose(tracker.tracks[0].velocity_m_s, v, atol=0.01)
    tracker.update([_obj("blue_cube", (9.0, 9.0, 9.0))], int(stamps[-1]))  # same stamp: allowed, dt = 0
    with pytest.raises(
        TrackingError, match=r"stamp .* is 0\.001 s older than the previous frame; call reset\(\)"
    ):
        tracker.update([], int(stamps[-1]) - 1_000_000)


def test_positions_in_another_frame_or_not_finite_are_refused_without_side_effects() -> None:
    tracker = HungarianTracker()
    tracker.update([_obj("red_cube", (0.5, 0.0, 0.025))], FRAME_NS)
    before = tracker.tracks
    with pytest.raises(
        TrackingError, match=r"object 'green_cube' has a non-finite position \(0\.5, nan, 0\.025\)"
    ):
        tracker.update(
            [_obj("red_cube", (0.5, 0.0, 0.025)), _obj("green_cube", (0.5, np.nan, 0.025))], 2 * FRAME_NS
        )
    with pytest.raises(
        TrackingError, match=r"'red_cube' is in frame 'camera_color_optical_frame' .* 'base_link'"
    ):
        tracker.update(
            [_obj("red_cube", (0.1, 0.2, 1.3), frame_id="camera_color_optical_frame")], 2 * FRAME_NS
        )
    assert tracker.tracks == before
    (t,) = tracker.update([_obj("red_cube", (0.5, 0.0, 0.025))], 2 * FRAME_NS)  # stamp and state untouched
    assert (t.track_id, t.hits, t.age) == (1, 2, 2)


def test_reset_forgets_tracks_time_and_ids() -> None:
    tracker = HungarianTracker()
    tracker.update(
        [_obj("red_cube", (0.5, 0.0, 0.025)), _obj("green_cube", (0.7, 0.0, 0.025))], 10 * FRAME_NS
    )
    tracker.reset()
    assert tracker.tracks == ()
    (t,) = tracker.update([_obj("red_cube", (0.5, 0.0, 0.025))], 0)  # an older stamp is fine after reset
    assert t.track_id == 1


def test_far_detections_are_gated_into_new_tracks() -> None:
    tracker = HungarianTracker(TrackerConfig(confirm_hits=1))
    tracker.update([_obj("red_cube", (0.5, 0.0, 0.025))], 0)
    tracks = tracker.update([_obj("red_cube", (0.5, 0.2, 0.025))], FRAME_NS)  # 20 cm in 33 ms
    assert [t.track_id for t in tracks] == [1, 2]
    assert tracks[0].misses == 1 and tracks[1].hits == 1


# ---------------------------------------------------------------------------------------------- config


def test_config_round_trips_and_matches_tracker_yaml() -> None:
    cfg = TrackerConfig()
    assert TrackerConfig.from_flat(cfg.to_flat_dict()) == cfg
    params = yaml.safe_load(TRACKER_YAML.read_text())["tracker"]["ros__parameters"]
    assert set(params) == set(cfg.to_flat_dict())
    assert TrackerConfig.from_flat(params) == cfg
    custom = TrackerConfig.from_flat({"lost_timeout_s": 2, "cost_metric": "euclidean"})
    assert custom.lost_timeout_s == 2.0 and isinstance(custom.lost_timeout_s, float)


@pytest.mark.parametrize(
    ("flat", "match"),
    [
        ({"cost_metric": "cosine"}, r"tracker: cost_metric must be one of \('mahalanobis', 'euclidean'\)"),
        ({"frame_id": ""}, r"tracker: frame_id must be a non-empty frame name"),
        ({"gate_mahalanobis_sq": 0}, r"tracker: gate_mahalanobis_sq must be a positive finite number, got 0"),
        ({"gate_distance_m": -0.1}, r"tracker: gate_distance_m must be a positive"),
        ({"lost_timeout_s": 0.0}, r"tracker: lost_timeout_s must be a positive"),
        ({"measurement_std_m": 0}, r"tracker: measurement_std_m must be a positive"),
        ({"process_accel_std_m_s2": -1}, r"tracker: process_accel_std_m_s2 must be a positive"),
        ({"initial_velocity_std_m_s": -1}, r"tracker: initial_velocity_std_m_s must be ≥ 0"),
        ({"confirm_hits": 0}, r"tracker: confirm_hits must be an integer in \[1, 1000\], got 0"),
        ({"lost_after_misses": 2.0}, r"tracker: lost_after_misses must be an integer, got 2\.0"),
        ({"tentative_max_misses": True}, r"tracker: tentative_max_misses must be an integer"),
        ({"gate_distance_m": "0.1"}, r"tracker: gate_distance_m must be a finite number, got '0\.1'"),
        ({"gate_distance": 0.1}, r"unknown tracker parameter 'gate_distance'; known keys: .*frame_id"),
        ({"frame_id": 1}, r"tracker: frame_id must be a string"),
    ],
)
def test_bad_values_name_the_key(flat: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        TrackerConfig.from_flat(flat)
