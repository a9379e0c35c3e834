"""Which tracks feed the policy's observation: the target cube and the bin (``PolicyConfig`` selection).

``TargetSelector`` picks a target once per episode and then sticks to its track id while the tracker keeps
it (a cube in the gripper is often occluded: its track goes LOST and coasts, which is what the policy
needs). Choice, in order: ``target_track_id`` if ≥ 0; else confirmed tracks of ``target_class`` (any cube
class for ``any``) not already in the bin, nearest to the TCP. The bin is the confirmed (else any)
``bin_class`` track with the most hits. All positions in base_link.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from visuomotor.interfaces import Track, TrackState
from visuomotor.policy.configuration import TARGET_CLASSES, PolicyConfig

__all__ = ["GraspedTarget", "TargetSelector"]

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
