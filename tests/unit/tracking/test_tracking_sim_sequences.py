"""Tracking on seeded sim sequences: moving cubes, a gripper hiding one for ≤ 1 s, scored with trackeval.

Each sequence: 5 cubes (two red, two green, one blue) glide on straight lines at 3–12 cm/s while
turning; the arm leaves home, hovers its gripper on the camera's line of sight to one cube for ~0.8 s,
and returns. Nothing is scripted about visibility: a cube counts as visible in a frame when it lies inside
the image and ≥ 70 % of a 5×5 grid of camera rays through the inner half of its box first hit it
(MuJoCo ray casts). Visible cubes become detections — their exact projected box, localised on the
rendered depth — and ground truth; hidden ones are neither (as in MOT benchmarks with a visibility filter).

Scored output: CONFIRMED tracks matched in the frame. A track matches a cube when the similarity
1 − d / 10 cm ≥ 0.5 (d ≤ 5 cm, CLEAR and Identity); HOTA averages similarity thresholds 0.05–0.95.
Acceptance (issue 3): IDF1 ≥ 0.95 and no ID switch. Measured (2026-11): IDF1 0.993, MOTA 0.986,
HOTA 0.985, 0 ID switches on every sequence, with either cost metric.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import mujoco
import numpy as np
import pytest

from visuomotor.geometry import Extrinsics, Localiser, LocaliserConfig
from visuomotor.interfaces import Detection, Object3D, TrackState
from visuomotor.kinematics import Ur10eKinematics
from visuomotor.report import TrackingFrame, score_tracking
from visuomotor.sim import DepthNoiseConfig, SceneConfig, SimConfig, SimWorld, top_down_tcp_pose
from visuomotor.tracking import HungarianTracker, TrackerConfig

FPS = 30.0
FRAMES = 150
NUM_CUBES = 5
TARGET = 0  # the cube the gripper hides
VISIBLE_FRACTION = 0.7
SIMILARITY_SCALE_M = 0.1
CLASS_IDS = {"red_cube": 0, "green_cube": 1, "blue_cube": 2}
# (seed, depth noise): one ideal and two noisy sequences.
SEQUENCES = ((1, False), (2, True), (5, True))
# Arm path: leave home at 1.0 s, reach the hover pose at 1.6 s, hover until 2.4 s, back home at 3.0 s.
_T_LEAVE, _T_HOVER, _T_UNHOVER, _T_HOME = 1.0, 1.6, 2.4, 3.0
_CORNER_SIGNS = np.array(list(itertools.product((-1.0, 1.0), repeat=3)))


@dataclass(frozen=True)
class Frame:
    """One rendered frame: stamp, visible cubes (index, true position in base_link), their localisations."""

    stamp_ns: int
    gt_ids: tuple[int, ...]
    gt_positions_m: np.ndarray
    objects: tuple[Object3D, ...]
    visible_fraction: np.ndarray


def _cube_motion(world: SimWorld, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(FRAMES, N, 3) positions in base_link, initial yaws (N,), yaw rates (N,) of straight-line glides."""
    p0 = np.array([o.position_m for o in world.objects()[:NUM_CUBES]])
    t = np.arange(FRAMES) / FPS
    for _ in range(1000):
        heading = rng.uniform(-math.pi, math.pi, NUM_CUBES)
        speed = rng.uniform(0.03, 0.12, NUM_CUBES)
        v = np.stack([speed * np.cos(heading), speed * np.sin(heading), np.zeros(NUM_CUBES)], axis=1)
        path = p0[None] + t[:, None, None] * v[None]
        gap = min(
            np.linalg.norm(path[:, i, :2] - path[:, j, :2], axis=1).min()
            for i, j in itertools.combinations(range(NUM_CUBES), 2)
        )
        on_table = (path[..., 0] > 0.4).all() and (path[..., 0] < 0.95).all()
        on_table = on_table and (path[..., 1] > -0.2).all() and (path[..., 1] < 0.55).all()
        if gap > 0.08 and on_table:
            return path, rng.uniform(-math.pi, math.pi, NUM_CUBES), rng.uniform(-1.0, 1.0, NUM_CUBES)
    raise AssertionError("no collision-free cube motion found for this seed; pick another seed")


