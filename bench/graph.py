"""Graph benchmark in the style of ros2_benchmark: a recorded RGB-D bag played into the unmodified graph.

The bag (recorded by the project from the sim: the arm picking a cube, ≥ 300 frames at 30 Hz) is loaded
into memory and played at fixed input rates into the running graph — ``perception`` (shipped params) →
``policy`` → ``commander`` live into a trajectory sink (this process subscribes to the controller
topic), so the command path is real. Each frame's colour, aligned depth, camera_info and joint state go
out together, restamped to the publish time (the nodes check staleness against their clock), as
serialised bytes with only the 8 stamp bytes patched (no per-frame conversion in the player).

Per run: every frame's trail as the commander ends it (``/visuomotor/frame_trail``) gives per-stage and
per-hop p50/p99 and publish → command end to end; frames in / commanded / dropped / skipped on purpose
(the perception node's ``stale`` count: latest-frame-only); CPU % and RSS of each process. Then a
peak-rate finder: the highest input rate at which ≥ 95 % of the frames produce a command.

The baseline runs in the same invocation on the same bag, rates and machine: ``bench/baseline_perception.py``
(a yolo_ros-style node: ultralytics ``YOLO(.pt).track(..., tracker="bytetrack.yaml")`` per frame + the same
3D lift) in place of ``perception``, feeding the same policy and commander. It needs the training extras
(``./scripts/setup.sh --train``); without them it is skipped with one line and the JSON says so.

Usage: source scripts/env.sh && python bench/graph.py [--bag DIR] [--frames 300] [--rates 15 30 60]
       [--json results/bench/graph.json] [--png results/bench/graph.png] [--no-baseline]
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import os
import platform
import random
import shutil
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CAMERA = {"color": "/camera/camera/color/image_raw",
          "depth": "/camera/camera/aligned_depth_to_color/image_raw",
          "info": "/camera/camera/color/camera_info",
          "joints": "/joint_states"}
TRAIL = "/visuomotor/frame_trail"
SINK = "/scaled_joint_trajectory_controller/joint_trajectory"
DELIVERED_GOAL = 0.95


class BenchError(Exception):
    """A user error: one line, exit 2."""


@dataclass
class Frame:
    """One frame's serialised messages, in publishing order."""

    color: bytearray
    depth: bytearray
    info: bytearray
    joints: bytearray | None


def load_bag(path: Path, limit: int) -> tuple[list[Frame], str]:
    """The bag's frames in memory (colour paired with depth, camera_info and joints by stamp) + its hash."""
    from visuomotor.bag import BagError, BagReader, header_stamp_ns

    try:
        with BagReader(path) as reader:
            topics = reader.topics
            missing = [t for k, t in CAMERA.items() if k != "joints" and t not in topics]
            if missing:
                raise BenchError(f"bag {path} has no {', '.join(missing)}: record colour, aligned depth and "
                                 "camera_info (e.g. the default: bench/graph.py records one from the sim)")
            by_stamp: dict[str, dict[int, bytes]] = {k: {} for k in CAMERA}
            wanted = {t: k for k, t in CAMERA.items() if t in topics}
            for msg in reader.messages(set(wanted)):
                stamp = header_stamp_ns(msg.data)
                if stamp is not None:
                    by_stamp[wanted[msg.topic]][stamp] = bytes(msg.data)
    except BagError as err:
        raise BenchError(str(err)) from err
    frames = []
    for stamp in sorted(by_stamp["color"]):
        if stamp in by_stamp["depth"] and stamp in by_stamp["info"]:
            j = by_stamp["joints"].get(stamp)
            frames.append(Frame(bytearray(by_stamp["color"][stamp]), bytearray(by_stamp["depth"][stamp]),
                                bytearray(by_stamp["info"][stamp]), None if j is None else bytearray(j)))
    if not frames:
        raise BenchError(f"bag {path}: no colour frame has depth and camera_info with the same stamp")
    digest = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(f.read_bytes())
    return frames[:limit] if limit else frames, digest.hexdigest()[:16]


def restamp(data: bytearray, stamp_ns: int) -> bytes:
    """The CDR message with its header stamp (right after the 4-byte encapsulation) replaced."""
    data[4:12] = int(stamp_ns // 1_000_000_000).to_bytes(4, "little", signed=True) + int(
        stamp_ns % 1_000_000_000).to_bytes(4, "little")
    return bytes(data)


