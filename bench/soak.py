"""Soak (issue 10, not CI): the real-time closed loop picking continuously for N minutes.

    source scripts/env.sh && python bench/soak.py [--minutes 30] [--json results/bench/soak.json]

The stack as ``visuomotor demo --realtime`` starts it (``visuomotor_ros.demo``: the same executables,
params files and settings; sim time paced to the wall clock, camera at 30 Hz, ``perception`` → ``policy``
on each frame's tracks → ``commander`` → the sim's trajectory controller, and the latency monitor), started
ONCE and left running: the policy picks every cube it sees (``target_class: any``, ``max_picks: 0``) and
when the table is clear (or a scene makes no progress for ``--scene-timeout`` s) the scene is reset on
``/sim/reset`` (the next seed). The nodes of the stack are respawned like the launch files do; an
unexpected respawn counts in ``restarts``.

Measured:
- RSS of every process every ``--sample-s`` (10 s) from /proc;
- camera → command latency per frame, as the latency monitor measures it (the sim's frame trail + the
  commander's, ``visuomotor.latency.FrameTrail``), per minute p50/p99;
- violations: the measured arm against the safety limits on every joint state (``StateMonitor``, as the
  demo's observer);
- picks: cubes released in the bin (``demo.released_in_bin``).

A scene reset rewinds sim time to 0 and the perception node starts its tracks afresh when time goes back.
Should it still publish no tracks for ``--rewind-grace`` s while the camera's frames flow, the soak kills
it (the respawn brings it back) and counts that in ``perception_restarts_after_reset``, apart from
``restarts``.

JSON: ``rss_growth_pct`` per process (mean RSS of the last window vs the first window after the warm-up),
``e2e_p99_drift_pct`` (last window vs first), ``violations``, ``restarts``, ``picks``, the windows used
(5 min for a 30-min run; a third of the time after warm-up for shorter ones), per-minute rows and the RSS
samples. Goals (issue 10): RSS growth < 5 %, e2e p99 drift < 10 %, 0 violations.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import sys
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.setdefault("FASTDDS_DEFAULT_PROFILES_FILE", str(ROOT / "config" / "fastdds.xml"))
os.environ.setdefault("MUJOCO_GL", "egl")

import rclpy  # noqa: E402
from graph import proc_rss_mb  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.node import Node  # noqa: E402
from sensor_msgs.msg import JointState  # noqa: E402
from std_msgs.msg import Int64  # noqa: E402

from visuomotor.config import read_params_file  # noqa: E402
from visuomotor.control import SafetyConfig, StateMonitor  # noqa: E402
from visuomotor.kinematics import T_FLANGE_TCP, UR10E_JOINT_NAMES  # noqa: E402
from visuomotor.latency import FrameTrail, LatencyError  # noqa: E402
from visuomotor_interfaces.msg import FrameTrail as FrameTrailMsg  # noqa: E402
from visuomotor_interfaces.msg import SimGroundTruth, TrackArray  # noqa: E402
from visuomotor_ros.convert import trail_from_msg  # noqa: E402
from visuomotor_ros.demo import PERCEPTION_FILES, released_in_bin  # noqa: E402
from visuomotor_ros.launcher import NodeProcess  # noqa: E402
from visuomotor_ros.qos import COMMAND, STATE  # noqa: E402

#: Source trails kept for matching the commander's trails by stamp (≈ 8 s at 30 Hz).
SOURCE_WINDOW = 256


class SoakObserver(Node):
    """Violations on every joint state, the scene's placed cubes, and every frame's camera → command."""

    def __init__(self, safety: SafetyConfig) -> None:
        super().__init__("soak_observer")
        self.lock = threading.Lock()
        self.monitor = StateMonitor(safety, T_flange_tcp=T_FLANGE_TCP)
        self.violation_times: list[float] = []  # monotonic s of each violation
        self.placed = 0  # cubes released in the bin in the current scene
        self.cubes = 0  # cubes in the current scene
        self.tracks_at = time.monotonic() + 30.0  # receipt of the newest tracks (+ the stack's start-up)
        self.frame_at = -1.0  # receipt of the newest camera frame (its trail)
        self.e2e: list[tuple[float, float]] = []  # (monotonic s, camera render → command ms)
        self._sources: dict[int, FrameTrail] = {}
        self.create_subscription(JointState, "/joint_states", self._on_joints, STATE)
        self.create_subscription(SimGroundTruth, "/sim/ground_truth", self._on_truth, STATE)
        self.create_subscription(TrackArray, "/visuomotor/tracks", self._on_tracks, STATE)
        self.create_subscription(FrameTrailMsg, "/sim/frame_trail", self._on_source, STATE)
        self.create_subscription(FrameTrailMsg, "/visuomotor/frame_trail", self._on_end, STATE)
        self.reset_pub = self.create_publisher(Int64, "/sim/reset", COMMAND)

    def _on_joints(self, msg: JointState) -> None:
        index = {n: i for i, n in enumerate(msg.name)}
        if not all(n in index for n in UR10E_JOINT_NAMES) or len(msg.velocity) != len(msg.name):
            return
        q = np.array([msg.position[index[n]] for n in UR10E_JOINT_NAMES])
        qd = np.array([msg.velocity[index[n]] for n in UR10E_JOINT_NAMES])
        with self.lock:
            before = len(self.monitor.violations)
            self.monitor.check(q, qd)
            self.violation_times += [time.monotonic()] * (len(self.monitor.violations) - before)

    def _on_truth(self, msg: SimGroundTruth) -> None:
        placed = released_in_bin(msg, "any")
        with self.lock:
            self.placed = placed
            self.cubes = sum(1 for o in msg.objects if o.class_name != "bin")

    def _on_tracks(self, msg: TrackArray) -> None:
        with self.lock:
            self.tracks_at = time.monotonic()

    def _on_source(self, msg: FrameTrailMsg) -> None:
        try:
            trail = trail_from_msg(msg)
        except LatencyError:
            return
        with self.lock:
            self.frame_at = time.monotonic()
            self._sources[trail.stamp_ns] = trail
            while len(self._sources) > SOURCE_WINDOW:
                del self._sources[next(iter(self._sources))]

    def _on_end(self, msg: FrameTrailMsg) -> None:
        """The latency monitor's end to end: the sim's render + encode prepended to the frame's trail."""
        try:
            trail = trail_from_msg(msg)
            with self.lock:
                source = self._sources.pop(trail.stamp_ns, None)
            if source and source.timings and trail.timings and \
                    source.timings[-1].end_ns <= trail.timings[0].start_ns:
                trail = source.extended(trail.timings)
            e2e_ms = trail.end_to_end_ns() * 1e-6
        except LatencyError:
            return
        with self.lock:
            self.e2e.append((time.monotonic(), e2e_ms))


