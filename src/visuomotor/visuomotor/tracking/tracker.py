"""``HungarianTracker``: 3D multi-object tracking of localised detections.

Per frame: predict every track with the constant-velocity Kalman filter over the stamp difference;
build the (tracks × detections) cost — Mahalanobis negative log-likelihood or Euclidean distance —
with gating and class consistency; solve it with :func:`gated_assignment`; correct matched tracks,
age the others through the lifecycle, and start tentative tracks from unmatched detections.

Lifecycle: TENTATIVE → (``confirm_hits`` matches) CONFIRMED → (``lost_after_misses`` consecutive
misses) LOST → (matched again within ``lost_timeout_s`` of its last match) CONFIRMED with the same ID,
else deleted. A tentative track is deleted after ``tentative_max_misses`` consecutive misses.

Why the Mahalanobis cost carries ln|S|: a LOST track's covariance grows while it coasts, so its d² to
any nearby detection shrinks; d² alone would let it steal the detection of a well-localised neighbour
of the same class (DeepSORT meets the same problem with its matching cascade). The full Gaussian
negative log-likelihood d² + ln|S| prices that uncertainty in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from visuomotor.interfaces import Object3D, Track, TrackState
from visuomotor.tracking.assignment import gated_assignment
from visuomotor.tracking.config import TrackerConfig
from visuomotor.tracking.errors import TrackingError
from visuomotor.tracking.kalman import kf_initiate, kf_predict, kf_project, kf_update, mahalanobis_sq

__all__ = ["HungarianTracker", "TrackingError"]


@dataclass(slots=True)
class _TrackBook:
    """Bookkeeping of one live track; its Kalman state lives in the tracker's batched arrays."""

    track_id: int
    class_id: int
    class_name: str
    state: TrackState
    age: int
    hits: int
    misses: int
    score: float
    last_hit_ns: int