@dataclass
class RunResult:
    rate_hz: float
    frames_in: int
    commanded: int
    skipped_stale: int
    e2e_ns: list[int] = field(default_factory=list)
    stages: dict[str, list[int]] = field(default_factory=dict)
    hops: dict[str, list[int]] = field(default_factory=dict)
    cpu_percent: dict[str, float] = field(default_factory=dict)
    rss_mb: dict[str, float] = field(default_factory=dict)

    @property
    def delivered(self) -> float:
        return self.commanded / self.frames_in if self.frames_in else 0.0

    def summary(self) -> dict[str, Any]:
        from visuomotor.latency import percentile_ms

        def st(v: list[int]) -> dict[str, float]:
            a = np.asarray(v, dtype=np.int64)
            return {"p50_ms": percentile_ms(a, 50), "p99_ms": percentile_ms(a, 99), "count": int(a.size)}

        return {
            "rate_hz": self.rate_hz, "frames_in": self.frames_in, "commanded": self.commanded,
            "skipped_stale": self.skipped_stale,
            "dropped": max(0, self.frames_in - self.commanded - self.skipped_stale),
            "delivered_ratio": round(self.delivered, 4),
            "e2e": st(self.e2e_ns) if self.e2e_ns else None,
            "stages": {k: st(v) for k, v in self.stages.items()},
            "hops": {k: st(v) for k, v in self.hops.items()},
            "cpu_percent": self.cpu_percent, "rss_mb": self.rss_mb,
        }


class Player:
    """Publishes frames, collects the command trails; one per graph session."""

    def __init__(self) -> None:
        import rclpy
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.context import Context
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.node import Node
        from sensor_msgs.msg import CameraInfo, Image, JointState
        from trajectory_msgs.msg import JointTrajectory

        from visuomotor_interfaces.msg import FrameTrail
        from visuomotor_ros.qos import COMMAND, SENSOR, STATE

        self.ctx = Context()
        rclpy.init(context=self.ctx)
        self.node = Node("graph_bench_player", context=self.ctx)
        types = {"color": Image, "depth": Image, "info": CameraInfo, "joints": JointState}
        self.pubs = {k: self.node.create_publisher(types[k], t, STATE if k == "joints" else SENSOR)
                     for k, t in CAMERA.items()}
        self.lock = threading.Lock()
        self.trails: dict[int, tuple[tuple[str, int, int], ...]] = {}
        self.commands = 0
        self.stale: tuple[int, int] = (0, 0)  # (receipt monotonic ns, perception's stale count)
        self.provider = ""  # the execution provider perception reports it runs on (its diagnostics)
        self.node.create_subscription(FrameTrail, TRAIL, self._on_trail, STATE)
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, STATE)
        self.node.create_subscription(JointTrajectory, SINK, self._on_command, COMMAND)
        self.executor = SingleThreadedExecutor(context=self.ctx)
        self.executor.add_node(self.node)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()

    def _on_trail(self, msg: Any) -> None:
        stamp = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
        with self.lock:
            self.trails[stamp] = tuple((t.stage, t.start_ns, t.end_ns) for t in msg.timings)

    def _on_diagnostics(self, msg: Any) -> None:
        for status in msg.status:
            if status.name == "perception: pipeline":
                values = {kv.key: kv.value for kv in status.values}
                with self.lock:
                    self.stale = (time.monotonic_ns(), int(values.get("stale", 0)))
                    self.provider = status.hardware_id

    def stale_count(self, timeout_s: float = 3.0) -> int:
        """The perception node's stale count from a report newer than now (0 for a graph without one)."""
        since = time.monotonic_ns()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self.lock:
                if self.stale[0] > since:
                    return self.stale[1]
            time.sleep(0.05)
        return self.stale[1]

    def _on_command(self, msg: Any) -> None:
        with self.lock:
            self.commands += 1

    def wait_for_graph(self, procs: list[Any], timeout_s: float = 90.0) -> None:
        """Until perception subscribes to the camera and the commander listens for chunks (no sleeping)."""
        deadline = time.monotonic() + timeout_s
        while (self.pubs["color"].get_subscription_count() == 0
               or self.pubs["joints"].get_subscription_count() < 2
               or self.node.count_publishers(TRAIL) == 0 or self.node.count_publishers(SINK) == 0):
            dead = [p for p in procs if not p.alive()]
            if dead or time.monotonic() > deadline:
                why = "; ".join(f"{p.name}: {p.output()[-600:]}" for p in (dead or procs))
                raise RuntimeError(f"the graph did not come up: {why}")
            time.sleep(0.1)

    def play(self, frames: list[Frame], rate_hz: float, n: int) -> dict[int, int]:
        """``n`` frames (cycling through the bag) at ``rate_hz``; returns restamp → publish monotonic ns."""
        sent: dict[int, int] = {}
        period = 1.0 / rate_hz
        t_next = time.monotonic()
        for i in range(n):
            f = frames[i % len(frames)]
            stamp = time.time_ns()
            if f.joints is not None:
                self.pubs["joints"].publish(restamp(f.joints, stamp))
            sent[stamp] = time.monotonic_ns()
            self.pubs["color"].publish(restamp(f.color, stamp))
            self.pubs["depth"].publish(restamp(f.depth, stamp))
            self.pubs["info"].publish(restamp(f.info, stamp))
            t_next += period
            time.sleep(max(0.0, t_next - time.monotonic()))
        return sent

    def close(self) -> None:
        import rclpy

        self.executor.shutdown()
        self.thread.join(5)
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.ctx)


