"""The commander on a clock of the probe's, for clock jumps both ways (issue 10: "clock jump").

The sim can only jump its clock back (a reset rewinds sim time to 0: ``test_faults.py``). Here the probe is
the commander's whole world — ``/clock`` at 250 Hz, ``/joint_states`` at 100 Hz (the arm at rest at home)
and action chunks at 10 Hz, all stamped from ONE virtual sim clock — so a test can jump that clock forwards
or backwards, as a bag seek, a simulator's catch-up or a stepped system clock do. Right after a jump, an
input may stay on the old timeline for a while (``lag``): frames still in flight through perception, a
driver stamping with its own clock. The commander must refuse what is stale on its new clock and hold,
never send a command outside the limits, and recover once every input is on the new timeline.

The arm does not move here (nothing executes the commands): every command is re-checked from the state
the probe publishes (``chaos.check_command``).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from chaos import JTC, CheckResult, check_command
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import JointState
from std_msgs.msg import String
from trajectory_msgs.msg import JointTrajectory

from visuomotor.kinematics import UR10E_JOINT_NAMES, Ur10eKinematics
from visuomotor.sim import SimConfig, SimWorld
from visuomotor_interfaces.msg import ActionChunk, ActionStep
from visuomotor_ros.convert import matrix_to_pose, ns_to_duration, ns_to_stamp
from visuomotor_ros.launcher import NodeProcess
from visuomotor_ros.qos import CLOCK, COMMAND, STATE

ROOT = Path(__file__).resolve().parents[2]
#: What a jump can leave behind: joint states or chunks on the old timeline, or no chunks at all (a silent
#: perception: then only the commander's watchdog timer, on the jumped clock, can notice).
INPUTS = ("joints", "chunks", "silent")
#: A chunk's stamp trails the clock by a perception latency.
PERCEPTION_LATENCY_NS = 50_000_000


class ClockGraph:
    """The commander process and the probe that is its clock, arm and perception."""

    def __init__(self, probe: Any, launch: Callable[..., NodeProcess], *, start_s: float = 1000.0) -> None:
        self.commander = launch("commander", {"use_sim_time": True},
                                params_files=[ROOT / "config" / "safety.yaml"],
                                respawn=True, respawn_delay_s=1.0)
        node = self.node = probe.node
        self.lock = threading.Lock()
        self.q = np.array(SimConfig().scene.home_q_rad, dtype=float)
        self.received: list[tuple[float, JointTrajectory]] = []
        self.rejections: list[tuple[float, str]] = []
        self.jumps = 0
        self._t0 = time.monotonic_ns()
        self._offset_ns = round(start_s * 1e9)
        self._lag: dict[str, tuple[float, int]] = {}  # input → (until, the old offset it keeps)
        self._silent_until = 0.0
        self._T0 = Ur10eKinematics(T_flange_tcp=SimWorld.T_FLANGE_TCP).forward(self.q)
        self._clock_pub = node.create_publisher(Clock, "/clock", CLOCK)
        self._joints_pub = node.create_publisher(JointState, "/joint_states", STATE)
        self._chunk_pub = node.create_publisher(ActionChunk, "/visuomotor/action_chunk", STATE)
        node.create_subscription(JointTrajectory, JTC, self._on_command, COMMAND)
        node.create_subscription(String, "/visuomotor/rejections", self._on_rejection, STATE)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="clock-world", daemon=True)
        self._thread.start()

    # -- the world
    def _stamp(self, what: str | None, mono_ns: int) -> int:
        with self.lock:
            offset = self._offset_ns
            lag = self._lag.get(what) if what else None
            if lag is not None:
                if mono_ns * 1e-9 < lag[0]:
                    offset = lag[1]
                else:
                    del self._lag[what]  # type: ignore[arg-type]
        return mono_ns - self._t0 + offset

    def _run(self) -> None:
        period_ns, tick = 4_000_000, 0  # 250 Hz /clock; joint states every 10 ms; chunks every 100 ms
        next_ns = time.monotonic_ns()
        while not self._stop.is_set():
            now = time.monotonic_ns()
            self._clock_pub.publish(Clock(clock=ns_to_stamp(self._stamp(None, now))))
            if tick % 5 in (0, 2):  # 2 of every 5 ticks of 4 ms: 100 Hz
                self._publish_joints(self._stamp("joints", now))
            if tick % 25 == 0 and now * 1e-9 >= self._silent_until:
                self._publish_chunk(self._stamp("chunks", now) - PERCEPTION_LATENCY_NS)
            tick += 1
            next_ns += period_ns
            self._stop.wait(max(0.0, (next_ns - time.monotonic_ns()) * 1e-9))

    def _publish_joints(self, stamp_ns: int) -> None:
        msg = JointState(name=list(UR10E_JOINT_NAMES), position=[float(x) for x in self.q],
                         velocity=[0.0] * 6)
        msg.header.stamp = ns_to_stamp(stamp_ns)
        self._joints_pub.publish(msg)

    def _publish_chunk(self, stamp_ns: int) -> None:
        msg = ActionChunk()
        msg.header.stamp = ns_to_stamp(stamp_ns)
        msg.header.frame_id = "base_link"
        msg.step_period = ns_to_duration(100_000_000)
        msg.target_track_id = -1
        steps = []
        for i in range(10):  # out by 1 cm and back: every chunk starts where the (unmoving) arm is
            T = self._T0.copy()
            T[1, 3] += 0.01 * math.sin(math.pi * (i + 1) / 10)
            steps.append(ActionStep(tcp_pose=matrix_to_pose(T), gripper=0.0))
        msg.steps = steps
        self._chunk_pub.publish(msg)

    def jump(self, delta_s: float, lagging: tuple[str, ...] = (), lag_s: float = 0.0) -> float:
        """Jump the clock by ``delta_s``; ``lagging`` inputs keep the old timeline for ``lag_s``.
        Returns the jump's time.monotonic()."""
        assert set(lagging) <= set(INPUTS), lagging
        with self.lock:
            t = time.monotonic()
            for what in lagging:
                self._lag[what] = (t + lag_s, self._offset_ns)
            if "silent" in lagging:
                self._silent_until = t + lag_s
            self._offset_ns += round(delta_s * 1e9)
            self.jumps += 1
        return t

    # -- the commander's side
    def _on_command(self, msg: JointTrajectory) -> None:
        with self.lock:
            self.received.append((time.monotonic(), msg))

    def _on_rejection(self, msg: String) -> None:
        with self.lock:
            self.rejections.append((time.monotonic(), msg.data))

    def accepted_between(self, t0: float, t1: float = math.inf) -> int:
        with self.lock:
            return sum(1 for t, m in self.received if t0 <= t < t1 and len(m.points) > 1)

    def rejections_since(self, t: float) -> list[tuple[float, str]]:
        with self.lock:
            return [(when, why) for when, why in self.rejections if when >= t]

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            if self.accepted_between(0.0) >= 2:
                return
            if not self.commander.alive() and not self.commander.respawn:
                break
            time.sleep(0.05)
        raise TimeoutError(f"the commander accepted no chunk: {self.commander.output()[-3000:]}")

    def check_commands(self) -> CheckResult:
        """Every command received, re-checked from the arm's state (at rest at home)."""
        with self.lock:
            todo = [m for _, m in self.received]
        result = CheckResult()
        for msg in todo:
            why = check_command(msg, self.q, np.zeros(6))
            result.checked += 1
            if why is not None:
                result.outside.append(why)
        return result

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
