"""The measured joint state: validated once at the boundary, velocity measured or estimated, never assumed.

Every safety decision starts from the measured joints, so what reaches the commander must be what the arm
really did. :func:`joint_state_from_arrays` turns the fields of a ``sensor_msgs/JointState`` into a
:class:`JointStateSample` or raises :class:`~visuomotor.control.InvalidJointState` naming the problem
(wrong lengths, missing or duplicate names, NaN/inf, values outside the UR10e's range). The ROS boundary
(``visuomotor_ros.convert.joint_state_from_msg``) calls it for every node that reads ``/joint_states``.

:class:`JointStateFilter` follows the stream: it drops a sample that implies a speed no UR10e can reach
(a second publisher, a corrupted message) and fills in the velocity when the message carries none, by a
finite difference of two stamped samples; with no usable pair the velocity stays unknown (``None``) and
the commander refuses to plan rather than assume the arm is at rest. Two measured velocities give the
acceleration, with which the commander carries a slightly old state forward to now.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from visuomotor.control.commander import readonly
from visuomotor.control.config import UR10E_MAX_JOINT_SPEED_RAD_S
from visuomotor.control.violations import ForeignJointState, ImplausibleJointState, InvalidJointState
from visuomotor.kinematics import UR10E_JOINT_LIMITS_RAD, UR10E_JOINT_NAMES

__all__ = [
    "ESTIMATED",
    "MAX_JOINT_STATE_NAMES",
    "MEASURED",
    "UNKNOWN",
    "JointStateFilter",
    "JointStateSample",
    "joint_state_from_arrays",
]

_N = len(UR10E_JOINT_NAMES)

#: A joint state naming more joints than this is refused before any per-joint work (a mobile manipulator
#: has a few dozen; a million-entry message must not stall the commander's executor).
MAX_JOINT_STATE_NAMES = 1024
#: Measured positions may exceed the hardware range by this much (encoder rounding at ±2π), radians.
_RANGE_MARGIN_RAD = 0.1
#: A measured speed beyond this multiple of the hardware maximum is a corrupted value, not a motion.
_SPEED_MARGIN = 2.0

#: ``JointStateSample.velocity_source`` values.
MEASURED = "measured"
ESTIMATED = "estimated"
UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class JointStateSample:
    """One validated joint state of the arm.

    Attributes:
        stamp_ns: the message's header stamp, ns (any clock; staleness is the guard's business).
        positions_rad: (6,) arm joints in ``UR10E_JOINT_NAMES`` order, radians, finite, read-only.
        velocities_rad_s: (6,) arm joint velocities, rad/s, or None when unknown.
        velocity_source: ``"measured"`` (in the message), ``"estimated"`` (finite difference of two
            stamped samples, :class:`JointStateFilter`) or ``"unknown"``.
        others: finite positions of the other named joints (e.g. ``gripper_joint``), by name.
        accelerations_rad_s2: (6,) the difference of this sample's and the previous accepted sample's
            measured velocities over their stamps (:class:`JointStateFilter`), or None.
    """

    stamp_ns: int
    positions_rad: np.ndarray
    velocities_rad_s: np.ndarray | None
    velocity_source: str = UNKNOWN
    others: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    accelerations_rad_s2: np.ndarray | None = None

    def position(self, name: str) -> float | None:
        """Position of any named joint (arm or other), or None if the message did not carry a finite one."""
        if name in UR10E_JOINT_NAMES:
            return float(self.positions_rad[UR10E_JOINT_NAMES.index(name)])
        return self.others.get(name)


def joint_state_from_arrays(
    names: Sequence[str],
    positions: Sequence[float],
    velocities: Sequence[float],
    stamp_ns: int,
) -> JointStateSample:
    """Validate the fields of a JointState and pick out the UR10e's six joints.

    ``sensor_msgs/JointState`` allows ``position``/``velocity`` to be empty or as long as ``name``; a
    position is required here, a velocity is optional (``effort`` is not used and not checked).

    Args:
        names: (J,) joint names, unique; must include the six ``UR10E_JOINT_NAMES``.
        positions: (J,) radians (or metres for prismatic extras).
        velocities: (J,) rad/s, or empty.
        stamp_ns: header stamp, ns.

    Raises:
        InvalidJointState: naming what is wrong; the caller drops the message.
    """
    n = len(names)
    if n > MAX_JOINT_STATE_NAMES:
        raise InvalidJointState(f"joint state names {n} joints, more than {MAX_JOINT_STATE_NAMES}")
    if len(positions) != n:
        raise InvalidJointState(
            f"joint state has {len(positions)} positions for {n} names (sensor_msgs/JointState needs one "
            "position per name)"
        )
    if len(velocities) not in (0, n):
        raise InvalidJointState(f"joint state has {len(velocities)} velocities for {n} names (0 or {n})")
    index: dict[str, int] = {}
    for i, name in enumerate(names):
        if name in index:
            raise InvalidJointState(f"joint state names {name!r} twice")
        index[name] = i
    missing = [name for name in UR10E_JOINT_NAMES if name not in index]
    if missing:
        raise InvalidJointState(f"joint state lacks {', '.join(missing)} (it names {list(names)[:8]})")
    cols = [index[name] for name in UR10E_JOINT_NAMES]
    try:
        q = np.array([positions[i] for i in cols], dtype=np.float64)
        qd = np.array([velocities[i] for i in cols], dtype=np.float64) if len(velocities) else None
    except (TypeError, ValueError) as err:
        raise InvalidJointState(f"joint state values are not numbers ({err})") from err
    limits = np.asarray(UR10E_JOINT_LIMITS_RAD, dtype=np.float64)
    for j, name in enumerate(UR10E_JOINT_NAMES):
        if not math.isfinite(q[j]):
            raise InvalidJointState(f"joint state position of {name} is {q[j]} (NaN/inf)")
        if not limits[j, 0] - _RANGE_MARGIN_RAD <= q[j] <= limits[j, 1] + _RANGE_MARGIN_RAD:
            raise InvalidJointState(
                f"joint state position of {name} is {q[j]:.4g} rad, outside the UR10e's range "
                f"[{limits[j, 0]:.4f}, {limits[j, 1]:.4f}]"
            )
        if qd is not None and not (
            math.isfinite(qd[j]) and abs(qd[j]) <= _SPEED_MARGIN * UR10E_MAX_JOINT_SPEED_RAD_S[j]
        ):
            raise InvalidJointState(
                f"joint state velocity of {name} is {qd[j]:.4g} rad/s (NaN/inf, or beyond "
                f"{_SPEED_MARGIN:g}× the hardware maximum {UR10E_MAX_JOINT_SPEED_RAD_S[j]})"
            )
    arm = set(UR10E_JOINT_NAMES)
    others = {}
    for name, i in index.items():
        if name not in arm:
            try:
                value = float(positions[i])
            except (TypeError, ValueError):
                continue
            if math.isfinite(value):
                others[name] = value
    return JointStateSample(
        int(stamp_ns),
        readonly(q),
        None if qd is None else readonly(qd),
        MEASURED if qd is not None else UNKNOWN,
        MappingProxyType(others),
    )


class JointStateFilter:
    """Plausibility check and velocity estimate over a stream of :class:`JointStateSample`.

    With ``source`` given, the stream belongs to the first publisher that sends on it (the ROS node passes
    the publishing node's name, so a respawned driver keeps its stream): samples from any other source are
    refused until :meth:`release` — called when the owner has left the graph. Silence alone never hands the
    stream over: fakes consistent among themselves (found by ``bench/faults.py`` while the driver stalled
    for 200 ms) never become the state, and a silent owner means stale joint states, so the commander holds.

    A sample is refused when, against the previous sample (accepted or not) at most ``max_gap_s`` earlier,
    some joint would have moved faster than ``speed_margin`` × its hardware maximum (plus ``tolerance_rad``
    of noise), or when it is stamped before the previous sample by less than ``max_gap_s`` (out of order):
    a corrupted value or a second stream. Refused samples still become the reference, so two interleaved
    streams are refused together rather than one of them winning. The first sample, and one stamped more
    than ``max_gap_s`` away from the previous (a gap, a clock reset, a far-off outlier), only starts the
    stream: it is refused, and the next sample is checked against it — so a lone outlier never becomes the
    state (found by ``bench/faults.py``: a far-future fake followed by a fresh fake was accepted unchecked).
    A sample without velocities gets the finite difference to the previous *accepted* sample if that is at
    most ``max_gap_s`` older; otherwise its velocity stays unknown.

    Args:
        max_gap_s: longest stamp difference a velocity estimate or a jump check may span, seconds (the
            commander uses ``joint_state_timeout_s``).
        speed_margin: multiple of the hardware speed still accepted between two samples.
        tolerance_rad: position noise allowed on top, radians.
    """

    def __init__(self, max_gap_s: float, *, speed_margin: float = 1.5, tolerance_rad: float = 0.01) -> None:
        if not (math.isfinite(max_gap_s) and max_gap_s > 0.0):
            raise ValueError(f"max_gap_s must be a positive number, got {max_gap_s}")
        self._max_gap_ns = int(max_gap_s * 1e9)
        self._vmax = np.asarray(UR10E_MAX_JOINT_SPEED_RAD_S, dtype=np.float64) * speed_margin
        self._tol = float(tolerance_rad)
        self._ref: JointStateSample | None = None
        self._accepted: JointStateSample | None = None
        self._owner: Hashable | None = None
        self.refused = 0

    @property
    def owner(self) -> Hashable | None:
        """The source the stream belongs to, or None before the first sample (or after :meth:`release`)."""
        return self._owner

    def release(self) -> None:
        """Forget the stream and its owner (it left the graph): the next source to send starts a new one."""
        self._ref = None
        self._accepted = None
        self._owner = None

    def update(self, sample: JointStateSample, *, source: Hashable | None = None) -> JointStateSample:
        """The sample with its velocity filled in if it can be estimated.

        Args:
            sample: a validated joint state.
            source: who published it (the ROS node passes the publishing node's name); the stream belongs
                to the first source until :meth:`release`.

        Raises:
            InvalidJointState: another source than the stream's owner, an impossible jump, out of order, or
                the first sample of a stream; it is dropped.
        """
        if source is not None:
            if self._owner is None:
                self._owner, self._ref, self._accepted = source, None, None
            elif source != self._owner:
                self.refused += 1
                raise ForeignJointState(
                    f"joint states from {source} while they belong to {self._owner}: dropped (a joint state "
                    "topic has exactly one publisher, the driver; the stream passes on only when it leaves "
                    "the graph)"
                )
        return self._update(sample)

    def _update(self, sample: JointStateSample) -> JointStateSample:
        ref, self._ref = self._ref, sample
        if ref is None or abs(sample.stamp_ns - ref.stamp_ns) > self._max_gap_ns:
            # No recent sample to compare with (start, a gap, a clock jump, a far-off stamp): this one is
            # the reference, and only a consistent successor is accepted — a lone outlier never becomes
            # the arm's state.
            self.refused += 1
            self._accepted = None
            raise ImplausibleJointState(
                "joint state starts (or restarts after a gap of more than "
                f"{self._max_gap_ns * 1e-6:.0f} ms) a stream: waiting for a consistent second sample"
            )
        if ref is not None:
            dt_ns = sample.stamp_ns - ref.stamp_ns
            step = np.abs(sample.positions_rad - ref.positions_rad)
            if -self._max_gap_ns < dt_ns < 0:
                self.refused += 1
                raise ImplausibleJointState(
                    f"joint state stamped {-dt_ns * 1e-6:.1f} ms before the previous one: out of order, or a "
                    "second publisher on the topic; dropped"
                )
            if 0 <= dt_ns <= self._max_gap_ns:
                allowed = self._vmax * (dt_ns * 1e-9) + self._tol
                if (step > allowed).any():
                    j = int(np.argmax(step - allowed))
                    self.refused += 1
                    raise ImplausibleJointState(
                        f"joint state jumps {UR10E_JOINT_NAMES[j]} by {step[j]:.4f} rad in "
                        f"{dt_ns * 1e-6:.1f} ms (more than a UR10e can move, {allowed[j]:.4f} rad): a "
                        "second publisher on the topic or a corrupted message; dropped"
                    )
        prev, self._accepted = self._accepted, sample
        if sample.velocities_rad_s is not None:
            dt_ns = sample.stamp_ns - prev.stamp_ns if prev is not None else 0
            if prev is None or prev.velocities_rad_s is None or not 0 < dt_ns <= self._max_gap_ns:
                return sample
            qdd = (sample.velocities_rad_s - prev.velocities_rad_s) / (dt_ns * 1e-9)
            return dataclasses.replace(sample, accelerations_rad_s2=readonly(qdd))
        if prev is not None and 0 < sample.stamp_ns - prev.stamp_ns <= self._max_gap_ns:
            dt_s = (sample.stamp_ns - prev.stamp_ns) * 1e-9
            qd = (sample.positions_rad - prev.positions_rad) / dt_s
            return JointStateSample(
                sample.stamp_ns, sample.positions_rad, readonly(qd), ESTIMATED, sample.others
            )
        return sample