def proc_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_rss_mb(pid: int) -> tuple[float, float]:
    """(current RSS, peak RSS) in MB from /proc."""
    status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                  if ":" in line)
    return int(status["VmRSS"].split()[0]) / 1024, int(status["VmHWM"].split()[0]) / 1024


class Graph:
    """One graph session: its processes and the player."""

    def __init__(self, name: str, perception: Any, out: Path, reports_stale: bool) -> None:
        from visuomotor_ros.launcher import NodeProcess

        config = ROOT / "config"
        self.name = name
        self.procs = [perception,
                      NodeProcess("policy", {}, params_files=[config / "policy.yaml"],
                                  log_path=out / "policy.log"),
                      NodeProcess("commander", {}, params_files=[config / "safety.yaml"],
                                  log_path=out / "commander.log")]
        self.reports_stale = reports_stale
        self.player = Player()
        self.player.wait_for_graph(self.procs)

    def run(self, frames: list[Frame], rate_hz: float, n: int) -> RunResult:
        p = self.player
        with p.lock:
            p.trails.clear()
        stale0 = self.stale()
        cpu0 = {pr.name: proc_cpu_s(pr.proc.pid) for pr in self.procs}
        t0 = time.monotonic()
        sent = p.play(frames, rate_hz, n)
        deadline = time.monotonic() + 2.0  # the last frames' commands
        while time.monotonic() < deadline:
            with p.lock:
                if all(s in p.trails for s in list(sent)[-3:]):
                    break
            time.sleep(0.05)
        wall = time.monotonic() - t0
        result = RunResult(rate_hz, len(sent), 0, self.stale() - stale0)
        for pr in self.procs:
            result.cpu_percent[pr.name] = round(100 * (proc_cpu_s(pr.proc.pid) - cpu0[pr.name]) / wall, 1)
            result.rss_mb[pr.name] = round(proc_rss_mb(pr.proc.pid)[0], 1)
        with p.lock:
            trails = {s: t for s, t in p.trails.items() if s in sent}
        result.commanded = len(trails)
        for stamp, trail in trails.items():
            if not trail or trail[-1][0] != "command":
                continue
            result.e2e_ns.append(trail[-1][2] - sent[stamp])
            result.hops.setdefault("camera→" + trail[0][0], []).append(trail[0][1] - sent[stamp])
            for stage, start, end in trail:
                result.stages.setdefault(stage, []).append(end - start)
            for (a, _, a_end), (b, b_start, _) in itertools.pairwise(trail):
                if not (a.startswith("detect.") and b.startswith("detect.")):
                    result.hops.setdefault(f"{a}→{b}", []).append(b_start - a_end)
        return result

    def stale(self) -> int:
        """Frames the perception node skipped on purpose (latest-frame-only), from its /diagnostics."""
        return self.player.stale_count() if self.reports_stale else 0

    def close(self) -> dict[str, float]:
        peak = {pr.name: round(proc_rss_mb(pr.proc.pid)[1], 1) for pr in self.procs if pr.alive()}
        self.player.close()
        for pr in reversed(self.procs):
            pr.stop(timeout_s=15.0)
        return peak