def _monitor_total(path: Path) -> dict[str, Any] | None:
    """The latency monitor's own figures over the whole run (its JSON, written at its shutdown)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    e2e = data.get("end_to_end") or {}
    return {"frames": data.get("frames"), "dropped": data.get("dropped"),
            "e2e_p50_ms": e2e.get("p50_ms"), "e2e_p99_ms": e2e.get("p99_ms")}


def percentile(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 2) if values else None


def growth_pct(first: list[float], last: list[float]) -> float | None:
    if not first or not last:
        return None
    base = float(np.mean(first))
    return round(100.0 * (float(np.mean(last)) - base) / base, 2)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=30.0, help="how long the loop runs (default 30)")
    ap.add_argument("--json", type=Path, default=ROOT / "results" / "bench" / "soak.json")
    ap.add_argument("--out", type=Path, default=None, help="logs (default results/soak-<time>)")
    ap.add_argument("--seed", type=int, default=0, help="first scene seed")
    ap.add_argument("--sample-s", type=float, default=10.0, help="RSS sampling period (default 10 s)")
    ap.add_argument("--scene-timeout", type=float, default=60.0,
                    help="reset a scene that places no cube for this long (default 60 s)")
    ap.add_argument("--rewind-grace", type=float, default=15.0,
                    help="after a reset, restart a perception that tracks nothing for this long (15 s)")
    args = ap.parse_args(argv)
    if not (args.minutes > 0 and args.sample_s > 0 and args.scene_timeout > 0 and args.rewind_grace > 0):
        print("error: --minutes, --sample-s, --scene-timeout and --rewind-grace must be > 0", file=sys.stderr)
        return 2
    os.environ.setdefault("ROS_DOMAIN_ID", str(random.randint(101, 200)))
    out = args.out or ROOT / "results" / f"soak-{datetime.now():%Y%m%d-%H%M%S}"
    out.mkdir(parents=True, exist_ok=True)
    config = ROOT / "config"
    duration_s = args.minutes * 60.0
    warmup_s = min(60.0, 0.1 * duration_s)
    window_s = min(300.0, (duration_s - warmup_s) / 3.0)

    rclpy.init()
    safety = SafetyConfig.from_flat(read_params_file(config / "safety.yaml", "commander"))
    observer = SoakObserver(safety)
    sim_time = {"use_sim_time": True}
    stack = dict(respawn=True, respawn_delay_s=1.0)  # as the launch files
    procs = {
        # As run_demo(realtime=True): the sim paced to the wall clock at sim.yaml's 30 Hz camera.
        "sim": NodeProcess("sim", {"seed": args.seed}, params_files=[config / "sim.yaml"],
                           log_path=out / "sim.log"),
        "perception": NodeProcess("perception", {"latency_monitor:print_table": False},
                                  params_files=[config / f for f in PERCEPTION_FILES],
                                  log_path=out / "perception.log", **stack),
        "policy": NodeProcess("policy", {**sim_time, "target_class": "any", "max_picks": 0},
                              params_files=[config / "policy.yaml"], log_path=out / "policy.log", **stack),
        "commander": NodeProcess("commander", sim_time, params_files=[config / "safety.yaml"],
                                 log_path=out / "commander.log", **stack),
        "latency_monitor": NodeProcess("latency_monitor",
                                       {"json_path": str(out / "latency.json"), "print_table": False},
                                       params_files=[config / "latency_monitor.yaml"],
                                       log_path=out / "latency_monitor.log", **stack),
    }
    executor = SingleThreadedExecutor()
    executor.add_node(observer)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    rss: dict[str, list[tuple[float, float, int]]] = {name: [] for name in procs}  # (t, MB, pid)
    picks = scenes = kicks = 0
    resets: list[dict[str, Any]] = []
    failure = None
    t0 = time.monotonic()
    end = t0 + duration_s
    next_sample = t0
    scene_placed, last_progress = 0, t0
    fresh_scene = True  # False after a reset until the ground truth shows the new scene (none in the bin)
    all_placed_since: float | None = None
    print(f"soak: {args.minutes:g} min → {out}", flush=True)
    try:
        while time.monotonic() < end:
            now = time.monotonic()
            if now >= next_sample:
                next_sample += args.sample_s
                for name, proc in procs.items():
                    with contextlib.suppress(FileNotFoundError, ProcessLookupError, KeyError):
                        rss[name].append((now - t0, proc_rss_mb(proc.pid)[0], proc.pid))  # not between lives
            with observer.lock:
                placed, cubes = observer.placed, observer.cubes
                tracks_at, frame_at = observer.tracks_at, observer.frame_at
            fresh_scene = fresh_scene or placed == 0
            if not fresh_scene:
                placed = 0  # the old scene's ground truth, until the sim publishes the new one
            if placed > scene_placed:
                picks += placed - scene_placed
                scene_placed, last_progress = placed, now
                print(f"  {now - t0:7.1f} s: pick {picks} (scene {scenes}: {placed}/{cubes})", flush=True)
            all_placed_since = (all_placed_since or now) if cubes and placed >= cubes else None
            clear = all_placed_since is not None and now - all_placed_since > 1.0
            if clear or now - last_progress > args.scene_timeout:
                observer.reset_pub.publish(Int64(data=-1))  # the next seed: sim time back to 0
                resets.append({"t_s": round(now - t0, 1), "placed": scene_placed, "cleared": clear})
                scenes += 1
                scene_placed, last_progress, all_placed_since, fresh_scene = 0, now, None, False
            if now - tracks_at > args.rewind_grace and now - frame_at < 1.0 and procs["perception"].alive():
                # Frames flow, no tracks: blind (out_of_order after a rewound clock). Restart it.
                os.kill(procs["perception"].pid, signal.SIGKILL)
                kicks += 1
                with observer.lock:
                    observer.tracks_at = now + 10.0  # its start-up, before judging it again
                if resets:
                    resets[-1]["perception_restarted"] = True
            if not procs["sim"].alive():
                failure = f"the sim exited ({procs['sim'].proc.returncode}): see {out / 'sim.log'}"
                break
            time.sleep(0.25)
    except KeyboardInterrupt:
        failure = "interrupted"
    finally:
        wall_s = time.monotonic() - t0
        restarts = {name: p.restarts for name, p in procs.items()}
        for proc in reversed(list(procs.values())):
            proc.stop(timeout_s=20.0)
        executor.shutdown()
        spinner.join(5)
        with observer.lock:
            e2e = list(observer.e2e)
            violations = [f"{v.reason}: {v.detail}" for v in observer.monitor.violations]
            violation_t = [round(t - t0, 2) for t in observer.violation_times]
        observer.destroy_node()
        rclpy.try_shutdown()

    first_w, last_w = (warmup_s, warmup_s + window_s), (wall_s - window_s, wall_s)

    def within(t: float, w: tuple[float, float]) -> bool:
        return w[0] <= t <= w[1]

    growth = {}
    for name, samples in rss.items():
        pid = samples[-1][2] if samples else None  # the last incarnation (a respawn starts afresh)
        mine = [(t, mb) for t, mb, p in samples if p == pid]
        growth[name] = growth_pct([mb for t, mb in mine if within(t, first_w)],
                                  [mb for t, mb in mine if within(t, last_w)])
    e2e_rel = [(t - t0, ms) for t, ms in e2e]
    p99_first = percentile([ms for t, ms in e2e_rel if within(t, first_w)], 99)
    p99_last = percentile([ms for t, ms in e2e_rel if within(t, last_w)], 99)
    minutes = []
    for m in range(int(np.ceil(wall_s / 60.0))):
        values = [ms for t, ms in e2e_rel if m * 60 <= t < (m + 1) * 60]
        minutes.append({"minute": m, "frames": len(values), "e2e_p50_ms": percentile(values, 50),
                        "e2e_p99_ms": percentile(values, 99)})
    unexpected = {n: c - (kicks if n == "perception" else 0) for n, c in restarts.items()}
    result = {
        "minutes": round(wall_s / 60.0, 2),
        "rss_growth_pct": growth,
        "e2e_p99_drift_pct": (None if not p99_first or p99_last is None
                              else round(100.0 * (p99_last - p99_first) / p99_first, 2)),
        "violations": len(violations),
        "restarts": sum(unexpected.values()),
        "picks": picks,
        "scenes": scenes + 1,
        "perception_restarts_after_reset": kicks,
        "failure": failure,
        "goals": {"rss_growth_pct_below": 5.0, "e2e_p99_drift_pct_below": 10.0, "violations": 0},
        "windows_s": {"warmup": round(warmup_s, 1), "first": [round(x, 1) for x in first_w],
                      "last": [round(x, 1) for x in last_w]},
        "e2e_p99_first_ms": p99_first, "e2e_p99_last_ms": p99_last,
        "e2e_frames": len(e2e),
        "restarts_by_node": unexpected,
        "rss_mb_first_last": {n: [round(s[0][1], 1), round(s[-1][1], 1)] if s else None
                              for n, s in rss.items()},
        "latency_monitor_total": _monitor_total(out / "latency.json"),
        "resets": resets,
        "per_minute": minutes,
        "violation_examples": violations[:20],
        "violation_times_s": violation_t[:200],
        # A reset teleports the arm home (no robot can): a command in flight, checked against the arm
        # before the reset, then starts from home. Counted in ``violations`` all the same.
        "violations_within_2s_after_a_reset": sum(
            1 for t in violation_t if any(0.0 <= t - r["t_s"] <= 2.0 for r in resets)
        ),
        "rss_samples": {n: [[round(t, 1), round(mb, 1), pid] for t, mb, pid in s] for n, s in rss.items()},
        "cores": os.cpu_count(),
        "load_avg_1_5_15_after": [round(x, 2) for x in os.getloadavg()],
        "logs": str(out),
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(f"soak {result['minutes']} min: picks {picks} in {result['scenes']} scenes, violations "
          f"{result['violations']}, restarts {result['restarts']} (+{kicks} perception restarts after a "
          f"reset), e2e p99 {p99_first} → {p99_last} ms (drift {result['e2e_p99_drift_pct']} %)")
    for name, g in growth.items():
        print(f"  RSS {name:16s} growth {g} %  ({result['rss_mb_first_last'][name]} MB first/last)")
    print(f"wrote {args.json}")
    return 0 if failure is None else 1


if __name__ == "__main__":
    raise SystemExit(main())