class HungarianTracker:
    """Tracks 3D objects of known classes with stable IDs.

    Args:
        config: tracker parameters (defaults when None).

    Example:
        >>> tracker = HungarianTracker()
        >>> tracks = tracker.update(result.objects, stamp_ns)  # doctest: +SKIP
    """

    def __init__(self, config: TrackerConfig | None = None) -> None:
        self.config = config if config is not None else TrackerConfig()
        self.reset()

    def reset(self) -> None:
        """Forget every track and the last stamp; IDs start again at 1."""
        self._x = np.zeros((0, 6))
        self._P = np.zeros((0, 6, 6))
        self._books: list[_TrackBook] = []
        self._next_id = 1
        self._last_stamp_ns: int | None = None
        self._tracks: tuple[Track, ...] = ()

    @property
    def tracks(self) -> tuple[Track, ...]:
        """The live tracks after the last :meth:`update`, by ascending ID."""
        return self._tracks

    def update(self, objects: Sequence[Object3D], stamp_ns: int) -> tuple[Track, ...]:
        """Advance to ``stamp_ns`` and fold in one frame's localised objects.

        Args:
            objects: this frame's detections lifted to 3D, all in ``config.frame_id``.
            stamp_ns: the source camera stamp of the frame, nanoseconds (non-decreasing).

        Returns:
            Every live track (TENTATIVE, CONFIRMED and LOST) by ascending ID; filter on ``state``.
            LOST tracks report their predicted position.

        Raises:
            TrackingError: the stamp is older than the previous one (call :meth:`reset` when a replay
                restarts), an object is not in ``config.frame_id`` or its position is not finite; the
                tracker is left unchanged.
        """
        cfg = self.config
        stamp_ns = int(stamp_ns)
        if self._last_stamp_ns is not None and stamp_ns < self._last_stamp_ns:
            raise TrackingError(
                f"tracker: stamp {stamp_ns} ns is {(self._last_stamp_ns - stamp_ns) * 1e-9:.3f} s older than "
                "the previous frame; call reset() when a replay restarts"
            )
        for obj in objects:
            if obj.frame_id != cfg.frame_id:
                raise TrackingError(
                    f"tracker: object {obj.class_name!r} is in frame {obj.frame_id!r} but the tracker runs "
                    f"in {cfg.frame_id!r}; localise into {cfg.frame_id!r} (LocaliserConfig.target_frame)"
                )
        z = np.array([o.position_m for o in objects], dtype=np.float64).reshape(-1, 3)
        if not np.isfinite(z).all():
            bad = next(o for o, row in zip(objects, z, strict=True) if not np.isfinite(row).all())
            raise TrackingError(
                f"tracker: object {bad.class_name!r} has a non-finite position {bad.position_m}"
            )
        # Validated: from here on the state changes.
        dt_s = 0.0 if self._last_stamp_ns is None else (stamp_ns - self._last_stamp_ns) * 1e-9
        self._last_stamp_ns = stamp_ns
        if self._books and dt_s > 0.0:
            self._x, self._P = kf_predict(self._x, self._P, dt_s, cfg.process_accel_std_m_s2)

        matches = np.empty((0, 2), dtype=np.int64)
        unmatched_dets = np.arange(len(objects))
        if self._books and objects:
            assignment = gated_assignment(self._cost(objects, z))
            matches, unmatched_dets = assignment.matches, assignment.unmatched_cols

        matched = np.zeros(len(self._books), dtype=bool)
        if matches.size:
            rows, cols = matches[:, 0], matches[:, 1]
            self._x[rows], self._P[rows] = kf_update(
                self._x[rows], self._P[rows], z[cols], cfg.measurement_std_m
            )
            matched[rows] = True
            for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
                self._on_hit(self._books[r], objects[c].score, stamp_ns)
        keep = np.ones(len(self._books), dtype=bool)
        for i in np.flatnonzero(~matched).tolist():
            keep[i] = self._on_miss(self._books[i], stamp_ns)
        for book in self._books:
            book.age += 1
        if not keep.all():
            self._x, self._P = self._x[keep], self._P[keep]
            self._books = [b for b, k in zip(self._books, keep.tolist(), strict=True) if k]
        if unmatched_dets.size:
            self._birth([objects[j] for j in unmatched_dets.tolist()], z[unmatched_dets], stamp_ns)
        self._tracks = self._snapshot()
        return self._tracks

    # ------------------------------------------------------------------ internals

    def _cost(self, objects: Sequence[Object3D], z: np.ndarray) -> np.ndarray:
        """(tracks, detections) cost with ``inf`` on gated and cross-class pairs."""
        cfg = self.config
        z_pred, S = kf_project(self._x, self._P, cfg.measurement_std_m)
        dist = np.linalg.norm(z[None, :, :] - z_pred[:, None, :], axis=2)
        track_cls = np.array([b.class_id for b in self._books])
        det_cls = np.array([o.class_id for o in objects])
        allowed = (track_cls[:, None] == det_cls[None, :]) & (dist <= cfg.gate_distance_m)
        if cfg.cost_metric == "euclidean":
            cost = dist
        else:
            d2 = mahalanobis_sq(z_pred, S, z)
            allowed &= d2 <= cfg.gate_mahalanobis_sq
            cost = d2 + np.linalg.slogdet(S)[1][:, None]
        return np.where(allowed, cost, np.inf)

    def _on_hit(self, book: _TrackBook, score: float, stamp_ns: int) -> None:
        book.hits += 1
        book.misses = 0
        book.score = float(score)
        book.last_hit_ns = stamp_ns
        if book.state is TrackState.LOST or (
            book.state is TrackState.TENTATIVE and book.hits >= self.config.confirm_hits
        ):
            book.state = TrackState.CONFIRMED

    def _on_miss(self, book: _TrackBook, stamp_ns: int) -> bool:
        """Age an unmatched track; False when it must be deleted."""
        cfg = self.config
        book.misses += 1
        if book.state is TrackState.TENTATIVE:
            return book.misses < cfg.tentative_max_misses
        if book.state is TrackState.CONFIRMED and book.misses >= cfg.lost_after_misses:
            book.state = TrackState.LOST
        if book.state is TrackState.LOST:
            return (stamp_ns - book.last_hit_ns) * 1e-9 <= cfg.lost_timeout_s
        return True

    def _birth(self, objects: list[Object3D], z: np.ndarray, stamp_ns: int) -> None:
        cfg = self.config
        x, P = kf_initiate(z, cfg.measurement_std_m, cfg.initial_velocity_std_m_s)
        self._x = np.concatenate([self._x, x])
        self._P = np.concatenate([self._P, P])
        state = TrackState.CONFIRMED if cfg.confirm_hits <= 1 else TrackState.TENTATIVE
        for obj in objects:
            self._books.append(
                _TrackBook(
                    self._next_id, obj.class_id, obj.class_name, state, 1, 1, 0, float(obj.score), stamp_ns
                )
            )
            self._next_id += 1

    def _snapshot(self) -> tuple[Track, ...]:
        frame = self.config.frame_id
        pos, vel = self._x[:, :3].tolist(), self._x[:, 3:].tolist()
        return tuple(
            Track(
                b.track_id,
                b.class_id,
                b.class_name,
                (p[0], p[1], p[2]),
                (v[0], v[1], v[2]),
                b.state,
                b.age,
                b.hits,
                b.misses,
                b.score,
                frame,
            )
            for b, p, v in zip(self._books, pos, vel, strict=True)
        )