def start_ours(out: Path, model: Path) -> Graph:
    from visuomotor_ros.launcher import NodeProcess

    perception = NodeProcess("perception", {"perception:detector.model_path": str(model),
                                            "latency_monitor:print_table": False},
                             params_files=[ROOT / "config" / "perception.yaml"],
                             log_path=out / "perception.log")
    return Graph("ours", perception, out, reports_stale=True)


def start_baseline(out: Path, weights: Path, imgsz: int) -> Graph:
    from visuomotor_ros.launcher import NodeProcess

    node = NodeProcess("baseline_perception", {"weights": str(weights), "imgsz": imgsz},
                       program=[sys.executable, str(ROOT / "bench" / "baseline_perception.py")],
                       log_path=out / "baseline_perception.log")
    return Graph("baseline", node, out, reports_stale=False)


def baseline_missing() -> str | None:
    """Why the baseline cannot run here, or None."""
    import importlib.util

    missing = [m for m in ("torch", "ultralytics", "lap") if importlib.util.find_spec(m) is None]
    if missing:
        return f"training extras not installed ({', '.join(missing)}): ./scripts/setup.sh --train"
    return None


def find_peak(
    graph: Graph, frames: list[Frame], lo: float, hi: float, n: int, probes: int
) -> tuple[float, list]:
    """The highest rate in [lo, hi] with delivered ≥ 95 %, by bisection (``probes`` runs after the ends)."""
    tried = []

    def ok(rate: float) -> bool:
        r = graph.run(frames, rate, n)
        tried.append({"rate_hz": round(rate, 2), "delivered_ratio": round(r.delivered, 4)})
        print(f"  {graph.name} peak search: {rate:6.1f} Hz → delivered {r.delivered:.3f}", flush=True)
        return r.delivered >= DELIVERED_GOAL

    if not ok(lo):
        return 0.0, tried
    if ok(hi):
        return hi, tried
    for _ in range(probes):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if ok(mid) else (lo, mid)
    return round(lo, 1), tried


def machine() -> dict[str, Any]:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    return {"cores": os.cpu_count(), "cpu_model": model, "python": platform.python_version(),
            "kernel": platform.release()}


def bench_graph(
    graph: Graph, frames: list[Frame], rates: list[float], n: int, peak: tuple[float, float, int, int]
) -> dict[str, Any]:
    runs = {}
    for rate in rates:
        graph.run(frames, rate, min(n, 30))  # warm-up: first-call allocations, DDS matching of every path
        r = graph.run(frames, rate, n)
        s = r.summary()
        runs[f"{rate:g}"] = s
        e2e = s["e2e"] or {"p50_ms": float("nan"), "p99_ms": float("nan")}
        print(f"  {graph.name} {rate:5.1f} Hz: delivered {s['delivered_ratio']:.3f} ({s['commanded']}/"
              f"{s['frames_in']}, stale {s['skipped_stale']}, dropped {s['dropped']}), e2e p50 "
              f"{e2e['p50_ms']:.1f} / p99 {e2e['p99_ms']:.1f} ms", flush=True)
    lo, hi, probe_n, probes = peak
    peak_hz, tried = find_peak(graph, frames, lo, hi, probe_n, probes)
    provider = graph.player.provider or None  # None: a graph whose perception reports none (the baseline)
    return {"runs": runs, "peak_rate_hz": peak_hz, "peak_search": tried, "provider": provider,
            "peak_rss_mb": graph.close()}