def _tcp_target(k: int, path: np.ndarray, eye: np.ndarray, home: np.ndarray) -> np.ndarray:
    """TCP position at frame k: the gripper body sits on the line of sight 0.3 m in front of the target."""
    cube = path[k, TARGET]
    towards_camera = (eye - cube) / np.linalg.norm(eye - cube)
    # The gripper body (the widest part) is 0.11 m above the TCP when pointing down.
    hover = cube + 0.3 * towards_camera - np.array([0.0, 0.0, 0.11])
    t = k / FPS
    if t < _T_LEAVE:
        return home
    if t < _T_HOVER:
        a = (t - _T_LEAVE) / (_T_HOVER - _T_LEAVE)
        return (1 - a) * home + a * hover
    if t < _T_UNHOVER:
        return hover
    a = min((t - _T_UNHOVER) / (_T_HOME - _T_UNHOVER), 1.0)
    return (1 - a) * hover + a * home


def _box_and_visibility(world: SimWorld, index: int, geom_id: int) -> tuple[tuple[float, ...], float]:
    """Exact projected box of cube ``index`` and the share of rays through its inner half that hit it."""
    obj = world.objects()[index]
    K, T = world.intrinsics, world.T_base_link_camera
    R = np.zeros(9)
    mujoco.mju_quat2Mat(R, np.asarray(obj.quat_wxyz))
    corners = obj.position_m + (_CORNER_SIGNS * obj.extent_m / 2.0) @ R.reshape(3, 3).T
    uv = K.project((corners - T[:3, 3]) @ T[:3, :3])
    (x0, y0), (x1, y1) = uv.min(axis=0), uv.max(axis=0)
    if x0 < 0 or y0 < 0 or x1 > K.width_px - 1 or y1 > K.height_px - 1:
        return (x0, y0, x1, y1), 0.0
    u, v = np.meshgrid(
        np.linspace((3 * x0 + x1) / 4, (x0 + 3 * x1) / 4, 5),
        np.linspace((3 * y0 + y1) / 4, (y0 + 3 * y1) / 4, 5),
    )
    rays = np.stack(
        [(u.ravel() - K.cx_px) / K.fx_px, (v.ravel() - K.cy_px) / K.fy_px, np.ones(u.size)], axis=1
    )
    rays = rays @ T[:3, :3].T
    rays /= np.linalg.norm(rays, axis=1, keepdims=True)
    hit = np.zeros(len(rays), dtype=np.int32)
    dist = np.zeros(len(rays))
    mujoco.mj_multiRay(
        world.model, world.data, T[:3, 3].copy(), rays.ravel(), None, 1, -1, hit, dist, None, len(rays), 20.0
    )
    return (float(x0), float(y0), float(x1), float(y1)), float((hit == geom_id).mean())


def _render_sequence(seed: int, noise: bool) -> list[Frame]:
    world = SimWorld(
        SimConfig(depth_noise=DepthNoiseConfig(enabled=noise), scene=SceneConfig(num_cubes=NUM_CUBES))
    )
    try:
        world.reset(seed)
        m, d = world.model, world.data
        cubes = world.objects()[:NUM_CUBES]
        geoms = [mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_GEOM, c.name) for c in cubes]
        qadr = [
            m.jnt_qposadr[m.body_jntadr[mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, c.name)]]
            for c in cubes
        ]
        path, yaw0, yaw_rate = _cube_motion(world, np.random.default_rng(seed))
        T = world.T_base_link_camera
        localiser = Localiser(LocaliserConfig(), world.intrinsics, Extrinsics("base_link", "camera", T))
        kinematics = Ur10eKinematics(T_flange_tcp=SimWorld.T_FLANGE_TCP)
        q = world.joint_positions()
        home = kinematics.forward(q)[:3, 3]
        frames = []
        for k in range(FRAMES):
            # Kinematic scene: cubes and arm are placed, not simulated (teleport_arm runs mj_forward).
            for i, adr in enumerate(qadr):
                yaw = yaw0[i] + yaw_rate[i] * k / FPS
                d.qpos[adr : adr + 3] = path[k, i]
                d.qpos[adr + 3 : adr + 7] = (math.cos(yaw / 2), 0.0, 0.0, math.sin(yaw / 2))
            q = kinematics.nearest(top_down_tcp_pose(_tcp_target(k, path, T[:3, 3], home), math.pi / 2), q)
            world.teleport_arm(q)
            depth = world.render().depth_m
            visible, detections, fractions = [], [], []
            for i, cube in enumerate(cubes):
                box, fraction = _box_and_visibility(world, i, geoms[i])
                fractions.append(fraction)
                if fraction >= VISIBLE_FRACTION:
                    visible.append(i)
                    detections.append(Detection(CLASS_IDS[cube.class_name], cube.class_name, 1.0, box))
            result = localiser.localise(detections, depth)
            assert result.skipped == (), result.skipped
            truth = np.array([world.objects()[i].position_m for i in visible]).reshape(-1, 3)
            frames.append(
                Frame(round(k * 1e9 / FPS), tuple(visible), truth, result.objects, np.array(fractions))
            )
        return frames
    finally:
        world.close()


