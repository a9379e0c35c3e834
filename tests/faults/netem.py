"""A network between the robot and the controller, with delay and loss on demand (issue 10: DDS delay and
5 % loss on the camera and joint-state paths).

:class:`ImpairedLink` puts a network namespace (the robot: the sim, i.e. the camera and the arm's driver)
behind one link from the root namespace (the controller: commander and probe). DDS crosses the link over
UDP (``fastdds_udp.xml``: no shared memory, which a network namespace does not separate), discovery over
the subnet with static peers. Impairment, both directions:

- ``netem``: a veth pair and ``tc qdisc ... netem delay D jitter J loss L%`` on both ends, where the kernel
  has ``sch_netem``;
- ``tun-wire``: otherwise (CONFIG_NET_SCH_NETEM unset, e.g. these machines: "Specified qdisc kind is
  unknown") two TUN devices and ``wire.py``'s delay line between them: the same per-packet loss and delay,
  in user space.

Needs root and ``ip netns``; :func:`unavailable` names what is missing (the tests skip with that line).
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from chaos import CONTROL_PERIOD_S, ArmWatch, ChaosGraph
from graph_probe import GraphProbe

from visuomotor_ros.launcher import NodeProcess, executable_path

HERE = Path(__file__).resolve().parent
UDP_PROFILE = HERE / "fastdds_udp.xml"


def _run(*cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, check=check, timeout=20)


def unavailable() -> str | None:
    """Why an impaired link cannot be built here (one line), or None."""
    if os.geteuid() != 0:
        return "network faults need root (ip netns, veth/tun, tc)"
    if shutil.which("ip") is None:
        return "network faults need iproute2's ip (ip netns)"
    probe = f"vmfprobe{os.getpid() % 10000}"
    made = _run("ip", "netns", "add", probe, check=False)
    if made.returncode != 0:
        return f"ip netns unavailable: {made.stderr.strip() or made.returncode}"
    _run("ip", "netns", "del", probe, check=False)
    if not os.path.exists("/dev/net/tun") and shutil.which("tc") is None:
        return "neither tc netem nor /dev/net/tun is available for an impaired link"
    return None


class ImpairedLink:
    """The robot's network namespace and the link to it; ``impair`` sets delay, jitter and loss.

    Args:
        tag: short unique suffix for the namespace and interface names (≤ 6 characters).
        subnet: third octet of the link's 10.213.x.0/24 (root end .1, robot end .2).
        backend: ``"netem"``, ``"tun-wire"`` or None (netem where the kernel has it, else the wire).
    """

    def __init__(self, tag: str, subnet: int, backend: str | None = None) -> None:
        self.netns = f"vmf{tag}"
        self.root_if, self.ns_if = f"vmf{tag}a", f"vmf{tag}b"
        self.root_addr, self.ns_addr = f"10.213.{subnet}.1", f"10.213.{subnet}.2"
        self.backend = ""
        self._wire: subprocess.Popen[str] | None = None
        # A run killed before its clean-up leaves these behind: same names, same subnet.
        _run("ip", "netns", "del", self.netns, check=False)
        _run("ip", "link", "del", self.root_if, check=False)
        _run("ip", "netns", "add", self.netns)
        try:
            if backend in (None, "netem") and self._try_netem():
                self.backend = "netem"
            elif backend in (None, "tun-wire"):
                self._start_wire()
                self.backend = "tun-wire"
            else:
                raise RuntimeError(f"link backend {backend!r} is not available here")
            self._ns("ip", "link", "set", "lo", "up")
        except BaseException:
            self.close()
            raise

    # -- set-up
    def _ns(self, *cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return _run("ip", "netns", "exec", self.netns, *cmd, check=check)

    def _try_netem(self) -> bool:
        if shutil.which("tc") is None:
            return False
        _run("ip", "link", "add", self.root_if, "type", "veth", "peer", "name", self.ns_if)
        if _run("tc", "qdisc", "add", "dev", self.root_if, "root", "netem", "delay", "0ms",
                check=False).returncode != 0:
            _run("ip", "link", "del", self.root_if, check=False)
            return False
        _run("ip", "link", "set", self.ns_if, "netns", self.netns)
        _run("ip", "addr", "add", f"{self.root_addr}/24", "dev", self.root_if)
        _run("ip", "link", "set", self.root_if, "up")
        self._ns("ip", "addr", "add", f"{self.ns_addr}/24", "dev", self.ns_if)
        self._ns("ip", "link", "set", self.ns_if, "up")
        self._ns("tc", "qdisc", "add", "dev", self.ns_if, "root", "netem", "delay", "0ms")
        # Multicast (SPDP) out of the namespace goes over the link too; static peers cover it anyway.
        self._ns("ip", "route", "add", "224.0.0.0/4", "dev", self.ns_if)
        return True

    def _start_wire(self) -> None:
        self._wire = subprocess.Popen(
            [sys.executable, str(HERE / "wire.py"), self.root_if, self.ns_if, self.netns],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        assert self._wire.stdout is not None
        line = self._wire.stdout.readline().strip()
        if line != "ready":
            raise RuntimeError(f"wire.py did not start: {line!r} (exit {self._wire.poll()})")
        _run("ip", "addr", "add", self.root_addr, "peer", self.ns_addr, "dev", self.root_if)
        _run("ip", "link", "set", self.root_if, "multicast", "on", "up")
        self._ns("ip", "addr", "add", self.ns_addr, "peer", self.root_addr, "dev", self.ns_if)
        self._ns("ip", "link", "set", self.ns_if, "multicast", "on", "up")
        # Everything the robot sends leaves over the link: the controller's participants announce their
        # other addresses too (eth0), which are reachable (and local) on the far side.
        self._ns("ip", "route", "add", "default", "dev", self.ns_if)
        self._ns("ip", "route", "add", "224.0.0.0/4", "dev", self.ns_if)

    # -- use
    def program(self, cmd: Sequence[str]) -> list[str]:
        """``cmd`` run inside the robot's namespace (``ip netns exec`` execs it: the pid is the node's)."""
        return ["ip", "netns", "exec", self.netns, *cmd]

    def env(self, robot_side: bool, domain_id: int) -> dict[str, str]:
        """The DDS environment of a process on either side: UDP only, the subnet, the other end as peer."""
        return {
            "ROS_DOMAIN_ID": str(domain_id),
            "ROS_AUTOMATIC_DISCOVERY_RANGE": "SUBNET",
            "ROS_STATIC_PEERS": self.root_addr if robot_side else self.ns_addr,
            "FASTDDS_DEFAULT_PROFILES_FILE": str(UDP_PROFILE),
        }

    def impair(self, delay_ms: float = 0.0, jitter_ms: float = 0.0, loss_pct: float = 0.0,
               direction: str = "in") -> None:
        """Delay (± jitter) and loss on every packet; all zero = a clean link.

        ``direction``: ``"in"`` = robot → controller (the camera, joint-state and clock paths: issue 10's
        fault), ``"out"`` = controller → robot (the commands), ``"both"``.
        """
        if direction not in ("in", "out", "both"):
            raise ValueError(f"direction must be in, out or both, got {direction!r}")
        if self.backend == "netem":
            # netem shapes what leaves an interface: the robot's end sends "in", the root's end "out".
            spec = ["delay", f"{delay_ms}ms", f"{jitter_ms}ms", "loss", f"{loss_pct}%"]
            if direction in ("out", "both"):
                _run("tc", "qdisc", "change", "dev", self.root_if, "root", "netem", *spec)
            if direction in ("in", "both"):
                self._ns("tc", "qdisc", "change", "dev", self.ns_if, "root", "netem", *spec)
        else:
            self._wire_command(f"set {direction} {delay_ms} {jitter_ms} {loss_pct}")

    def clear(self) -> None:
        self.impair(0.0, 0.0, 0.0, "both")

    def stats(self) -> dict[str, object]:
        """Packets through the link (wire: forwarded/dropped per direction [out, in]; netem: tc's)."""
        if self.backend == "netem":
            return {"root": _run("tc", "-s", "qdisc", "show", "dev", self.root_if).stdout.strip(),
                    "robot": self._ns("tc", "-s", "qdisc", "show", "dev", self.ns_if).stdout.strip()}
        return json.loads(self._wire_command("stats"))

    def _wire_command(self, command: str) -> str:
        assert self._wire is not None and self._wire.stdin is not None and self._wire.stdout is not None
        self._wire.stdin.write(command + "\n")
        self._wire.stdin.flush()
        answer = self._wire.stdout.readline().strip()
        if not answer or answer.startswith("error"):
            raise RuntimeError(f"wire.py: {command!r} → {answer!r}")
        return answer

    def close(self) -> None:
        """Remove the namespace and the link (processes inside must be stopped first)."""
        if self._wire is not None:
            if self._wire.stdin is not None:
                self._wire.stdin.close()
            try:
                self._wire.wait(5)
            except subprocess.TimeoutExpired:
                self._wire.kill()
                self._wire.wait()
            self._wire = None
        _run("ip", "netns", "del", self.netns, check=False)
        _run("ip", "link", "del", self.root_if, check=False)


class TruthTap:
    """``truth_tap.py`` in the robot's namespace, feeding the arm's true state to ``graph.feed_truth``
    over a pipe: the re-check and the arm watch judge by what the arm did, not by what crossed the link."""

    def __init__(self, link: ImpairedLink, domain: int, graph_feed: Any, log_path: Path) -> None:
        self._feed = graph_feed
        self._log = log_path.open("wb")
        self.proc = subprocess.Popen(
            link.program([sys.executable, str(HERE / "truth_tap.py")]), stdout=subprocess.PIPE,
            stderr=self._log, env={**os.environ, **link.env(True, domain)}, text=True,
        )
        self.lines = 0
        self._thread = threading.Thread(target=self._read, name="truth-tap", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            values = line.split()
            if len(values) != 13:
                continue
            x = np.array([float(v) for v in values[1:]])
            self._feed(float(values[0]), x[:6], x[6:])
            self.lines += 1

    def close(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._thread.join(5)
        self._log.close()


@dataclass
class Impairment:
    """One impaired stretch of the loop and what the commander did in it."""

    delay_ms: float
    jitter_ms: float
    loss_pct: float
    duration_s: float
    direction: str = "in"
    commands: int = 0
    accepted: int = 0
    rejections: dict[str, int] = field(default_factory=dict)
    stale_spans: dict[str, int] = field(default_factory=dict)  # by input, longer than a control period
    missed_holds: list[str] = field(default_factory=list)
    hold_latencies_ms: list[float] = field(default_factory=list)
    max_joint_gap_ms: float = 0.0  # longest wait between two joint states at the controller's end
    checked: int = 0
    outside: list[str] = field(default_factory=list)
    arm_violations: list[str] = field(default_factory=list)  # the measured arm (StateMonitor)
    link: dict[str, object] = field(default_factory=dict)


def impaired_stretch(graph: ChaosGraph, link: ImpairedLink, delay_ms: float, jitter_ms: float,
                     loss_pct: float, duration_s: float, direction: str = "in") -> Impairment:
    """Impair the link for ``duration_s`` with the loop running, then clear it; audit what happened.

    The audit (``StalenessAudit``) marks where an input was stale on the graph's clock; every such span must
    have had the commander holding within one control period. Every command is re-checked from the arm's
    true state (``TruthTap``), and the measured arm itself is checked against the limits all along (with
    ``direction`` ``out``/``both`` the commands are impaired too: one executed late must still not move the
    arm outside them). Recovery after the link is cleared is the caller's to check.
    """
    result = Impairment(delay_ms, jitter_ms, loss_pct, duration_s, direction)
    graph.mark(f"link ({direction}) {delay_ms} ± {jitter_ms} ms, {loss_pct} % loss")
    with graph.lock:
        first = len(graph.received)
        graph.audit.spans.clear()
    t0 = time.monotonic()
    watch = ArmWatch(graph)
    graph.audit.start()
    link.impair(delay_ms, jitter_ms, loss_pct, direction)
    graph.faults += 1
    end = t0 + duration_s
    while time.monotonic() < end:  # the stretch itself: the loop runs impaired this long
        watch.follow()
        time.sleep(min(0.1, max(0.0, end - time.monotonic())))
    link.clear()
    t1 = time.monotonic()
    with graph.lock:
        graph.audit.stop(t1)
        received = list(graph.received)
        seen = [t for t in graph.joints_seen if t0 <= t <= t1]
        reasons = collections.Counter(why for when, why in graph.rejections if t0 <= when <= t1)
        spans = list(graph.audit.spans)
    window = [r for r in received[first:] if r.t_wall <= t1]
    missed, latencies = graph.audit.verify(received)
    result.commands = len(window)
    result.accepted = sum(1 for r in window if len(r.msg.points) > 1)
    result.rejections = dict(reasons)
    long = [s for s in spans if (s.end or t1) - s.start > CONTROL_PERIOD_S + 0.05]
    result.stale_spans = dict(collections.Counter(s.what for s in long))
    result.missed_holds = missed
    result.hold_latencies_ms = [round(x * 1e3, 1) for x in latencies]
    gaps = np.diff([t0, *seen, t1])
    result.max_joint_gap_ms = round(float(gaps.max()) * 1e3, 1)
    check, _ = graph.check_commands(first)
    result.checked, result.outside = check.checked, check.outside
    watch.follow()
    result.arm_violations = watch.violations
    result.link = link.stats()
    return result


@contextlib.contextmanager
def network_graph(
    domain: int, logs: Path, *, subnet: int | None = None
) -> Iterator[tuple[ChaosGraph, ImpairedLink]]:
    """The chaos graph split across the link: the sim in the robot's namespace, the commander and the probe
    (relaying joint states, stamping chunks with the newest ground truth) in the root one, in ``domain``;
    the arm's true state from a ``TruthTap`` beside the sim. Ready and streaming when yielded; everything
    (namespace included) is removed after."""
    link = ImpairedLink(f"{domain}{os.getpid() % 100:02d}", domain if subnet is None else subnet)
    procs: list[NodeProcess] = []

    def launch(name: str, params: dict[str, Any] | None = None, **kwargs: Any) -> NodeProcess:
        proc = NodeProcess(name, params=params, log_path=logs / f"{name}-{len(procs)}.log", **kwargs)
        procs.append(proc)
        return proc

    launch_kwargs = {
        "sim": {"program": link.program([str(executable_path("sim"))]), "env": link.env(True, domain)},
        "commander": {"env": link.env(False, domain)},
    }
    # The probe joins over the subnet too: its participant reads these at rclpy.init (the tests' LOCALHOST
    # would keep it off the link).
    settings = {"ROS_DOMAIN_ID": str(domain), "ROS_AUTOMATIC_DISCOVERY_RANGE": "SUBNET",
                "ROS_STATIC_PEERS": link.ns_addr}
    saved = {k: os.environ.get(k) for k in settings}
    os.environ.update(settings)
    try:
        probe = GraphProbe("network_probe")
    except BaseException:
        link.close()
        raise
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    graph = tap = None
    try:
        graph = ChaosGraph(probe, launch, stack=("commander",), launch_kwargs=launch_kwargs,
                           external_truth=True)
        tap = TruthTap(link, domain, graph.feed_truth, logs / "truth_tap.log")
        graph.wait_ready(90.0)
        graph.streaming(True)
        yield graph, link
    finally:
        if graph is not None:
            graph.close()
        if tap is not None:
            tap.close()
        for proc in reversed(procs):
            proc.stop()
        probe.close()
        link.close()