def plot(path: Path, ours: dict, baseline: dict | None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_lat, ax_del) = plt.subplots(1, 2, figsize=(11, 4.2))
    for name, res, style in (("ours", ours, "o-"), ("baseline (ultralytics track)", baseline, "s--")):
        if not res:
            continue
        rates = [float(k) for k in res["runs"]]
        runs = list(res["runs"].values())
        p50 = [r["e2e"]["p50_ms"] if r["e2e"] else np.nan for r in runs]
        p99 = [r["e2e"]["p99_ms"] if r["e2e"] else np.nan for r in runs]
        line = ax_lat.plot(rates, p50, style, label=f"{name} p50")[0]
        ax_lat.plot(rates, p99, style, alpha=0.5, color=line.get_color(), label=f"{name} p99")
        ax_del.plot(rates, [r["delivered_ratio"] for r in runs], style, color=line.get_color(), label=name)
    ax_lat.set(xlabel="input rate (Hz)", ylabel="camera → command (ms)", title="latency")
    ax_del.axhline(DELIVERED_GOAL, color="grey", lw=0.8, ls=":")
    ax_del.set(xlabel="input rate (Hz)", ylabel="frames commanded / frames in", ylim=(0, 1.05),
               title="delivered")
    for ax in (ax_lat, ax_del):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bag", type=Path, default=None,
                    help="RGB-D bag to play (default: record one from the sim under results/bench/graph_bag)")
    ap.add_argument("--frames", type=int, default=300, help="frames per rate (the bag cycles if shorter)")
    ap.add_argument("--rates", type=float, nargs="+", default=[15.0, 30.0, 60.0], help="input rates, Hz")
    ap.add_argument("--peak", type=float, nargs=2, default=[15.0, 120.0], metavar=("LO", "HI"),
                    help="peak-rate search range, Hz")
    ap.add_argument("--peak-frames", type=int, default=150, help="frames per peak-search probe")
    ap.add_argument("--peak-probes", type=int, default=5, help="bisection steps of the peak search")
    ap.add_argument("--model", type=Path, default=ROOT / "models" / "detector_yolov8n_int8.onnx",
                    help="our detector (default: the shipped default)")
    ap.add_argument("--weights", type=Path, default=ROOT / "models" / "detector_yolov8n.pt",
                    help="the baseline's ultralytics weights (the same training run)")
    ap.add_argument("--no-baseline", action="store_true", help="only our graph")
    ap.add_argument("--json", type=Path, default=ROOT / "results" / "bench" / "graph.json")
    ap.add_argument("--png", type=Path, default=None, help="plot (default: the JSON's path with .png)")
    args = ap.parse_args(argv)
    if args.frames < 1 or args.peak_frames < 1 or args.peak_probes < 0:
        raise BenchError("--frames and --peak-frames must be ≥ 1, --peak-probes ≥ 0")
    if any(r <= 0 or not np.isfinite(r) for r in [*args.rates, *args.peak]) or args.peak[0] >= args.peak[1]:
        raise BenchError(f"rates must be finite and > 0 and --peak LO < HI, got --rates {args.rates} "
                         f"--peak {args.peak}")
    if not args.model.is_file():
        raise BenchError(f"detector model {args.model} not found: pass --model models/<detector>.onnx")
    if args.bag is not None and not args.bag.exists():
        raise BenchError(f"bag {args.bag} not found: record one (visuomotor record) or leave --bag out")
    return args


def default_bag(frames: int) -> Path:
    """The sim recording: the arm picking a cube, at 30 Hz; kept between runs."""
    from visuomotor.sim.recording import record_sim_bag

    path = ROOT / "results" / "bench" / f"graph_bag_{frames}"
    if not (path / "metadata.yaml").exists():
        shutil.rmtree(path, ignore_errors=True)
        print(f"recording {frames} sim frames (arm picking) → {path}", flush=True)
        record_sim_bag(path, frames, seed=3, expert_pick=True)
    return path


def main(argv: list[str] | None = None) -> int:
    try:
        args = parse_args(argv)
        bag = args.bag or default_bag(max(args.frames, 30))
        frames, bag_hash = load_bag(bag, 0)
    except BenchError as err:
        print(f"bench/graph.py: error: {err}", file=sys.stderr)
        return 2
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    os.environ.setdefault("ROS_DOMAIN_ID", str(random.randint(100, 200)))
    out = args.json.with_suffix("")
    peak = (args.peak[0], args.peak[1], args.peak_frames, args.peak_probes)
    print(f"bag {bag} ({len(frames)} frames, sha256 {bag_hash}); rates {args.rates} Hz", flush=True)
    ours = bench_graph(start_ours(out / "ours", args.model), frames, args.rates, args.frames, peak)
    why_not = "--no-baseline" if args.no_baseline else baseline_missing()
    if why_not is None and not args.weights.is_file():
        why_not = f"no ultralytics weights {args.weights}"
    baseline = None
    if why_not is None:
        imgsz = int(json.loads(_model_meta(args.model).get("imgsz", "[384]"))[0])
        baseline = bench_graph(start_baseline(out / "baseline", args.weights, imgsz), frames, args.rates,
                               args.frames, peak)
    else:
        print(f"baseline skipped: {why_not}", flush=True)
    result = summarise(args, ours, baseline, why_not, bag, bag_hash, len(frames))
    png = args.png or args.json.with_suffix(".png")
    plot(png, ours, baseline)
    print_table(result)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2))
    print(f"JSON: {args.json}\nplot: {png}")
    return 0