@pytest.fixture(scope="module")
def sequences() -> list[list[Frame]]:
    return [_render_sequence(seed, noise) for seed, noise in SEQUENCES]


def _hidden_runs_s(visible: np.ndarray) -> list[float]:
    """Durations of the runs of frames where a cube is not visible, seconds."""
    runs, n = [], 0
    for v in [*visible.tolist(), True]:
        if not v:
            n += 1
        elif n:
            runs.append(n / FPS)
            n = 0
    return runs


def _scores(frames: list[Frame], config: TrackerConfig) -> dict[str, float]:
    """Run the tracker over a sequence and score it with trackeval's HOTA, CLEAR and Identity."""
    tracker = HungarianTracker(config)
    seq = []
    for f in frames:
        out = [
            t
            for t in tracker.update(f.objects, f.stamp_ns)
            if t.state is TrackState.CONFIRMED and t.misses == 0
        ]
        positions = np.array([t.position_m for t in out]).reshape(-1, 3)
        seq.append(TrackingFrame(f.gt_ids, f.gt_positions_m, [t.track_id for t in out], positions))
    s = score_tracking(seq, SIMILARITY_SCALE_M)
    return {"IDF1": s.idf1, "MOTA": s.mota, "HOTA": s.hota, "IDSW": s.id_switches, "tracker_ids": s.track_ids}


@pytest.mark.slow
def test_sequences_have_moving_cubes_and_a_gripper_occlusion_of_up_to_one_second(
    sequences: list[list[Frame]],
) -> None:
    for frames in sequences:
        visible = np.array([f.visible_fraction for f in frames]) >= VISIBLE_FRACTION  # (FRAMES, NUM_CUBES)
        target_runs = _hidden_runs_s(visible[:, TARGET])
        assert len(target_runs) == 1 and 0.5 <= target_runs[0] <= 1.0, target_runs
        for i in range(NUM_CUBES):
            assert all(run <= 1.0 for run in _hidden_runs_s(visible[:, i])), (
                i,
                _hidden_runs_s(visible[:, i]),
            )
        assert visible.mean() > 0.9
        first, last = frames[0].gt_positions_m, frames[-1].gt_positions_m
        assert np.linalg.norm(first - last, axis=1).min() > 0.1  # every cube travels ≥ 10 cm


@pytest.mark.slow
@pytest.mark.parametrize("metric", ["mahalanobis", "euclidean"])
def test_ids_survive_motion_and_occlusion(sequences: list[list[Frame]], metric: str) -> None:
    for (seed, noise), frames in zip(SEQUENCES, sequences, strict=True):
        s = _scores(frames, TrackerConfig(cost_metric=metric))
        print(
            f"\n{metric} seed {seed} noise {noise}: IDF1 {s['IDF1']:.3f} MOTA {s['MOTA']:.3f} "
            f"HOTA {s['HOTA']:.3f} IDSW {s['IDSW']} ({s['tracker_ids']} track IDs for {NUM_CUBES} cubes)"
        )
        assert s["IDF1"] >= 0.95
        assert s["IDSW"] == 0
        assert s["tracker_ids"] == NUM_CUBES


@pytest.mark.slow
def test_without_lost_tracks_the_occluded_cube_switches_id(sequences: list[list[Frame]]) -> None:
    # The control: dropping tracks 0.2 s after their last match makes the hidden cube come back with a new
    # ID, which the metrics see. So the sequences really test recovery through the occlusion.
    for frames in sequences:
        s = _scores(frames, TrackerConfig(lost_timeout_s=0.2))
        assert s["IDSW"] >= 1
        assert s["tracker_ids"] > NUM_CUBES
