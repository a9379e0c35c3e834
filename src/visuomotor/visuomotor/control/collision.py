"""Whole-arm collision model of the UR10e and the distance maths the safety guard checks it with.

The arm is a chain of capsules (a segment swept by a sphere) built from the published UR10e geometry, plus
the tool as an oriented box along the tool axis; :class:`CollisionChecker` measures, for many joint
configurations at once, every part's clearance to the table plane, to the walls of the workspace box, to
configurable keep-out boxes, and to the non-adjacent parts of the arm itself.

Frames: everything is in ``base_link`` (the URDF root; the table top is the plane z = 0), metres. A link's
geometry is written in its *hinge frame* — the DH frame i−1 turned by q_i about its z axis, i.e. the frame
the link turns with, whose z axis is joint i's axis and in which joint i+1 sits at (a_i, 0, d_i) (the sim
builds its bodies the same way) — and converted once, at import, into DH frame i, which
``Ur10eKinematics.link_frames_batch`` returns. Along a joint axis the UR10e's tubes are offset from the DH
line (the "shoulder/elbow offsets" below); every joint 2…4 axis is horizontal, so those offsets never
change a height, only the clearances between links.

Why the maths is written here, in numpy: no well-kept Python library computes capsule-vs-box distances
cheaply for a batch of configurations. FCL / coal (hpp-fcl) are C++ libraries with per-object Python calls
(tens of µs per pair and per pose update, hundreds of pairs per path), trimesh and scipy have no capsule or
box-distance queries, and MuJoCo's ``mj_geomDistance`` needs a compiled model (the runtime core may not
import mujoco). The three primitives below (segment–plane, segment–box, segment–segment) are closed form
and vectorised over every path sample at once; the tests compare each against dense brute-force sampling
and the whole model against MuJoCo's contacts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from visuomotor.kinematics import UR10E_DH

__all__ = [
    "NEVER_COLLIDING_LINKS",
    "TOOL_LINK",
    "UR10E_CAPSULES",
    "UR10E_ELBOW_OFFSET_M",
    "UR10E_SHOULDER_OFFSET_M",
    "Aabb",
    "Capsule",
    "Clearances",
    "CollisionChecker",
    "CollisionHit",
    "CollisionModel",
    "ToolBox",
    "box_aabb_distance",
    "capsule_endpoints",
    "segment_aabb_distance",
    "segment_obb_distance",
    "segment_plane_distance",
    "segment_segment_distance",
]

Vec3 = tuple[float, float, float]

#: The tool box counts as link 7 for adjacency (it is rigidly on link 6, the flange).
TOOL_LINK = 7

# --------------------------------------------------------------------------------------------------- maths


def segment_plane_distance(
    p0_m: np.ndarray, p1_m: np.ndarray, normal: Vec3 = (0.0, 0.0, 1.0), offset_m: float = 0.0
) -> np.ndarray:
    """Signed distance of segments from a plane: the lower endpoint's height (a segment is convex).

    Args:
        p0_m: (..., 3) first endpoints, metres.
        p1_m: (..., 3) second endpoints, metres.
        normal: unit normal of the plane {x : n·x = offset}; the positive side is "above".
        offset_m: the plane's offset along ``normal``, metres (the table top: n = +z, offset 0).

    Returns:
        (...,) min over the segment of n·x − offset, metres; negative when the segment crosses the plane.
    """
    n = np.asarray(normal, dtype=np.float64)
    return np.minimum(np.asarray(p0_m) @ n, np.asarray(p1_m) @ n) - offset_m


def _components(x: np.ndarray, ndim: int) -> np.ndarray:
    """(..., 3) → contiguous (3, ...), padded to ``ndim`` dimensions first: x, y, z on the leading axis.

    On small batches numpy's per-call overhead dominates: a sum over a trailing axis of length 3 costs
    ~10 µs, an operation on a transposed (strided) view ~5 µs, on a contiguous array ~1 µs. A path check
    runs a few hundred operations, so the maths works on contiguous component-first arrays.
    """
    a = np.asarray(x, dtype=np.float64)
    if a.ndim < ndim:
        a = a.reshape((1,) * (ndim - a.ndim) + a.shape)
    return np.ascontiguousarray(a.transpose((ndim - 1, *range(ndim - 1))))


def _sum3(w: np.ndarray) -> np.ndarray:
    return w[0] + w[1] + w[2]


def _clip01(x: np.ndarray) -> np.ndarray:
    return np.minimum(np.maximum(x, 0.0), 1.0)


def segment_aabb_distance(
    p0_m: np.ndarray, p1_m: np.ndarray, lo_m: np.ndarray, hi_m: np.ndarray
) -> np.ndarray:
    """Exact Euclidean distance between segments and axis-aligned boxes (0 when they touch or overlap).

    The squared distance g(t) = Σ_i max(0, lo_i − p_i(t), p_i(t) − hi_i)² along p(t) = p0 + t·(p1 − p0) is
    convex and piecewise quadratic in t ∈ [0, 1], with pieces split where a coordinate crosses a face
    plane (≤ 6 breakpoints). On each piece the set of violated faces is fixed, so its minimum is the
    stationary point of that quadratic clipped to the piece; the global minimum is the least of those.

    Args:
        p0_m: (..., 3) segment starts, metres (any frame, the same as the box's).
        p1_m: (..., 3) segment ends, metres.
        lo_m: (..., 3) box lower corners, metres (broadcast against the segments).
        hi_m: (..., 3) box upper corners, metres; ``hi ≥ lo``.

    Returns:
        (...,) distances, metres, ≥ 0.
    """
    nd = max(np.ndim(v) for v in (p0_m, p1_m, lo_m, hi_m))
    return _segment_aabb(*(_components(v, nd) for v in (p0_m, p1_m, lo_m, hi_m)))


def _segment_aabb(p0: np.ndarray, p1: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """``segment_aabb_distance`` on component-first (3, ...) arrays."""
    d = p1 - p0
    # An axis with d = 0 never crosses a face: its cuts collapse onto t = 0, a harmless extra boundary.
    inv = np.divide(1.0, d, out=np.zeros(d.shape), where=d != 0.0)
    shape = np.broadcast_shapes(p0.shape, d.shape, lo.shape, hi.shape)[1:]
    t = np.empty((8, *shape))  # piece boundaries: 0, 1 and the six face crossings, sorted
    t[0], t[1] = 0.0, 1.0
    t[2:5] = (lo - p0) * inv
    t[5:8] = (hi - p0) * inv
    np.minimum(np.maximum(t, 0.0, out=t), 1.0, out=t)
    t.sort(axis=0)
    t_a, t_b = t[:-1], t[1:]  # (7, ...) pieces
    P0, D, LO, HI = p0[:, None], d[:, None], lo[:, None], hi[:, None]  # (3, 1, ...)
    mid = P0 + (0.5 * (t_a + t_b)) * D  # (3, 7, ...)
    below = mid < LO
    d_act = D * (below | (mid > HI))  # the axes whose faces are violated on the piece
    num = _sum3(d_act * ((HI - P0) + (LO - HI) * below))
    den = _sum3(d_act * d_act)
    # den = 0 (then num = 0): inside the slab of every axis on this piece, g = 0 anywhere on it.
    t_star = np.minimum(np.maximum(num / np.maximum(den, 1e-300), t_a), t_b)
    p = P0 + t_star * D
    excess = np.maximum(np.maximum(LO - p, p - HI), 0.0)
    out: np.ndarray = np.sqrt(_sum3(excess * excess).min(axis=0))
    return out


def segment_obb_distance(
    p0_m: np.ndarray,
    p1_m: np.ndarray,
    center_m: np.ndarray,
    axes: np.ndarray,
    half_extents_m: np.ndarray,
) -> np.ndarray:
    """Exact distance between segments and oriented boxes: the segment-vs-AABB distance in the box's frame.

    Args:
        p0_m: (..., 3) segment starts, metres.
        p1_m: (..., 3) segment ends, metres.
        center_m: (..., 3) box centres, same frame, metres.
        axes: (..., 3, 3) box axes as columns (a rotation), same frame.
        half_extents_m: (..., 3) half side lengths along those axes, metres.

    Returns:
        (...,) distances, metres, ≥ 0.
    """
    c = np.asarray(center_m, dtype=np.float64)[..., None, :]
    A = np.asarray(axes, dtype=np.float64)
    h = np.asarray(half_extents_m, dtype=np.float64)
    a = ((np.asarray(p0_m)[..., None, :] - c) @ A)[..., 0, :]  # (p − c)ᵀ·A = coordinates along the axes
    b = ((np.asarray(p1_m)[..., None, :] - c) @ A)[..., 0, :]
    return segment_aabb_distance(a, b, -h, h)


def segment_segment_distance(
    p0_m: np.ndarray, p1_m: np.ndarray, q0_m: np.ndarray, q1_m: np.ndarray
) -> np.ndarray:
    """Exact distance between two sets of segments (closest points by clamped parameters).

    Minimises |p0 + s·u − q0 − t·v| over s, t ∈ [0, 1] (Ericson, *Real-Time Collision Detection* §5.1.9):
    the unconstrained s clamped to [0, 1], t from s, and s recomputed if t had to be clamped. Handles
    parallel and zero-length segments.

    Args:
        p0_m, p1_m: (..., 3) endpoints of the first segments, metres.
        q0_m, q1_m: (..., 3) endpoints of the second segments, metres.

    Returns:
        (...,) distances, metres, ≥ 0.
    """
    nd = max(np.ndim(v) for v in (p0_m, p1_m, q0_m, q1_m))
    return _segment_segment(*(_components(v, nd) for v in (p0_m, p1_m, q0_m, q1_m)))


def _segment_segment(p0: np.ndarray, p1: np.ndarray, q0: np.ndarray, q1: np.ndarray) -> np.ndarray:
    """``segment_segment_distance`` on component-first (3, ...) arrays."""
    u, v, r = p1 - p0, q1 - q0, p0 - q0
    a, e, b = _sum3(u * u), _sum3(v * v), _sum3(u * v)
    c, f = _sum3(u * r), _sum3(v * r)
    tiny = 1e-18
    a_s, e_s = np.maximum(a, tiny), np.maximum(e, tiny)
    denom = a * e - b * b
    general = denom > 1e-12 * a_s * e_s  # not parallel: the unconstrained s, clamped; parallel: s = 0
    s = _clip01((b * f - c * e) / np.maximum(denom, tiny)) * general
    t = _clip01((b * s + f) / e_s)  # the best t for that s, clamped
    # The best s for that t. Ericson recomputes it only when t was clamped; when it was not, (s, t) is
    # already the minimum and this returns an s at least as good, i.e. the same distance. A point
    # segment (a or e = 0, so b = 0 and c or f = 0) gets s = 0 or t = 0 and the other one exact.
    s = _clip01((b * t - c) / a_s)
    diff = r + s * u - t * v
    out: np.ndarray = np.sqrt(_sum3(diff * diff))
    return out


#: Corner index pairs of the 12 edges of a box whose corner k has signs ((k>>0)&1, (k>>1)&1, (k>>2)&1).
_BOX_EDGES = np.array(
    [(k, k | (1 << axis)) for axis in range(3) for k in range(8) if not k & (1 << axis)], dtype=np.intp
)
_CORNER_SIGNS = np.array([[1.0 if k >> i & 1 else -1.0 for i in range(3)] for k in range(8)])


def box_aabb_distance(
    center_m: np.ndarray, axes: np.ndarray, half_extents_m: np.ndarray, lo_m: np.ndarray, hi_m: np.ndarray
) -> np.ndarray:
    """Exact distance between oriented boxes and axis-aligned boxes (0 when they touch or overlap).

    For two convex polyhedra the closest pair of points can always be taken on an edge of one of them,
    and if they intersect an edge of one meets the other; so the distance is the least of the 12 edges of
    each box against the other box (segment–AABB and segment–OBB distances).

    Args:
        center_m: (..., 3) oriented-box centres, metres.
        axes: (..., 3, 3) its axes as columns.
        half_extents_m: (3,) or (..., 3) its half side lengths, metres.
        lo_m, hi_m: (..., 3) the axis-aligned boxes' corners, metres.

    Returns:
        (...,) distances, metres, ≥ 0.
    """
    c = np.asarray(center_m, dtype=np.float64)
    A = np.asarray(axes, dtype=np.float64)
    h = np.broadcast_to(np.asarray(half_extents_m, dtype=np.float64), c.shape)
    lo, hi = np.broadcast_arrays(np.asarray(lo_m, dtype=np.float64), np.asarray(hi_m, dtype=np.float64))
    corners = c[..., None, :] + ((_CORNER_SIGNS * h[..., None, :]) @ np.swapaxes(A, -1, -2))  # (..., 8, 3)
    e0, e1 = corners[..., _BOX_EDGES[:, 0], :], corners[..., _BOX_EDGES[:, 1], :]  # (..., 12, 3)
    d_obb_edges = segment_aabb_distance(e0, e1, lo[..., None, :], hi[..., None, :]).min(axis=-1)
    mid, half = 0.5 * (lo + hi), 0.5 * (hi - lo)
    aabb = mid[..., None, :] + _CORNER_SIGNS * half[..., None, :]
    f0, f1 = aabb[..., _BOX_EDGES[:, 0], :], aabb[..., _BOX_EDGES[:, 1], :]
    d_aabb_edges = segment_obb_distance(f0, f1, c[..., None, :], A[..., None, :, :], h[..., None, :]).min(
        axis=-1
    )
    return np.minimum(d_obb_edges, d_aabb_edges)


# --------------------------------------------------------------------------------------------------- model


@dataclass(frozen=True, slots=True)
class Capsule:
    """A capsule rigidly attached to one link: the points within ``radius_m`` of the segment p0–p1.

    Attributes:
        name: the part's name in messages (``upper_arm``, ``wrist_2``, …).
        link: the link it moves with: 0 = the base (fixed), i = 1…6 the link turned by joint i.
        p0_m: (3,) first endpoint in DH frame ``link`` (frame 0 = the DH ``base``), metres.
        p1_m: (3,) second endpoint in that frame, metres.
        radius_m: radius, metres, > 0.
    """

    name: str
    link: int
    p0_m: Vec3
    p1_m: Vec3
    radius_m: float

    def __post_init__(self) -> None:
        if not 0 <= self.link <= 6:
            raise ValueError(f"Capsule {self.name!r}: link must be 0…6, got {self.link}")
        if not (math.isfinite(self.radius_m) and self.radius_m > 0.0):
            raise ValueError(f"Capsule {self.name!r}: radius_m must be > 0, got {self.radius_m}")

    @classmethod
    def in_hinge_frame(cls, name: str, link: int, p0_m: Vec3, p1_m: Vec3, radius_m: float) -> Capsule:
        """A capsule written in link ``link``'s hinge frame (z = its joint axis; joint link+1 at (a, 0, d)).

        Link 0 has no joint: its hinge frame is the DH ``base`` frame itself.
        """
        if link == 0:
            return cls(name, 0, p0_m, p1_m, radius_m)
        i = link - 1
        a, d, alpha = UR10E_DH.a[i], UR10E_DH.d[i], UR10E_DH.alpha[i]
        # DH frame i = hinge · Tz(d) · Tx(a) · Rx(α)  ⇒  p_i = Rx(α)ᵀ · (p_hinge − (a, 0, d)).
        ca, sa = math.cos(alpha), math.sin(alpha)

        def to_frame(p: Vec3) -> Vec3:
            x, y, z = p[0] - a, p[1], p[2] - d
            return (x, ca * y + sa * z, -sa * y + ca * z)

        return cls(name, link, to_frame(p0_m), to_frame(p1_m), radius_m)


@dataclass(frozen=True, slots=True)
class ToolBox:
    """The tool (gripper) as a box rigidly on the flange, its long axis along the flange → TCP direction.

    Attributes:
        center_m: (3,) box centre in the flange frame (DH frame 6 = URDF ``tool0``), metres.
        axes: (3, 3) box axes as columns, in the flange frame (a rotation; the third is the tool axis).
        half_extents_m: (3,) half side lengths along those axes, metres.
    """

    center_m: Vec3
    axes: tuple[Vec3, Vec3, Vec3]
    half_extents_m: Vec3

    @classmethod
    def along_tool_axis(
        cls, T_flange_tcp: np.ndarray, half_width_m: tuple[float, float], tip_beyond_tcp_m: float
    ) -> ToolBox | None:
        """The box from the flange face to ``tip_beyond_tcp_m`` past the TCP, ``half_width_m`` across.

        Args:
            T_flange_tcp: (4, 4) TCP in the flange frame, metres (the guard's tool offset).
            half_width_m: half widths across the tool axis, along (the flange x, the flange y) as far as
                the tool axis allows (exactly those for a TCP on the flange z axis), metres.
            tip_beyond_tcp_m: how far the tool reaches past the TCP along the tool axis (finger tips
                below a TCP between the pads), metres, ≥ 0.

        Returns:
            The box, or None for a bare flange (TCP on the flange and nothing beyond it).
        """
        p = np.asarray(T_flange_tcp, dtype=np.float64)[:3, 3]
        length = float(np.linalg.norm(p)) + tip_beyond_tcp_m
        if length <= 1e-9:
            return None
        z = p / np.linalg.norm(p) if np.linalg.norm(p) > 1e-9 else np.array([0.0, 0.0, 1.0])
        x = np.array([1.0, 0.0, 0.0]) - z[0] * z
        if np.linalg.norm(x) < 1e-6:  # tool axis along flange x: take flange y as the second axis
            x = np.array([0.0, 1.0, 0.0]) - z[1] * z
        x /= np.linalg.norm(x)
        y = np.cross(z, x)
        c = 0.5 * length * z
        axes = tuple(tuple(float(v) for v in row) for row in np.stack([x, y, z], axis=1))
        return cls(
            (float(c[0]), float(c[1]), float(c[2])),
            axes,  # type: ignore[arg-type]
            (float(half_width_m[0]), float(half_width_m[1]), 0.5 * length),
        )


@dataclass(frozen=True, slots=True)
class Aabb:
    """An axis-aligned box in ``base_link`` (a keep-out zone, or the workspace), metres.

    Attributes:
        lo_m: (3,) lower corner (x, y, z).
        hi_m: (3,) upper corner; every component > the lower one.
    """

    lo_m: Vec3
    hi_m: Vec3

    @staticmethod
    def from_flat(values: tuple[float, ...] | list[float]) -> tuple[Aabb, ...]:
        """Boxes from a flat list of 6 numbers per box: (x_min, y_min, z_min, x_max, y_max, z_max), …"""
        v = [float(x) for x in values]
        return tuple(
            Aabb((v[k], v[k + 1], v[k + 2]), (v[k + 3], v[k + 4], v[k + 5])) for k in range(0, len(v), 6)
        )


_D1, _A2, _A3, _D4, _D5, _D6 = (
    UR10E_DH.d[0],
    UR10E_DH.a[1],
    UR10E_DH.a[2],
    UR10E_DH.d[3],
    UR10E_DH.d[4],
    UR10E_DH.d[5],
)
#: Offsets of the UR10e's tubes from the DH line along the (parallel, horizontal) joint 2/3 axes, towards
#: wrist 1 (ur_description, config/ur10e/physical_parameters.yaml: shoulder_offset, elbow_offset).
UR10E_SHOULDER_OFFSET_M = 0.1762
UR10E_ELBOW_OFFSET_M = 0.0393

#: The UR10e as capsules, written in hinge frames (z = the link's joint axis; see the module docstring).
#: Lengths and joint positions are the published DH parameters (d1, a2, a3, d4, d5, d6), the tube offsets
#: those above. Radii follow the arm's outline: 0.075 m for the base column, the shoulder housing and the
#: upper arm (ur_description's UR10e link radius), 0.06 m for the elbow housing and the slimmer forearm,
#: 0.05 m for the wrist 1/2 housings and 0.045 m for wrist 3 (ur_description's; its tip at the flange face).
UR10E_CAPSULES: tuple[Capsule, ...] = (
    # Joint-1 column from the mounting face to the shoulder axis (bolted to the table: no table check).
    Capsule.in_hinge_frame("base", 0, (0.0, 0.0, 0.0), (0.0, 0.0, _D1), 0.075),
    # Joint-2 housing along the shoulder axis (hinge-1 −y) out to the upper arm tube.
    Capsule.in_hinge_frame("shoulder", 1, (0.0, 0.0, _D1), (0.0, -UR10E_SHOULDER_OFFSET_M, _D1), 0.075),
    Capsule.in_hinge_frame(
        "upper_arm", 2, (0.0, 0.0, UR10E_SHOULDER_OFFSET_M), (_A2, 0.0, UR10E_SHOULDER_OFFSET_M), 0.075
    ),
    # Joint-3 housing along the elbow axis from the upper arm tube across to the forearm tube.
    Capsule.in_hinge_frame(
        "elbow", 2, (_A2, 0.0, UR10E_SHOULDER_OFFSET_M), (_A2, 0.0, UR10E_ELBOW_OFFSET_M), 0.06
    ),
    Capsule.in_hinge_frame(
        "forearm", 3, (0.0, 0.0, UR10E_ELBOW_OFFSET_M), (_A3, 0.0, UR10E_ELBOW_OFFSET_M), 0.06
    ),
    # Wrist-1 housing along its axis from the forearm tube to the wrist-2 axis (d4 out).
    Capsule.in_hinge_frame("wrist_1", 4, (0.0, 0.0, UR10E_ELBOW_OFFSET_M), (0.0, 0.0, _D4), 0.05),
    Capsule.in_hinge_frame("wrist_2", 5, (0.0, 0.0, 0.0), (0.0, 0.0, _D5), 0.05),
    Capsule.in_hinge_frame("wrist_3", 6, (0.0, 0.0, 0.0), (0.0, 0.0, _D6 - 0.045), 0.045),
)

#: Link pairs (≥ 2 apart in the chain) that cannot touch by construction, so they are not checked: their
#: parts lie in parallel planes (or around parallel axes) a fixed distance apart. base–upper arm: the upper
#: arm and elbow stay ≥ 0.176 m from the vertical base axis along the horizontal shoulder axis (clearance
#: ≥ 0.026 m); forearm–wrist 2: planes 0.039 and 0.174 m out along the parallel joint 3/4 axes (≥ 0.025 m);
#: wrist 1–wrist 3: planes d5 = 0.120 m apart along the wrist-2 axis (≥ 0.025 m). The unit tests check
#: these bounds on random configurations; a self-collision margin must stay below them.
NEVER_COLLIDING_LINKS: tuple[tuple[int, int], ...] = ((0, 2), (3, 5), (4, 6))


@dataclass(frozen=True, slots=True)
class CollisionModel:
    """The arm's capsules, the tool box and which pairs of parts are checked against each other.

    Attributes:
        capsules: the link capsules (``UR10E_CAPSULES``).
        tool: the tool box on the flange, or None (bare flange).
        skip_links: link pairs never checked for self-collision besides adjacent ones (tool = link 7).
    """

    capsules: tuple[Capsule, ...] = UR10E_CAPSULES
    tool: ToolBox | None = None
    skip_links: tuple[tuple[int, int], ...] = NEVER_COLLIDING_LINKS

    @property
    def part_names(self) -> tuple[str, ...]:
        """Capsule names in order, then ``tool`` if there is one."""
        return tuple(c.name for c in self.capsules) + (("tool",) if self.tool is not None else ())

    def self_pairs(self) -> tuple[tuple[int, int], ...]:
        """Index pairs into ``part_names`` checked for self-collision: links ≥ 2 apart, not skipped."""
        links = [c.link for c in self.capsules] + ([TOOL_LINK] if self.tool is not None else [])
        skip = {tuple(sorted(p)) for p in self.skip_links}
        return tuple(
            (i, j)
            for i in range(len(links))
            for j in range(i + 1, len(links))
            if abs(links[i] - links[j]) >= 2
            and (min(links[i], links[j]), max(links[i], links[j])) not in skip
        )


def capsule_endpoints(model: CollisionModel, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """World endpoints of every capsule for a batch of link frames.

    Args:
        model: the collision model.
        frames: (m, 7, 4, 4) ``T_base_link_frame_i`` (``Ur10eKinematics.link_frames_batch``).

    Returns:
        (p0, p1), each (m, n_capsules, 3) in ``base_link``, metres.
    """
    link = np.array([c.link for c in model.capsules])
    T = frames[:, link]  # (m, C, 4, 4)
    R, t = T[:, :, :3, :3], T[:, :, :3, 3]
    P0 = np.array([c.p0_m for c in model.capsules])
    P1 = np.array([c.p1_m for c in model.capsules])
    return (R @ P0[..., None])[..., 0] + t, (R @ P1[..., None])[..., 0] + t


# --------------------------------------------------------------------------------------------------- checks


@dataclass(frozen=True, slots=True)
class Clearances:
    """Clearances (surface to surface, metres; negative = penetrating) of a batch of m configurations.

    Each array has one row per configuration; ``*_parts`` name the columns.

    Attributes:
        table: (m, k) height of each checked part's lowest point above the table plane (z = 0).
        table_parts: names of those k parts.
        workspace: (m, w) distance of each checked part (the tool: its axis) to the nearest workspace wall,
            inside (< 0 outside).
        workspace_parts: names of those w parts.
        keepout: (m, n_parts, n_boxes) distance of each part to each keep-out box (0 when touching).
        self_pairs: (m, n_pairs) distance between the two parts of each checked pair.
        self_pair_names: ``(part_a, part_b)`` for each pair.
    """

    table: np.ndarray
    table_parts: tuple[str, ...]
    workspace: np.ndarray
    workspace_parts: tuple[str, ...]
    keepout: np.ndarray
    self_pairs: np.ndarray
    self_pair_names: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class CollisionHit:
    """The first clearance below its limit.

    Attributes:
        kind: ``collision_table``, ``collision_workspace``, ``collision_keepout`` or ``self_collision``.
        sample: index of the configuration in the batch.
        part: the part (``forearm``, ``tool``, …).
        other: what it comes too close to (``table``, ``workspace box``, ``keep-out box 0``, a part).
        clearance_m: its clearance there, metres.
        limit_m: the clearance required, metres.
    """

    kind: str
    sample: int
    part: str
    other: str
    clearance_m: float
    limit_m: float


class CollisionChecker:
    """Clearances of the whole arm for batches of link frames, and the first one below its margin.

    Which part is checked against what (``base_link``, table top z = 0):

    - table plane: every moving part (shoulder … wrist 3, tool); the base is bolted to the table. Arm
      links keep ``table_margin_m``, the tool ``tool_table_margin_m`` (its finger tips go down to the
      objects it picks, so it gets its own, smaller margin).
    - workspace box: the parts named in ``workspace_parts`` (default: the tool) stay inside it. The box is
      a TCP box — where the end effector works; the guard keeps the TCP in it and lets the TCP go right
      up to its walls — so for the tool it bounds the tool's *axis*, from the flange face to the tip
      (the flange, the TCP and the finger tips), not its width: the walls do not move in by the tool's
      half-width. Capsules named there must be inside entirely (radius included). By default no link is:
      the base stands at the origin, outside the box; the shoulder, upper arm, elbow and forearm swing
      above, behind and beside it in normal poses; the wrist housings ride 0.2–0.35 m above a
      downward-pointing TCP, so the box's ceiling (a TCP height limit, not a wall) would cap the TCP
      ~0.3 m lower, and wrist 1/2 leave the default box sideways when the TCP picks at the far corners
      of the cube area. Physical walls around the arm are keep-out boxes; the table, the keep-out boxes
      and the self-collision pairs bound every part.
    - keep-out boxes: every part, with ``keepout_margin_m``.
    - self: the pairs of ``CollisionModel.self_pairs``, with ``self_margin_m``.

    Stateless after construction; safe to share between threads.

    Args:
        model: the arm and tool geometry.
        table_margin_m: clearance the arm links keep from the table plane, metres.
        tool_table_margin_m: clearance the tool box keeps from the table plane, metres.
        self_margin_m: clearance between checked pairs of parts, metres.
        keepout_margin_m: clearance from every keep-out box, metres.
        keepout_boxes: the keep-out boxes, ``base_link``.
        workspace: the workspace box, ``base_link``, or None for no workspace check.
        workspace_parts: names of the parts that must stay inside ``workspace``.

    Raises:
        ValueError: ``workspace_parts`` names a part the model does not have.
    """

    def __init__(
        self,
        model: CollisionModel,
        *,
        table_margin_m: float,
        tool_table_margin_m: float,
        self_margin_m: float,
        keepout_margin_m: float,
        keepout_boxes: tuple[Aabb, ...] = (),
        workspace: Aabb | None = None,
        workspace_parts: tuple[str, ...] = ("tool",),
    ) -> None:
        names = model.part_names
        unknown = [p for p in workspace_parts if p not in names]
        if unknown:
            raise ValueError(f"workspace_parts {unknown} are not parts of the model {names}")
        self.model = model
        self.keepout_boxes = tuple(keepout_boxes)
        self.workspace = workspace
        caps = model.capsules
        self._names = names
        self._radii = np.array([c.radius_m for c in caps])
        self._link = np.array([c.link for c in caps], dtype=np.intp)
        # Homogeneous endpoints in the link frames, (C, 4, 2): column 0 = p0, column 1 = p1.
        self._ends = np.stack(
            [np.array([(*c.p0_m, 1.0) for c in caps]), np.array([(*c.p1_m, 1.0) for c in caps])], axis=-1
        )
        self._tool = model.tool
        if self._tool is not None:
            self._tool_c = np.array(self._tool.center_m)
            self._tool_A = np.array(self._tool.axes)
            self._tool_h = np.array(self._tool.half_extents_m)
        self._table_idx = np.array([i for i, c in enumerate(caps) if c.link >= 1], dtype=np.intp)
        self._table_parts = tuple(names[i] for i in self._table_idx) + (("tool",) if self._tool else ())
        self._table_limit = np.array(
            [table_margin_m] * len(self._table_idx) + ([tool_table_margin_m] if self._tool else [])
        )
        self._ws_idx = np.array([i for i, c in enumerate(caps) if c.name in workspace_parts], dtype=np.intp)
        self._ws_tool = self._tool is not None and "tool" in workspace_parts
        self._ws_parts = tuple(names[i] for i in self._ws_idx) + (("tool",) if self._ws_tool else ())
        if workspace is not None:
            self._ws_lo, self._ws_hi = np.array(workspace.lo_m), np.array(workspace.hi_m)
        n_caps = len(caps)
        pairs = model.self_pairs()
        self._pairs_cc = np.array([p for p in pairs if p[1] < n_caps], dtype=np.intp).reshape(-1, 2)
        self._pairs_ct = np.array([p[0] for p in pairs if p[1] == n_caps], dtype=np.intp)
        self._self_names = tuple((names[i], names[j]) for i, j in self._pairs_cc) + tuple(
            (names[i], "tool") for i in self._pairs_ct
        )
        self._ko_lo = np.array([b.lo_m for b in self.keepout_boxes]).reshape(-1, 3)
        self._ko_hi = np.array([b.hi_m for b in self.keepout_boxes]).reshape(-1, 3)
        self._ko_names = tuple(f"keep-out box {k}" for k in range(len(self.keepout_boxes)))
        self._self_margin = float(self_margin_m)
        self._keepout_margin = float(keepout_margin_m)

    @property
    def self_pair_names(self) -> tuple[tuple[str, str], ...]:
        """The checked self-collision pairs, by part name, in ``Clearances.self_pairs`` column order."""
        return self._self_names

    def clearances(self, frames: np.ndarray) -> Clearances:
        """Every clearance for a batch of configurations.

        Args:
            frames: (m, 7, 4, 4) link frames in ``base_link`` (``Ur10eKinematics.link_frames_batch``).

        Returns:
            The clearances, metres.
        """
        m = frames.shape[0]
        ends = frames[:, self._link] @ self._ends  # (m, C, 4, 2) world endpoints, homogeneous
        W = np.ascontiguousarray(
            ends[:, :, :3].transpose(2, 3, 0, 1)
        )  # (3, 2, m, C): xyz, end, sample, capsule
        p0, p1 = W[:, 0], W[:, 1]  # (3, m, C)
        r = self._radii
        tool = self._tool is not None
        if tool:
            F = frames[:, 6]
            tc = F[:, :3, :3] @ self._tool_c + F[:, :3, 3]  # (m, 3) tool box centre
            tA = F[:, :3, :3] @ self._tool_A  # (m, 3, 3) its axes (columns)
            t_ext = np.abs(tA) @ self._tool_h  # (m, 3) half extents of its bounding AABB
        # Table plane z = 0: a capsule's lowest point is its lower endpoint minus the radius.
        i = self._table_idx
        table = np.minimum(p0[2][:, i], p1[2][:, i]) - r[i]
        if tool:
            table = np.concatenate([table, (tc[:, 2] - t_ext[:, 2])[:, None]], axis=1)
        # Workspace: a convex part is inside a box iff its extreme points are (a capsule: both endpoints a
        # radius inside every wall; the tool's axis: both its ends).
        ws = np.zeros((m, 0))
        if self.workspace is not None:
            lo, hi = self._ws_lo[:, None, None], self._ws_hi[:, None, None]
            cols = []
            k = self._ws_idx
            if k.size:
                a, b = p0[:, :, k], p1[:, :, k]
                inner = np.minimum(np.minimum(a - lo, hi - a), np.minimum(b - lo, hi - b))
                cols.append(np.minimum(np.minimum(inner[0], inner[1]), inner[2]) - r[k])
            if tool and self._ws_tool:  # the tool's axis: centre ± half length along its third axis
                half = tA[:, :, 2] * self._tool_h[2]
                a, b = tc - half, tc + half
                inner = np.minimum(
                    np.minimum(a - self._ws_lo, self._ws_hi - a), np.minimum(b - self._ws_lo, self._ws_hi - b)
                )
                cols.append(np.minimum(np.minimum(inner[:, 0], inner[:, 1]), inner[:, 2])[:, None])
            if cols:
                ws = np.concatenate(cols, axis=1)
        # Keep-out boxes: every part against every box.
        n_box = len(self.keepout_boxes)
        keepout = np.zeros((m, len(self._names), n_box))
        if n_box:
            lo, hi = self._ko_lo.T[:, None, None], self._ko_hi.T[:, None, None]  # (3, 1, 1, B)
            keepout[:, : len(r)] = _segment_aabb(p0[..., None], p1[..., None], lo, hi) - r[:, None]
            if tool:
                keepout[:, -1] = box_aabb_distance(
                    tc[:, None], tA[:, None], self._tool_h, self._ko_lo, self._ko_hi
                )
        # Self-collision: capsule pairs, then capsules against the tool box (in the box's frame).
        cols = []
        if len(self._pairs_cc):
            a, b = self._pairs_cc[:, 0], self._pairs_cc[:, 1]
            cols.append(_segment_segment(p0[:, :, a], p1[:, :, a], p0[:, :, b], p1[:, :, b]) - r[a] - r[b])
        if tool and len(self._pairs_ct):
            k = self._pairs_ct
            rel = ends[:, k, :3] - tc[:, None, :, None]  # (m, K, 3, 2)
            local = np.swapaxes(tA, -1, -2)[:, None] @ rel  # coordinates along the box axes
            L = np.ascontiguousarray(local.transpose(2, 3, 0, 1))  # (3, 2, m, K)
            h = self._tool_h[:, None, None]
            cols.append(_segment_aabb(L[:, 0], L[:, 1], -h, h) - r[k])
        self_d = np.concatenate(cols, axis=1) if cols else np.zeros((m, 0))
        return Clearances(table, self._table_parts, ws, self._ws_parts, keepout, self_d, self._self_names)

    def first_hit(self, c: Clearances, relax_rows: np.ndarray | None = None) -> CollisionHit | None:
        """The first clearance below its limit, in the order table, workspace, keep-out, self.

        Args:
            c: clearances of a batch (``clearances``).
            relax_rows: (m,) bool: rows whose limits drop to row 0's clearance where that is smaller ("no
                worse than the start": an arm that starts too close may still be commanded away).

        Returns:
            Of the first kind with an offender, the deepest one (it tells how far the path goes in, not
            just that it does); None when everything clears.
        """
        checks: tuple[tuple[str, np.ndarray, object, tuple[object, ...]], ...] = (
            ("collision_table", c.table, self._table_limit, c.table_parts),
            ("collision_workspace", c.workspace, 0.0, c.workspace_parts),
            ("collision_keepout", c.keepout, self._keepout_margin, self._names),
            ("self_collision", c.self_pairs, self._self_margin, c.self_pair_names),
        )
        for kind, values, limit, parts in checks:
            if values.size == 0 or not (values < np.asarray(limit) - 1e-12).any():
                continue  # the common case, in two operations: everything clears the strict limit
            lim = np.broadcast_to(np.asarray(limit, dtype=np.float64), values.shape)
            if relax_rows is not None and relax_rows.any():
                lim = np.where(
                    relax_rows.reshape((-1,) + (1,) * (values.ndim - 1)), np.minimum(lim, values[0]), lim
                )
            short = lim - values  # > 0: closer than allowed
            if not (short > 1e-12).any():
                continue
            where = np.unravel_index(int(np.argmax(short)), values.shape)
            part: object = parts[where[1]]
            if kind == "self_collision":
                part, other = part  # type: ignore[misc]
            elif kind == "collision_keepout":
                other = self._ko_names[where[2]]
            else:
                other = "table" if kind == "collision_table" else "workspace box"
            return CollisionHit(
                kind, int(where[0]), str(part), str(other), float(values[where]), float(lim[where])
            )
        return None
