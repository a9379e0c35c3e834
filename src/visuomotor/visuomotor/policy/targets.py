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

__all__ = ["TargetSelector"]

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
