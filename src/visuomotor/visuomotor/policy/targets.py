"""Which tracks feed the policy's observation: the target cube and the bin (``PolicyConfig`` selection).

``TargetSelector`` picks a target once per episode and then sticks to its track id while the tracker keeps
it (a cube in the gripper is often occluded: its track goes LOST and coasts, which is what the policy
needs). Choice, in order: ``target_track_id`` if ≥ 0; else confirmed tracks of ``target_class`` (any cube
class for ``any``), nearest to the TCP. The bin is the confirmed (else any) ``bin_class`` track with the
most hits. All positions in base_link.
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
        target = by_id.get(self.target_id) if self.target_id is not None else None
        if target is None:
            target = self._choose(tracks, np.asarray(p_base_link_tcp_m, dtype=np.float64))
            self.target_id = None if target is None else target.track_id
        bins = [t for t in tracks if t.class_name == self.config.bin_class]
        bin_track = max(bins, key=lambda t: (t.state == TrackState.CONFIRMED, t.hits), default=None)
        return target, bin_track

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
    """The target's position for the observation, aware that a grasped cube moves with the TCP.

    A cube between the fingers is mostly hidden, so its track stops matching and coasts where the cube
    was picked up (then is deleted), while the policy was trained on the cube's true position — in the
    gripper. When the measured closure enters ``[grasp_closure_min, grasp_closure_max]`` with the target
    within ``grasp_radius_m`` of the TCP, the target counts as grasped: until the gripper opens, its
    position is the TCP's unless the tracker has a fresh (confirmed) match near the TCP. This is the
    "attached object" of motion planners, kept here because no library does it for a track.

    Args:
        config: the grasp band and radius.
    """

    def __init__(self, config: PolicyConfig) -> None:
        self.config = config
        self.grasped = False
        self._was_closed = False

    def reset(self) -> None:
        """Nothing grasped (new episode)."""
        self.grasped = False
        self._was_closed = False

    def position(
        self, target: Track | None, p_base_link_tcp_m: np.ndarray, gripper_closure: float
    ) -> np.ndarray | None:
        """(3,) target position for the observation, or None (no target and nothing grasped).

        Args:
            target: the selected target track (None when there is none).
            p_base_link_tcp_m: (3,) current TCP position.
            gripper_closure: measured closure, 0 open … 1 closed.
        """
        cfg = self.config
        p_tcp = np.asarray(p_base_link_tcp_m, dtype=np.float64)
        closed = cfg.grasp_closure_min <= gripper_closure <= cfg.grasp_closure_max
        p_track = None if target is None else np.asarray(target.position_m, dtype=np.float64)
        near = p_track is not None and float(np.linalg.norm(p_track - p_tcp)) <= cfg.grasp_radius_m
        if closed and not self._was_closed:
            self.grasped = near
        if not closed:
            self.grasped = False
        self._was_closed = closed
        if self.grasped and not (near and target is not None and target.state == TrackState.CONFIRMED):
            return p_tcp.copy()
        return p_track