def _model_meta(model: Path) -> dict[str, str]:
    import onnx

    return {p.key: p.value for p in onnx.load(str(model), load_external_data=False).metadata_props}


def summarise(args: argparse.Namespace, ours: dict, baseline: dict | None, why_not: str | None, bag: Path,
              bag_hash: str, bag_frames: int) -> dict[str, Any]:
    def at30(res: dict | None, key: str) -> float | None:
        run = (res or {}).get("runs", {}).get("30")
        if run is None:
            return None
        if key == "delivered":
            return run["delivered_ratio"]
        return run["e2e"][key] if run["e2e"] else None

    b_peak = baseline["peak_rate_hz"] if baseline else None
    b_p99 = at30(baseline, "p99_ms")
    o_p99 = at30(ours, "p99_ms")
    return {
        "delivered_ratio_30hz": at30(ours, "delivered"),
        "e2e_p50_ms_30hz": at30(ours, "p50_ms"),
        "e2e_p99_ms_30hz": o_p99,
        "peak_rate_hz": ours["peak_rate_hz"],
        "baseline_peak_rate_hz": b_peak,
        "peak_ratio_vs_baseline": (ours["peak_rate_hz"] / b_peak) if b_peak else None,
        "e2e_p99_ratio_vs_baseline_30hz": (o_p99 / b_p99) if o_p99 and b_p99 else None,
        "model": str(args.model.relative_to(ROOT) if args.model.is_relative_to(ROOT) else args.model),
        "provider": ours.get("provider"),
        "baseline": ("ultralytics YOLO(.pt).track(bytetrack) in a yolo_ros-style node, "
                     f"weights {args.weights.name}") if baseline else None,
        "baseline_skipped": why_not,
        "bag": str(bag), "bag_sha256": bag_hash, "bag_frames": bag_frames,
        "frames_per_rate": args.frames, "rates_hz": args.rates, "machine": machine(),
        "ours": ours, "baseline_results": baseline,
    }


def print_table(r: dict[str, Any]) -> None:
    print(f"\nGraph benchmark — perception → policy → commander, {r['machine']['cores']} cores "
          f"({r['machine']['cpu_model']}), model {r['model']} on {r.get('provider') or 'unknown provider'}")
    print(f"{'graph':<10} {'rate':>6} {'delivered':>9} {'stale':>6} {'dropped':>7} {'e2e p50':>8} "
          f"{'e2e p99':>8}  cpu % per process")
    for name, res in (("ours", r["ours"]), ("baseline", r["baseline_results"])):
        for rate, s in (res or {}).get("runs", {}).items():
            e = s["e2e"] or {"p50_ms": float("nan"), "p99_ms": float("nan")}
            cpu = ", ".join(f"{k} {v:.0f}" for k, v in s["cpu_percent"].items())
            print(f"{name:<10} {rate:>6} {s['delivered_ratio']:>9.3f} {s['skipped_stale']:>6} "
                  f"{s['dropped']:>7} "
                  f"{e['p50_ms']:>8.1f} {e['p99_ms']:>8.1f}  {cpu}")
    print(f"peak rate (≥ {DELIVERED_GOAL:.0%} commanded): ours {r['peak_rate_hz']} Hz, baseline "
          f"{r['baseline_peak_rate_hz']} Hz; ratio {r['peak_ratio_vs_baseline']}")
    print(f"30 Hz e2e p99 ours / baseline: {r['e2e_p99_ratio_vs_baseline_30hz']}")
    if r["baseline_skipped"]:
        print(f"baseline skipped: {r['baseline_skipped']}")


if __name__ == "__main__":
    raise SystemExit(main())
