"""Whole-arm collision checking: the distance maths, the UR10e capsule model, the guard's checks, and MuJoCo.

- The three primitives (segment–plane, segment–box, segment–segment) and the box–box distance built on
  them: hand-computed cases, then seeded random cases against dense brute-force sampling.
- The model: capsules sit on the DH chain with the UR10e's offsets; pairs that are never checked keep
  their bound.
- The guard: the probe configuration (elbow 0.318 m under the table, TCP and flange above it) is refused,
  home and scripted picks over the whole cube area pass, one test per rejection reason, "no worse than
  the start", config validation.
- MuJoCo as the referee: the capsules and the tool box as MuJoCo geoms on the same chain, with the sim's
  own table, on 1200 joint configurations (half biased towards the table): no configuration MuJoCo puts
  in contact with the table passes the guard; contacts with the table plane agree both ways; every
  distance matches ``mj_geomDistance``.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import mujoco
import numpy as np
import pytest

from visuomotor.control import SafetyConfig, SafetyGuard
from visuomotor.control.collision import (
    NEVER_COLLIDING_LINKS,
    TOOL_LINK,
    UR10E_CAPSULES,
    UR10E_ELBOW_OFFSET_M,
    UR10E_SHOULDER_OFFSET_M,
    Aabb,
    CollisionChecker,
    CollisionModel,
    ToolBox,
    box_aabb_distance,
    capsule_endpoints,
    segment_aabb_distance,
    segment_obb_distance,
    segment_plane_distance,
    segment_segment_distance,
)
from visuomotor.control.config import MAX_SELF_COLLISION_MARGIN_M
from visuomotor.control.violations import (
    COLLISION_REJECTION_REASONS,
    CollisionKeepoutViolation,
    CollisionTableViolation,
    CollisionWorkspaceViolation,
    SelfCollisionViolation,
)
from visuomotor.errors import ConfigError, SafetyViolation
from visuomotor.kinematics import T_FLANGE_TCP, UR10E_DH, DhParameters, Ur10eKinematics, forward_dh
from visuomotor.kinematics.ur10e import link_frames_batch
from visuomotor.sim.config import SimConfig
from visuomotor.sim.expert import ScriptedPick
from visuomotor.sim.scene import build_mjcf

Q_HOME = np.array([-0.4, -2.2, 2.1, -1.47, -1.5708, 0.0])
#: The issue's probe: TCP and flange above the table, the elbow 0.318 m below it.
Q_PROBE = np.array([0.265, 0.951, -2.31, -2.242, 2.853, 1.928])
KIN = Ur10eKinematics(T_flange_tcp=T_FLANGE_TCP)
TOOL = ToolBox.along_tool_axis(T_FLANGE_TCP, (0.04, 0.07), 0.015)
MODEL = CollisionModel(tool=TOOL)


def guard(**overrides: Any) -> SafetyGuard:
    return SafetyGuard(SafetyConfig(**overrides), T_flange_tcp=T_FLANGE_TCP)


def hold(g: SafetyGuard, q: np.ndarray) -> None:
    """Stay at q for a second: the second segment gets the strict limits (the first is "no worse")."""
    g.check_trajectory(q, np.array([0.5, 1.0]), np.array([q, q]))


# ------------------------------------------------------------------------------------------- brute force


def point_aabb(p: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    return np.linalg.norm(np.maximum(np.maximum(lo - p, p - hi), 0.0), axis=-1)


def point_segment(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ab = b - a
    t = np.clip(((p - a) * ab).sum(-1) / np.maximum((ab * ab).sum(-1), 1e-300), 0.0, 1.0)
    return np.linalg.norm(a + t[..., None] * ab - p, axis=-1)


def sample_segments(p0: np.ndarray, p1: np.ndarray, n: int) -> np.ndarray:
    t = np.linspace(0.0, 1.0, n)
    return p0[:, None] + t[None, :, None] * (p1 - p0)[:, None]


# ------------------------------------------------------------------------------------------- the maths


def test_segment_plane_hand_computed() -> None:
    p0 = np.array([[0.0, 0.0, 0.3], [0.0, 0.0, 0.5], [1.0, 2.0, 3.0]])
    p1 = np.array([[1.0, 0.0, -0.2], [1.0, 1.0, 0.5], [1.0, 2.0, 3.0]])
    np.testing.assert_allclose(segment_plane_distance(p0, p1), [-0.2, 0.5, 3.0])
    n = np.array([1.0, 1.0, 0.0]) / math.sqrt(2.0)
    np.testing.assert_allclose(segment_plane_distance(p0[2], p1[2], tuple(n), 1.0), 3 / math.sqrt(2) - 1)


def test_segment_aabb_hand_computed() -> None:
    lo, hi = np.zeros(3), np.ones(3)
    cases = [
        ((2.0, 0.5, 0.5), (3.0, 0.5, 0.5), 1.0),  # facing a face
        ((2.0, 2.0, 0.5), (2.0, 3.0, 0.5), math.sqrt(2.0)),  # nearest to the edge x = y = 1
        ((2.0, 2.0, 2.0), (3.0, 3.0, 3.0), math.sqrt(3.0)),  # nearest to the corner
        ((-1.0, 0.5, 0.5), (2.0, 0.5, 0.5), 0.0),  # straight through
        ((0.2, 0.3, 0.4), (0.6, 0.7, 0.8), 0.0),  # inside
        # Passes the edge x = y = 1 on the line x + y = 3: closest at (1.5, 1.5), inside the segment.
        ((2.5, 0.5, 0.5), (0.5, 2.5, 0.5), 1.0 / math.sqrt(2.0)),
        ((2.0, 2.0, 0.5), (2.0, 2.0, 0.5), math.sqrt(2.0)),  # a point
        ((1.0, 0.5, 2.0), (1.0, 0.5, 1.5), 0.5),  # along a face, ending above it
    ]
    p0, p1, want = (np.array([c[i] for c in cases]) for i in range(3))
    np.testing.assert_allclose(segment_aabb_distance(p0, p1, lo, hi), want, atol=1e-12)
    # Same cases through an oriented box: the unit cube turned 30° about z, the segments with it.
    R = np.array([[math.cos(0.5), -math.sin(0.5), 0.0], [math.sin(0.5), math.cos(0.5), 0.0], [0, 0, 1.0]])
    c = R @ np.full(3, 0.5) + np.array([0.3, -0.2, 0.1])
    move = lambda p: (p - 0.5) @ R.T + c  # noqa: E731 - a one-line frame change
    got = segment_obb_distance(move(p0), move(p1), c, R, np.full(3, 0.5))
    np.testing.assert_allclose(got, want, atol=1e-12)


def test_segment_segment_hand_computed() -> None:
    cases = [
        ((0, 0, 0), (1, 0, 0), (0.5, -1, 1), (0.5, 1, 1), 1.0),  # skew, perpendicular
        ((0, 0, 0), (1, 0, 0), (0.5, 0.3, 0), (2, 0.3, 0), 0.3),  # parallel, overlapping
        ((0, 0, 0), (1, 0, 0), (2, 0.3, 0), (3, 0.3, 0), math.hypot(1.0, 0.3)),  # parallel, apart
        ((0, 0, 0), (1, 0, 0), (2, -1, 0), (2, 1, 0), 1.0),  # endpoint to interior
        ((0, 0, 0), (1, 1, 0), (0, 1, 0), (1, 0, 0), 0.0),  # crossing
        ((0, 0, 0), (0, 0, 0), (1, -1, 0), (1, 1, 0), 1.0),  # point vs segment
        ((1, -1, 0), (1, 1, 0), (0, 0, 0), (0, 0, 0), 1.0),  # segment vs point
        ((0, 0, 0), (0, 0, 0), (3, 4, 0), (3, 4, 0), 5.0),  # two points
        ((0, 0, 0), (1, 0, 0), (-1, 2, 2), (-2, 3, 3), math.sqrt(1 + 4 + 4)),  # endpoint to endpoint
    ]
    arr = [np.array([c[i] for c in cases], dtype=float) for i in range(4)]
    want = np.array([c[4] for c in cases])
    np.testing.assert_allclose(segment_segment_distance(*arr), want, atol=1e-12)
    np.testing.assert_allclose(segment_segment_distance(arr[2], arr[3], arr[0], arr[1]), want, atol=1e-12)


def test_box_aabb_hand_computed() -> None:
    # A unit-half cube turned 45° about z reaches x = √2 at its edge; the box starts at x = 2.
    c = np.zeros(3)
    s = math.sqrt(0.5)
    R = np.array([[s, -s, 0.0], [s, s, 0.0], [0.0, 0.0, 1.0]])
    h = np.ones(3)
    lo, hi = np.array([2.0, -0.5, -0.5]), np.array([3.0, 0.5, 0.5])
    assert box_aabb_distance(c, R, h, lo, hi) == pytest.approx(2.0 - math.sqrt(2.0), abs=1e-12)
    assert box_aabb_distance(c, R, h, lo - 1.0, hi) == 0.0  # overlapping
    assert box_aabb_distance(c, R, h, -np.full(3, 5.0), np.full(3, 5.0)) == 0.0  # inside it
    # Edge against edge: the AABB turned to meet the rotated edge at a skew angle.
    lo2, hi2 = np.array([2.0, -0.5, 1.5]), np.array([3.0, 0.5, 2.5])  # 0.5 above the cube's top face
    assert box_aabb_distance(c, R, h, lo2, hi2) == pytest.approx(math.hypot(2 - math.sqrt(2), 0.5))


def test_segment_aabb_matches_dense_sampling() -> None:
    rng = np.random.default_rng(11)
    n = 400
    p0 = rng.normal(0.0, 1.0, (n, 3))
    p1 = p0 + rng.normal(0.0, 1.0, (n, 3))
    p1[:60, 0] = p0[:60, 0]  # axis-parallel segments: a coordinate that never crosses a face
    p1[:20, 1] = p0[:20, 1]
    p1[20:30] = p0[20:30]  # points
    lo = rng.normal(0.0, 0.5, (n, 3))
    hi = lo + rng.uniform(0.01, 1.0, (n, 3))
    exact = segment_aabb_distance(p0, p1, lo, hi)
    samples = 20001
    brute = point_aabb(sample_segments(p0, p1, samples), lo[:, None], hi[:, None]).min(axis=1)
    step = np.linalg.norm(p1 - p0, axis=1) / (samples - 1)
    assert (exact <= brute + 1e-12).all()  # never more than a point on the segment
    assert (brute - exact <= step + 1e-12).all()  # and the grid gets within a step of it
    assert (exact == 0.0).sum() >= 5 and (exact > 0.0).sum() >= 300  # both kinds exercised


def test_segment_segment_matches_dense_sampling() -> None:
    rng = np.random.default_rng(12)
    n = 400
    p0, q0 = rng.normal(0.0, 1.0, (n, 3)), rng.normal(0.0, 1.0, (n, 3))
    p1, q1 = p0 + rng.normal(0.0, 1.0, (n, 3)), q0 + rng.normal(0.0, 1.0, (n, 3))
    q1[:40] = q0[:40] + rng.uniform(-2, 2, (40, 1)) * (p1[:40] - p0[:40])  # parallel and anti-parallel
    q1[40:50] = q0[40:50]
    p1[50:55] = p0[50:55]
    exact = segment_segment_distance(p0, p1, q0, q1)
    samples = 20001
    brute = point_segment(sample_segments(p0, p1, samples), q0[:, None], q1[:, None]).min(axis=1)
    step = np.linalg.norm(p1 - p0, axis=1) / (samples - 1)
    assert (exact <= brute + 1e-12).all()
    assert (brute - exact <= step + 1e-12).all()


def test_box_and_obb_distances_match_dense_sampling() -> None:
    rng = np.random.default_rng(13)
    n = 60
    c = rng.normal(0.0, 0.6, (n, 3))
    R = np.linalg.qr(rng.normal(size=(n, 3, 3)))[0]
    R *= np.sign(np.linalg.det(R))[:, None, None]  # rotations, not reflections
    h = rng.uniform(0.05, 0.4, (n, 3))
    lo = rng.normal(0.0, 0.6, (n, 3))
    hi = lo + rng.uniform(0.05, 0.6, (n, 3))
    exact = box_aabb_distance(c, R, h, lo, hi)
    # Brute force: a 41 × 41 grid on each face of the oriented box against the AABB.
    g = np.linspace(-1.0, 1.0, 41)
    u, v = (a.ravel() for a in np.meshgrid(g, g))
    faces = []
    for axis in range(3):
        for sign in (-1.0, 1.0):
            local = np.zeros((u.size, 3))
            local[:, axis] = sign
            local[:, (axis + 1) % 3], local[:, (axis + 2) % 3] = u, v
            faces.append(local)
    local = np.concatenate(faces)  # (k, 3) in [-1, 1]³, on the surface
    pts = c[:, None] + (local[None] * h[:, None]) @ np.swapaxes(R, 1, 2)
    brute = point_aabb(pts, lo[:, None], hi[:, None]).min(axis=1)
    spacing = 2.0 * h.max(axis=1) / 40 * math.sqrt(2.0)
    assert (exact <= brute + 1e-12).all()
    assert (brute - exact <= spacing).all()
    assert (exact == 0.0).any() and (exact > 0.0).sum() >= 20
    # Segment vs oriented box, same boxes: sample the segment, measure each point in the box frame.
    p0 = rng.normal(0.0, 1.0, (n, 3))
    p1 = p0 + rng.normal(0.0, 0.8, (n, 3))
    exact = segment_obb_distance(p0, p1, c, R, h)
    pts = sample_segments(p0, p1, 20001)
    local_pts = (pts - c[:, None]) @ R
    brute = point_aabb(local_pts, -h[:, None], h[:, None]).min(axis=1)
    assert (exact <= brute + 1e-12).all()
    assert (brute - exact <= np.linalg.norm(p1 - p0, axis=1) / 20000 + 1e-12).all()


# ------------------------------------------------------------------------------------------- the model


def test_link_frames_are_the_dh_frames_in_base_link() -> None:
    rng = np.random.default_rng(1)
    q = rng.uniform(-np.pi, np.pi, (20, 6))
    F = link_frames_batch(q)
    assert F.shape == (20, 7, 4, 4)
    np.testing.assert_allclose(F[:, 6], Ur10eKinematics().forward_batch(q), atol=1e-14)
    np.testing.assert_allclose(F[:, 0], np.broadcast_to(np.diag([-1.0, -1.0, 1.0, 1.0]), (20, 4, 4)))
    for i in range(1, 6):
        dh = DhParameters(UR10E_DH.d[:i], UR10E_DH.a[:i], UR10E_DH.alpha[:i])
        for k in range(3):
            T = forward_dh(dh, q[k, :i])
            T[:2] *= -1.0  # DH base → base_link
            np.testing.assert_allclose(F[k, i], T, atol=1e-14)
    np.testing.assert_allclose(Ur10eKinematics().link_frames_batch(q), F)


def test_capsules_sit_on_the_ur10e_chain() -> None:
    """Endpoints in base_link from DH frame origins and joint axes, by hand."""
    rng = np.random.default_rng(2)
    q = rng.uniform(-np.pi, np.pi, (10, 6))
    F = link_frames_batch(q)
    o = F[:, :, :3, 3]  # origins of DH frames 0…6
    z = F[:, :, :3, 2]  # their z axes: z_i is joint i+1's axis
    s, e = UR10E_SHOULDER_OFFSET_M, UR10E_ELBOW_OFFSET_M
    want = {
        "base": (o[:, 0], o[:, 0] + UR10E_DH.d[0] * z[:, 0]),
        "shoulder": (o[:, 1], o[:, 1] + s * z[:, 1]),
        "upper_arm": (o[:, 1] + s * z[:, 1], o[:, 2] + s * z[:, 2]),
        "elbow": (o[:, 2] + s * z[:, 2], o[:, 2] + e * z[:, 2]),
        "forearm": (o[:, 2] + e * z[:, 2], o[:, 3] + e * z[:, 3]),
        "wrist_1": (o[:, 3] + e * z[:, 3], o[:, 4]),
        "wrist_2": (o[:, 4], o[:, 5]),
        "wrist_3": (o[:, 5], o[:, 6] - 0.045 * z[:, 6]),
    }
    p0, p1 = capsule_endpoints(MODEL, F)
    assert [c.name for c in UR10E_CAPSULES] == list(want)
    for k, c in enumerate(UR10E_CAPSULES):
        np.testing.assert_allclose(p0[:, k], want[c.name][0], atol=1e-12, err_msg=c.name)
        np.testing.assert_allclose(p1[:, k], want[c.name][1], atol=1e-12, err_msg=c.name)
    np.testing.assert_allclose(o[:, 4] - o[:, 3], UR10E_DH.d[3] * z[:, 3], atol=1e-12)  # wrist 1 at d4 out
    # The probe: the elbow joint (DH frame 2 origin) is 0.318 m below the table.
    assert link_frames_batch(Q_PROBE[None])[0, 2, 2, 3] == pytest.approx(-0.318, abs=5e-4)


def test_tool_box_runs_along_the_tool_axis() -> None:
    assert TOOL is not None
    np.testing.assert_allclose(TOOL.center_m, (0.0, 0.0, 0.0875))
    np.testing.assert_allclose(TOOL.half_extents_m, (0.04, 0.07, 0.0875))
    np.testing.assert_allclose(TOOL.axes, np.eye(3), atol=1e-15)
    assert ToolBox.along_tool_axis(np.eye(4), (0.04, 0.07), 0.0) is None  # bare flange
    T = np.eye(4)
    T[:3, 3] = (0.1, 0.0, 0.1)  # a tool sticking out at 45°
    box = ToolBox.along_tool_axis(T, (0.02, 0.03), 0.01)
    assert box is not None
    A = np.array(box.axes)
    np.testing.assert_allclose(A.T @ A, np.eye(3), atol=1e-12)
    assert np.linalg.det(A) == pytest.approx(1.0)
    np.testing.assert_allclose(A[:, 2], np.array([1.0, 0.0, 1.0]) / math.sqrt(2.0))
    assert box.half_extents_m[2] == pytest.approx((math.sqrt(0.02) + 0.01) / 2)


def test_self_pairs_are_non_adjacent_and_skip_only_the_proven_ones() -> None:
    names = MODEL.part_names
    links = {c.name: c.link for c in UR10E_CAPSULES} | {"tool": TOOL_LINK}
    pairs = {(names[i], names[j]) for i, j in MODEL.self_pairs()}
    for a, b in pairs:
        assert abs(links[a] - links[b]) >= 2
        assert tuple(sorted((links[a], links[b]))) not in NEVER_COLLIDING_LINKS
    assert ("forearm", "tool") in pairs and ("upper_arm", "wrist_2") in pairs and ("base", "tool") in pairs
    assert ("upper_arm", "forearm") not in pairs and ("wrist_3", "tool") not in pairs  # adjacent


def test_never_checked_pairs_keep_their_bound_on_random_configurations() -> None:
    rng = np.random.default_rng(3)
    q = rng.uniform(-np.pi, np.pi, (3000, 6))
    p0, p1 = capsule_endpoints(MODEL, link_frames_batch(q))
    r = np.array([c.radius_m for c in UR10E_CAPSULES])
    links = np.array([c.link for c in UR10E_CAPSULES])
    worst = np.inf
    for la, lb in NEVER_COLLIDING_LINKS:
        for a in np.flatnonzero(links == la):
            for b in np.flatnonzero(links == lb):
                d = segment_segment_distance(p0[:, a], p1[:, a], p0[:, b], p1[:, b]) - r[a] - r[b]
                worst = min(worst, float(d.min()))
    assert worst >= 0.0248 - 1e-9 > MAX_SELF_COLLISION_MARGIN_M


# ------------------------------------------------------------------------------------------- the guard


def test_the_probe_configuration_is_refused_with_the_elbow_under_the_table() -> None:
    # The premise: every check the guard had before passes at the probe.
    cfg = SafetyConfig()
    p_tcp = KIN.forward(Q_PROBE)[:3, 3]
    assert p_tcp[2] >= cfg.min_tcp_height_m and KIN.forward_flange(Q_PROBE)[2, 3] >= cfg.min_flange_height_m
    assert (p_tcp >= cfg.workspace_min_m).all() and (p_tcp <= cfg.workspace_max_m).all()
    g = guard()
    with pytest.raises(CollisionTableViolation, match=r"upper_arm's lowest point is -0\.39.*collision_table"):
        hold(g, Q_PROBE)
    assert g.rejections == {"collision_table": 1}
    hit = g.collision.first_hit(g.collision.clearances(link_frames_batch(Q_PROBE[None])))
    assert hit is not None and hit.kind == "collision_table" and hit.clearance_m < -0.39


def test_home_and_scripted_picks_over_the_whole_cube_area_pass() -> None:
    g = guard()
    hold(g, Q_HOME)
    planner = ScriptedPick()
    bin_c = np.array([0.55, -0.45, 0.05])
    for x, y in ((0.4, -0.15), (0.9, -0.15), (0.4, 0.5), (0.9, 0.5), (0.65, 0.2)):
        for yaw in (0.0, 0.5, -0.7):
            wps = planner.plan(np.array([x, y, 0.025]), yaw, bin_c, Q_HOME)
            qs = np.array([w.q_rad for w in wps])
            times = np.cumsum([max(w.duration_s, 2.0) for w in wps]) * 2.0  # inside the speed limits
            g.check_trajectory(Q_HOME, times, qs, np.zeros_like(qs))
            c = g.collision.clearances(link_frames_batch(qs))
            assert c.table[:, c.table_parts.index("tool")].min() == pytest.approx(0.010, abs=1e-3)
    assert g.rejections == {}


def test_a_keepout_box_refuses_the_tool_and_the_arm() -> None:
    # Around a cube at (0.65, 0.2): descending onto it puts the tool into the box.
    box = (0.6, 0.15, 0.0, 0.7, 0.25, 0.1)
    g = guard(keepout_boxes_m=box)
    approach, descend = ScriptedPick().plan(
        np.array([0.65, 0.2, 0.025]), 0.0, np.array([0.55, -0.45, 0.05]), Q_HOME
    )[:2]
    above, grasp = approach.q_rad, descend.q_rad
    hold(g, above)
    with pytest.raises(CollisionKeepoutViolation, match=r"the tool comes within 0\.0000 m of keep-out box 0"):
        g.check_trajectory(above, np.array([3.0]), grasp[None])
    # A shelf above the home pose's elbow: lifting the elbow into it is refused, naming the part.
    shelf = (-0.6, -0.2, 0.83, -0.1, 0.6, 1.5)
    g = guard(keepout_boxes_m=(*box, *shelf))
    hold(g, Q_HOME)
    up = Q_HOME.copy()
    up[1] += 0.3  # the shoulder lifts the elbow
    with pytest.raises(CollisionKeepoutViolation, match=r"the (upper_arm|elbow) .* keep-out box 1"):
        g.check_trajectory(Q_HOME, np.array([3.0]), up[None])
    assert g.rejections == {"collision_keepout": 1}


def test_folding_the_arm_onto_itself_is_a_self_collision() -> None:
    g = guard(workspace_min_m=(-1.5, -1.5, 0.0), workspace_max_m=(1.5, 1.5, 1.5))  # the TCP box aside
    folded = Q_HOME.copy()
    folded[2] += 0.5  # the elbow closes until the tool meets the upper arm
    with pytest.raises(SelfCollisionViolation, match=r"the upper_arm and the tool are -0\.0\d+ m apart"):
        g.check_trajectory(Q_HOME, np.array([30.0]), folded[None])
    wrist = Q_HOME.copy()
    wrist[4] -= 1.0  # wrist 2 swings the tool back into the forearm
    with pytest.raises(SelfCollisionViolation, match=r"the forearm and the tool"):
        g.check_trajectory(Q_HOME, np.array([30.0]), wrist[None])
    assert g.rejections == {"self_collision": 2}


def test_the_tool_axis_must_stay_inside_the_workspace_box() -> None:
    g = guard()
    q = Q_HOME.copy()
    q[3] += 0.8  # wrist 1 tilts the tool: the TCP stays inside, the finger tips leave through x_min = 0.15
    T_tcp = KIN.forward(q)
    tips = T_tcp[:3, 3] + 0.015 * T_tcp[:3, 2]
    assert T_tcp[0, 3] > 0.15 > tips[0]
    with pytest.raises(CollisionWorkspaceViolation, match=r"tool's axis \(flange to tip\) reaches 0\.00"):
        g.check_trajectory(Q_HOME, np.array([10.0]), q[None])
    q[3] = Q_HOME[3] + 0.6
    g.check_trajectory(Q_HOME, np.array([10.0]), q[None])


def test_an_arm_starting_in_collision_may_move_out_but_not_further_in() -> None:
    g = guard()
    out = Q_PROBE.copy()
    out[1] -= 0.2  # the shoulder lifts the elbow towards the table top
    deeper = Q_PROBE.copy()
    deeper[1] += 0.1
    g.check_trajectory(Q_PROBE, np.array([3.0]), out[None])  # first segment: no worse than the start
    with pytest.raises(CollisionTableViolation):
        g.check_trajectory(Q_PROBE, np.array([3.0]), deeper[None])
    assert g.stop_path_ok(Q_PROBE, 0.3, Q_PROBE, np.zeros(6))  # braking where it is stays possible


def test_disabling_safety_turns_the_collision_checks_off() -> None:
    g = guard(unsafe_disable_safety=True)
    hold(g, Q_PROBE)


def test_collision_codes() -> None:
    assert COLLISION_REJECTION_REASONS == (
        "collision_table",
        "collision_workspace",
        "collision_keepout",
        "self_collision",
    )
    for cls in (CollisionTableViolation, CollisionWorkspaceViolation, CollisionKeepoutViolation):
        assert issubclass(cls, SafetyViolation)
    assert SelfCollisionViolation.reason == "self_collision"


@pytest.mark.parametrize(
    ("flat", "match"),
    [
        ({"collision_table_margin_m": -0.01}, r"collision_table_margin_m must be a number in \[0, 1\]"),
        ({"collision_table_margin_m": 0.2}, r"collision_table_margin_m must be < 0\.1057"),
        ({"collision_tool_table_margin_m": float("nan")}, "collision_tool_table_margin_m must be a finite"),
        ({"collision_self_margin_m": 0.03}, r"collision_self_margin_m must be ≤ 0\.02"),
        ({"collision_keepout_margin_m": 2.0}, "collision_keepout_margin_m must be a number"),
        ({"keepout_boxes_m": [0.5, 0.5, 0.0, 0.7, 0.7]}, "keepout_boxes_m must be a flat list .* 5 values"),
        ({"keepout_boxes_m": [0.5, 0.5, 0.3, 0.7, 0.7, 0.2]}, r"keepout_boxes_m box 0 .* z 0\.3 ≥ 0\.2"),
        (
            {"keepout_boxes_m": [0.5, 0.5, 0, 0.7, 0.7, 1, -0.1, -0.1, 0.0, 0.1, 0.1, 0.05]},
            r"keepout_boxes_m box 1 .* robot's base column",
        ),
        ({"tool_half_width_m": [0.04, 0.0]}, r"tool_half_width_m must be 2 numbers in \(0, 1\]"),
        ({"tool_half_width_m": [0.04]}, "tool_half_width_m must have 2 entries"),
        ({"tool_tip_beyond_tcp_m": -0.1}, "tool_tip_beyond_tcp_m must be a number"),
    ],
)
def test_collision_config_errors_name_the_key(flat: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        SafetyConfig.from_flat(flat)


def test_keepout_boxes_from_the_flat_list() -> None:
    cfg = SafetyConfig.from_flat({"keepout_boxes_m": [0.5, 0.5, 0, 0.7, 0.7, 1, 1, 1, 1, 2, 2, 2]})
    assert Aabb.from_flat(cfg.keepout_boxes_m) == (
        Aabb((0.5, 0.5, 0.0), (0.7, 0.7, 1.0)),
        Aabb((1.0, 1.0, 1.0), (2.0, 2.0, 2.0)),
    )
    assert SafetyConfig().keepout_boxes_m == () and Aabb.from_flat(()) == ()


# ------------------------------------------------------------------------------------------- MuJoCo


def _f(values: Any) -> str:
    return " ".join(f"{float(v):.12g}" for v in values)


def _arm_mjcf(model: CollisionModel, keepouts: tuple[Aabb, ...]) -> str:
    """The model's capsules and tool box as MuJoCo geoms on the DH chain, with the sim's own table.

    Body ``j{i}`` turns with joint i (its frame: DH frame i−1 turned by q_i); its fixed child ``f{i}`` is
    DH frame i and carries link i's geoms, written in that frame exactly as the model stores them. The
    arm's geoms only collide with the world (the table box of the sim's scene, and the plane z = 0); the
    base, which stands on the table, collides with nothing; keep-out boxes are for distances only.
    """
    sim = mujoco.MjModel.from_xml_string(build_mjcf(SimConfig()))
    table = sim.geom("table")
    arm, off = 'contype="1" conaffinity="0"', 'contype="0" conaffinity="0"'

    def geoms(link: int, bits: str = arm) -> str:
        return "".join(
            f'<geom name="{c.name}" type="capsule" fromto="{_f(c.p0_m + c.p1_m)}" '
            f'size="{c.radius_m}" {bits}/>'
            for c in model.capsules
            if c.link == link
        )

    def rx(alpha: float) -> str:
        return _f((math.cos(alpha / 2), math.sin(alpha / 2), 0.0, 0.0))

    xml = [f'<body name="base" quat="0 0 0 1">{geoms(0, off)}']  # DH base = base_link turned π about z
    for i in range(6):
        pos = (0.0, 0.0, 0.0) if i == 0 else (UR10E_DH.a[i - 1], 0.0, UR10E_DH.d[i - 1])
        quat = rx(0.0 if i == 0 else UR10E_DH.alpha[i - 1])
        xml.append(
            f'<body name="j{i + 1}" pos="{_f(pos)}" quat="{quat}"><joint name="q{i + 1}" axis="0 0 1"/>'
        )
        dh_i = (UR10E_DH.a[i], 0.0, UR10E_DH.d[i])
        frame = f'<body name="f{i + 1}" pos="{_f(dh_i)}" quat="{rx(UR10E_DH.alpha[i])}">'
        frame += geoms(i + 1)
        if i == 5 and model.tool is not None:
            q = np.empty(4)
            mujoco.mju_mat2Quat(q, np.asarray(model.tool.axes, dtype=np.float64).ravel())
            frame += (
                f'<geom name="tool" type="box" pos="{_f(model.tool.center_m)}" quat="{_f(q)}" '
                f'size="{_f(model.tool.half_extents_m)}" {arm}/>'
            )
        xml.append(frame + "</body>")
    xml.append("</body>" * 7)
    boxes = "".join(
        f'<geom name="keepout{k}" type="box" pos="{_f(np.add(b.lo_m, b.hi_m) / 2)}" '
        f'size="{_f(np.subtract(b.hi_m, b.lo_m) / 2)}" {off}/>'
        for k, b in enumerate(keepouts)
    )
    world = 'contype="0" conaffinity="1"'
    return (
        '<mujoco><option><flag gravity="disable"/></option><worldbody>'
        f'<geom name="table" type="box" pos="{_f(table.pos)}" size="{_f(table.size)}" {world}/>'
        f'<geom name="plane" type="plane" size="5 5 0.1" {world}/>{boxes}{"".join(xml)}</worldbody></mujoco>'
    )


def _configurations(n_uniform: int, n_near: int, seed: int) -> np.ndarray:
    """Joint configurations inside the configured limits: uniform, then biased towards the table (a DH
    joint origin — plain FK, not the capsule model — within 0.25 m of the table plane)."""
    rng = np.random.default_rng(seed)
    lim = SafetyConfig().joint_limits_rad()
    uniform = rng.uniform(lim[:, 0], lim[:, 1], (n_uniform, 6))
    pool = rng.uniform(lim[:, 0], lim[:, 1], (12 * n_near, 6))
    z = link_frames_batch(pool)[:, 2:, 2, 3].min(axis=1)
    near = pool[np.abs(z) < 0.25][:n_near]
    assert len(near) == n_near
    return np.vstack([uniform, near])


@pytest.fixture(scope="module")
def mj() -> tuple[mujoco.MjModel, mujoco.MjData]:
    keepouts = (Aabb((0.5, 0.3, 0.0), (0.7, 0.5, 0.4)), Aabb((-0.6, -0.2, 0.8), (-0.1, 0.6, 1.5)))
    m = mujoco.MjModel.from_xml_string(_arm_mjcf(MODEL, keepouts))
    return m, mujoco.MjData(m)


def test_no_configuration_mujoco_puts_on_the_table_passes_the_guard(
    mj: tuple[mujoco.MjModel, mujoco.MjData], caplog: Any
) -> None:
    m, d = mj
    qs = _configurations(600, 600, seed=20250110)
    table = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_GEOM, "table")
    plane = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_GEOM, "plane")
    on_table, on_plane = np.zeros(len(qs), bool), np.zeros(len(qs), bool)
    for k, q in enumerate(qs):
        d.qpos[:] = q
        mujoco.mj_forward(m, d)
        for con in d.contact[: d.ncon]:
            world = {int(con.geom1), int(con.geom2)}
            on_table[k] |= table in world
            on_plane[k] |= plane in world
    n_contact = int(on_table.sum())
    assert n_contact >= 300, f"only {n_contact} of {len(qs)} configurations touch the table"

    g = guard()
    cfg = g.config
    old_checks_pass = 0
    with caplog.at_level(logging.ERROR):  # one warning per refusal otherwise
        for q in qs[on_table]:
            with pytest.raises(SafetyViolation):
                hold(g, q)
            p_tcp = KIN.forward(q)[:3, 3]
            old_checks_pass += bool(
                p_tcp[2] >= cfg.min_tcp_height_m
                and KIN.forward_flange(q)[2, 3] >= cfg.min_flange_height_m
                and (p_tcp >= cfg.workspace_min_m).all()
                and (p_tcp <= cfg.workspace_max_m).all()
            )
    assert sum(g.rejections.values()) == n_contact  # every one refused: 0 pass
    # The new check on its own refuses every one of them, including those the TCP/flange checks miss.
    clear = g.collision.clearances(link_frames_batch(qs[on_table]))
    assert (clear.table.min(axis=1) < 0.0).all()
    assert g.rejections.get("collision_table", 0) == old_checks_pass > 0
    # Against the infinite plane z = 0 the model and MuJoCo agree both ways (outside a 1 µm band).
    lowest = g.collision.clearances(link_frames_batch(qs)).table.min(axis=1)
    assert not (on_plane & (lowest > 1e-6)).any() and not (~on_plane & (lowest < -1e-6)).any()
    print(
        f"\n{n_contact}/{len(qs)} configurations in contact with the table ({n_contact / len(qs):.0%}), "
        f"{old_checks_pass} of them pass the TCP/flange/TCP-box checks; guard passes 0"
    )


def test_every_clearance_matches_mujoco_geom_distance(mj: tuple[mujoco.MjModel, mujoco.MjData]) -> None:
    m, d = mj
    keepouts = (Aabb((0.5, 0.3, 0.0), (0.7, 0.5, 0.4)), Aabb((-0.6, -0.2, 0.8), (-0.1, 0.6, 1.5)))
    checker = CollisionChecker(
        MODEL,
        table_margin_m=0.05,
        tool_table_margin_m=0.0,
        self_margin_m=0.01,
        keepout_margin_m=0.02,
        keepout_boxes=keepouts,
    )
    qs = _configurations(150, 150, seed=7)
    c = checker.clearances(link_frames_batch(qs))
    gid = {n: mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_GEOM, n) for n in MODEL.part_names}
    plane = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_GEOM, "plane")
    box = [mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_GEOM, f"keepout{k}") for k in range(len(keepouts))]
    mine, theirs = [], []
    for k, q in enumerate(qs):
        d.qpos[:] = q
        mujoco.mj_forward(m, d)
        for j, part in enumerate(c.table_parts):  # signed: MuJoCo reports penetration depth for a plane
            mine.append(c.table[k, j])
            theirs.append(mujoco.mj_geomDistance(m, d, gid[part], plane, 10.0, None))
        for j, (a, b) in enumerate(c.self_pair_names):
            mine.append(c.self_pairs[k, j])
            theirs.append(mujoco.mj_geomDistance(m, d, gid[a], gid[b], 10.0, None))
        for j, part in enumerate(MODEL.part_names):
            for b, geom in enumerate(box):
                mine.append(c.keepout[k, j, b])
                theirs.append(mujoco.mj_geomDistance(m, d, gid[part], geom, 10.0, None))
    mine_a, theirs_a = np.array(mine), np.array(theirs)
    apart = (mine_a > 1e-6) & (theirs_a > 1e-6)
    assert apart.sum() > 0.8 * len(mine_a)
    np.testing.assert_allclose(mine_a[apart], theirs_a[apart], atol=1e-9)
    # Overlaps: both say so (the depths differ in definition for boxes, not in sign).
    assert (
        not ((mine_a > 1e-6) & (theirs_a < -1e-6)).any() and not ((mine_a < -1e-6) & (theirs_a > 1e-6)).any()
    )
