"""Which tracks feed the policy's observation: the target cube and the bin (``PolicyConfig`` selection).

``TargetSelector`` picks a target once per episode and then sticks to its track id while the tracker keeps
it (a cube in the gripper is often occluded: its track goes LOST and coasts, which is what the policy
needs). Choice, in order: ``target_track_id`` if ≥ 0; else confirmed tracks of ``target_class`` (any cube
class for ``any``) not already in the bin, nearest to the TCP. The bin is the confirmed (else any)
``bin_class`` track with the most hits. All positions in base_link.

``GraspedTarget`` gives the observation's target position for a cube that lies still; ``MovingTarget``
(the conveyor task) adds the target's velocity and follows a hidden target along its fitted motion.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from visuomotor.interfaces import Track, TrackState
from visuomotor.policy.configuration import TARGET_CLASSES, PolicyConfig
from visuomotor.policy.latency import LinearMotionFit

__all__ = ["GraspedTarget", "MovingTarget", "TargetSelector"]

_CUBES = tuple(c for c in TARGET_CLASSES if c != "any")


class TargetSelector:
    """Sticky target/bin selection over tracker output.

    Args:
        config: ``target_class``, ``target_track_id``, ``bin_class``.
    """

    def __init__(self, config: PolicyConfig) -> None:
        self.config = config
        self.target_id: int | None = None

    def reset(self) -> None:
        """Forget the chosen target (new episode / new pick)."""
        self.target_id = None

    def update(
        self, tracks: Sequence[Track], p_base_link_tcp_m: np.ndarray
    ) -> tuple[Track | None, Track | None]:
        """(target track, bin track) for this frame; None where no suitable track exists (hold the arm).

        Args:
            tracks: the tracker's output, frame ``base_link``.
            p_base_link_tcp_m: (3,) current TCP position (nearest-cube choice).
        """
        by_id = {t.track_id: t for t in tracks}
        bins = [t for t in tracks if t.class_name == self.config.bin_class]
        bin_track = max(bins, key=lambda t: (t.state == TrackState.CONFIRMED, t.hits), default=None)
        target = by_id.get(self.target_id) if self.target_id is not None else None
        if target is None:
            placed = [] if bin_track is None else [t for t in tracks if self.in_bin(t, bin_track)]
            free = [t for t in tracks if t not in placed]
            target = self._choose(free, np.asarray(p_base_link_tcp_m, dtype=np.float64))
            self.target_id = None if target is None else target.track_id
        return target, bin_track

    def in_bin(self, track: Track, bin_track: Track) -> bool:
        """The track's centre lies over the bin's footprint (a placed cube)."""
        d = np.abs(np.subtract(track.position_m[:2], bin_track.position_m[:2]))
        return bool((d <= self.config.bin_half_size_m).all())

    def _choose(self, tracks: Sequence[Track], p_tcp: np.ndarray) -> Track | None:
        cfg = self.config
        if cfg.target_track_id >= 0:
            return next((t for t in tracks if t.track_id == cfg.target_track_id), None)
        classes = _CUBES if cfg.target_class == "any" else (cfg.target_class,)
        candidates = [t for t in tracks if t.class_name in classes and t.state == TrackState.CONFIRMED]
        if not candidates:
            return None
        return min(candidates, key=lambda t: float(np.linalg.norm(np.asarray(t.position_m) - p_tcp)))


class GraspedTarget:
    """The target's position for the observation: a grasped cube moves with the TCP; a hidden one stays put.

    Two things a track cannot know, kept here because no library does them for a track:

    - Grasped: a cube between the fingers is mostly hidden, so its track stops matching and coasts where
      the cube was picked up, while the policy was trained on the cube's true position — in the gripper.
      When the measured closure enters ``[grasp_closure_min, grasp_closure_max]`` with the target within
      ``grasp_radius_m`` of the TCP, the target counts as grasped: until the gripper opens, its position is
      the TCP's unless the tracker has a fresh match near the TCP (the "attached object" of planners).
    - Hidden: while the gripper hovers over a cube it hides it; the track coasts on its Kalman velocity
      (which occlusion-biased measurements make drift by centimetres) and is deleted after
      ``lost_timeout_s``, and with no target the arm would hold over the cube it hides — forever. Even
      fresh matches shift by 1–2 cm as the fingers cover part of the cube. A cube on a table does not
      move by itself, so its position is the last fresh match taken while the TCP was farther than
      ``occlusion_radius_m`` from it (the first sighting otherwise), for as long as fresh matches keep
      coming and ``target_memory_s`` after the last one.

    Args:
        config: the grasp band and radius, and the memory.
    """

    def __init__(self, config: PolicyConfig) -> None:
        self.config = config
        self.grasped = False
        self._was_closed = False
        self._seen: tuple[int, np.ndarray] | None = None  # (track id, position) of a clear view
        self._seen_ns = 0  # stamp of the target's last fresh match

    def reset(self) -> None:
        """Nothing grasped or remembered (new episode)."""
        self.grasped = False
        self._was_closed = False
        self._seen = None

    def position(
        self, target: Track | None, p_base_link_tcp_m: np.ndarray, gripper_closure: float, stamp_ns: int
    ) -> np.ndarray | None:
        """(3,) target position for the observation, or None (no target, nothing grasped or remembered).

        Args:
            target: the selected target track (None when there is none).
            p_base_link_tcp_m: (3,) current TCP position.
            gripper_closure: measured closure, 0 open … 1 closed.
            stamp_ns: the tracks' stamp (the memory's clock).
        """
        cfg = self.config
        p_tcp = np.asarray(p_base_link_tcp_m, dtype=np.float64)
        closed = cfg.grasp_closure_min <= gripper_closure <= cfg.grasp_closure_max
        p_track = None if target is None else np.asarray(target.position_m, dtype=np.float64)
        fresh = target is not None and target.misses == 0
        if fresh:
            clear = float(np.linalg.norm(p_track - p_tcp)) > cfg.occlusion_radius_m
            if clear or self._seen is None or self._seen[0] != target.track_id:
                self._seen = (target.track_id, p_track.copy())
            self._seen_ns = int(stamp_ns)
        remembered = None
        if self._seen is not None and (stamp_ns - self._seen_ns) * 1e-9 <= cfg.target_memory_s:
            remembered = self._seen[1]
        p_best = p_track if remembered is None else remembered
        near = p_best is not None and float(np.linalg.norm(p_best - p_tcp)) <= cfg.grasp_radius_m
        if closed and not self._was_closed:
            self.grasped = near
        if not closed:
            self.grasped = False
        self._was_closed = closed
        if self.grasped:
            return p_track if fresh and near else p_tcp.copy()
        return None if p_best is None else p_best.copy()


class MovingTarget(GraspedTarget):
    """The target's position AND velocity for the observation, for a target that moves (a conveyor).

    As :class:`GraspedTarget` for the grasp (a cube between the fingers is at the TCP), but a hidden cube
    does not stay put: it keeps moving with the belt. So:

    - clear view (a fresh match with the TCP farther than ``occlusion_radius_m``): the track's position
      and Kalman velocity; the position also feeds a constant-velocity fit
      (:class:`~visuomotor.policy.latency.LinearMotionFit`, ``motion_window_s``);
    - hidden or partly covered (no fresh match, or the TCP close): the fit, evaluated at the frame's
      stamp, for ``target_memory_s`` after the last clear view; then the track itself;
    - grasped: the TCP (or a fresh match near it), with the velocity held from before the grasp — the
      demos observe the belt's velocity for the whole episode, and so does the policy.

    The velocity of a grasped target stays that of the belt on purpose: the expert's labels during the
    close depend on it (the gripper keeps moving with the cube until the pads hold it).
    """

    def __init__(self, config: PolicyConfig) -> None:
        super().__init__(config)
        self._fit = LinearMotionFit(config.motion_window_s)
        self._fit_id: int | None = None
        self._v = np.zeros(3)

    def reset(self) -> None:
        """Nothing grasped, seen or fitted (new episode)."""
        super().reset()
        self._fit.reset()
        self._fit_id = None
        self._v = np.zeros(3)

    def state(
        self, target: Track | None, p_base_link_tcp_m: np.ndarray, gripper_closure: float, stamp_ns: int
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """((3,) position at ``stamp_ns``, (3,) velocity) of the target, or None (nothing known).

        Args: as :meth:`GraspedTarget.position`.
        """
        cfg = self.config
        p_tcp = np.asarray(p_base_link_tcp_m, dtype=np.float64)
        closed = cfg.grasp_closure_min <= gripper_closure <= cfg.grasp_closure_max
        fresh = target is not None and target.misses == 0
        p_track = None if target is None else np.asarray(target.position_m, dtype=np.float64)
        v_track = None if target is None else np.asarray(target.velocity_m_s, dtype=np.float64)
        if target is not None and target.track_id != self._fit_id:  # another cube: start afresh
            self._fit.reset()
            self._fit_id = target.track_id
        clear = fresh and float(np.linalg.norm(p_track - p_tcp)) > cfg.occlusion_radius_m
        best: tuple[np.ndarray, np.ndarray] | None = None
        if clear:
            self._fit.add(stamp_ns, p_track)
            self._seen_ns = int(stamp_ns)
            best = (p_track, v_track)
        else:
            last = self._fit.last_ns
            fitted = self._fit.estimate(stamp_ns)
            if fitted is not None and last is not None and (stamp_ns - last) * 1e-9 <= cfg.target_memory_s:
                best = fitted
            elif target is not None:
                best = (p_track, v_track)
        near = best is not None and float(np.linalg.norm(best[0] - p_tcp)) <= cfg.grasp_radius_m
        if closed and not self._was_closed:
            self.grasped = near
        if not closed:
            self.grasped = False
        self._was_closed = closed
        if self.grasped:
            p = p_track if fresh and float(np.linalg.norm(p_track - p_tcp)) <= cfg.grasp_radius_m else p_tcp
            return p.copy(), self._v.copy()
        if best is None:
            return None
        self._v = np.array(best[1], dtype=np.float64)
        return np.array(best[0], dtype=np.float64), self._v.copy()

    def position(
        self, target: Track | None, p_base_link_tcp_m: np.ndarray, gripper_closure: float, stamp_ns: int
    ) -> np.ndarray | None:
        """(3,) position only (see :meth:`state`)."""
        got = self.state(target, p_base_link_tcp_m, gripper_closure, stamp_ns)
        return None if got is None else got[0]
