"""The sim demo, each node in its own process, on a real DDS graph.

``--mode closed_loop`` (the default) is the whole stack: MuJoCo sim (camera at 10 Hz) → ``perception``
(ONNX detector → localiser → tracker) → ``policy`` (ACT) → ``commander`` (IK + safety) → the sim's
trajectory controller, plus the latency monitor over the full camera → command path. The sim runs in
lock-step: each frame's sim time stands still until the commander has answered it (its frame trail), so
the run is the same on a fast or a loaded machine; the policy ticks on every new tracks message. It
succeeds when the target cube lies in the bin with the gripper gone (released); ``--record BAG`` also
writes a bag of the run for ``visuomotor eval BAG``; ``--realtime`` runs it as on the robot (sim time paced
to the wall clock, camera at 30 Hz, the policy on each frame's tracks; frames that never reach a command —
perception skips a stale frame when it is behind — count as dropped and are printed). ``--mode scripted``
replaces perception, policy and commander with the scripted pick from ground truth. Every run checks the
measured arm against the safety limits (config/safety.yaml) on each joint state and prints the violations.
``--task conveyor`` runs the conveyor task: ``config/conveyor.yaml`` goes to the sim (a belt at 0.1 m/s)
and the policy (``models/act_conveyor.onnx``, target velocity, latency compensation) as a second params
file; ``--no-latency-compensation`` turns the compensation off. The belt starts when the stack is live
(the policy's first chunk: the sim's ``conveyor_start: on_request``, a PLC-style interlock), so every
run meets the cube at the same place however long the nodes take to come up on a loaded machine.

Prints the result and the latency table, and writes under ``results/demo-<time>/``: ``demo.png`` (the
camera view beside the latency table), ``camera.png``, ``latency.json``, ``result.json`` and one log per
node. Usage: ``python -m visuomotor_ros.demo [--mode closed_loop|scripted] [--timeout 120] [--seed 0]
[--target red_cube] [--out DIR]`` (also ``visuomotor demo ...``).
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Float64, String

from visuomotor.config import read_params_file
from visuomotor.control import SafetyConfig, StateMonitor
from visuomotor.kinematics import T_FLANGE_TCP, UR10E_JOINT_NAMES
from visuomotor.latency import LatencySummary
from visuomotor.sim import ObjectState
from visuomotor.sim.pick_task import cube_in_bin
from visuomotor_interfaces.msg import ActionChunk, SimGroundTruth
from visuomotor_ros.convert import image_array, stamp_to_ns
from visuomotor_ros.launcher import NodeProcess
from visuomotor_ros.qos import LATCHED, SENSOR, STATE

__all__ = ["main", "released_in_bin", "write_figure"]

#: Camera rate of the closed-loop demo = the policy's control rate (it ticks on each frame's tracks).
CLOSED_LOOP_CAMERA_HZ = 10.0
STATUS_TOPIC = "/visuomotor/status"
#: A target cube this far below the table top fell off it (off the conveyor's end): the run has failed.
FELL_BELOW_M = -0.1
PERCEPTION_FILES = ("perception.yaml",)


class DemoObserver(Node):
    """Keeps the latest camera frame, ground truth and pick status; checks the measured arm against the
    safety limits on every joint state (the violations a run reports)."""

    def __init__(self, safety: SafetyConfig) -> None:
        super().__init__("demo_observer")
        self.monitor = StateMonitor(safety, T_flange_tcp=T_FLANGE_TCP)
        self.lock = threading.Lock()
        self.image: Image | None = None  # the latest colour frame, converted once at the end (not 30×/s)
        self.truth: SimGroundTruth | None = None
        self.status: list[str] = []
        self.in_bin_since: float | None = None
        self.target_class = ""  # "" = not watching (scripted mode reports itself)
        self.cubes = 1
        self.watch_fall = False  # conveyor: a target cube that falls off the table ends the run
        self.fell = False
        self.trace: list[list[float]] = []  # conveyor: [stamp s, wall s, TCP xyz, target xyz] per truth
        self.belt_speed_m_s = 0.0  # conveyor: started at this speed on the policy's first chunk
        self.belt_started_s: float | None = None  # monotonic time the belt was started
        self.perception_stale = 0  # frames perception skipped on purpose (latest-frame-only), /diagnostics
        self.policy_old = 0  # tracks the policy skipped on purpose: older than its max_tracks_age_s
        self.policy_idle = 0  # tracks with nothing to do: no target or bin yet, or the task done
        self.create_subscription(Image, "/camera/camera/color/image_raw", self._on_image, SENSOR)
        self.create_subscription(SimGroundTruth, "/sim/ground_truth", self._on_truth, STATE)
        self.create_subscription(String, "/scripted_pick/status", self._on_status, LATCHED)
        self.create_subscription(JointState, "/joint_states", self._on_joints, STATE)
        # The closed loop's outcome, for a recorded bag (`visuomotor eval BAG` reads */status topics).
        self.status_pub = self.create_publisher(String, STATUS_TOPIC, LATCHED)
        self.belt_pub = self.create_publisher(Float64, "/sim/conveyor_speed", LATCHED)
        self.create_subscription(ActionChunk, "/visuomotor/action_chunk", self._on_chunk, STATE)
        self.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, STATE)

    def _on_diagnostics(self, msg: DiagnosticArray) -> None:
        for status in msg.status:
            if status.name == "perception: pipeline":
                values = {kv.key: kv.value for kv in status.values}
                with self.lock:
                    self.perception_stale = int(values.get("stale", self.perception_stale))
            elif status.name == "policy: ticks":
                values = {kv.key: kv.value for kv in status.values}
                with self.lock:
                    self.policy_old = int(values.get("old", self.policy_old))
                    self.policy_idle = int(values.get("idle", self.policy_idle))

    def _on_chunk(self, msg: ActionChunk) -> None:
        with self.lock:
            start = self.belt_speed_m_s > 0 and self.belt_started_s is None
            if start:
                self.belt_started_s = time.monotonic()
        if start:
            self.belt_pub.publish(Float64(data=self.belt_speed_m_s))

    def _on_image(self, msg: Image) -> None:
        with self.lock:
            self.image = msg

    def frame(self) -> np.ndarray | None:
        """The latest colour frame as RGB (None before the first)."""
        with self.lock:
            msg = self.image
        if msg is None:
            return None
        rgb = image_array(msg)
        return rgb[:, :, ::-1].copy() if msg.encoding == "bgr8" else rgb.copy()

    def _on_joints(self, msg: JointState) -> None:
        index = {n: i for i, n in enumerate(msg.name)}
        if not all(n in index for n in UR10E_JOINT_NAMES) or len(msg.velocity) != len(msg.name):
            return
        q = [msg.position[index[n]] for n in UR10E_JOINT_NAMES]
        qd = [msg.velocity[index[n]] for n in UR10E_JOINT_NAMES]
        with self.lock:
            self.monitor.check(np.array(q), np.array(qd))

    def _on_truth(self, msg: SimGroundTruth) -> None:
        with self.lock:
            self.truth = msg
            if self.watch_fall:
                target = next((o for o in msg.objects if o.class_name == self.target_class), None)
                if target is not None:
                    p, tcp = target.pose.position, msg.tcp_pose.position
                    t_s = stamp_to_ns(msg.header.stamp) * 1e-9
                    self.trace.append([t_s, time.monotonic(), tcp.x, tcp.y, tcp.z, p.x, p.y, p.z])
                    self.fell = self.fell or p.z < FELL_BELOW_M
            placed = bool(self.target_class) and released_in_bin(msg, self.target_class) >= self.cubes
            if not placed:
                self.in_bin_since = None
            elif self.in_bin_since is None:
                self.in_bin_since = stamp_to_ns(msg.header.stamp) * 1e-9

    def placed_for_s(self) -> float:
        """Sim seconds the target has lain released in the bin (0 if it does not)."""
        with self.lock:
            if self.in_bin_since is None or self.truth is None:
                return 0.0
            return stamp_to_ns(self.truth.header.stamp) * 1e-9 - self.in_bin_since

    def _on_status(self, msg: String) -> None:
        with self.lock:
            self.status.append(msg.data)
        print(f"  pick: {msg.data}", flush=True)


def released_in_bin(truth: SimGroundTruth, target_class: str) -> int:
    """How many cubes of ``target_class`` (any cube class for ``any``) lie inside the bin with the TCP
    ≥ 5 cm above them all (let go)."""
    bin_msg = next((o for o in truth.objects if o.class_name == "bin"), None)
    cubes = [o for o in truth.objects if o.class_name != "bin"
             and (target_class == "any" or o.class_name == target_class)]
    if bin_msg is None or not cubes:
        return 0

    def state(o: object) -> ObjectState:
        p = o.pose.position  # type: ignore[attr-defined]
        q = o.pose.orientation  # type: ignore[attr-defined]
        e = o.extent  # type: ignore[attr-defined]
        return ObjectState(o.name, o.class_name, o.size_m, np.array([e.x, e.y, e.z]),  # type: ignore[attr-defined]
                           np.array([p.x, p.y, p.z]), np.array([q.w, q.x, q.y, q.z]))

    bin_state = state(bin_msg)
    placed = [c for c in map(state, cubes) if cube_in_bin(c, bin_state)]
    if any(truth.tcp_pose.position.z - c.position_m[2] < 0.05 for c in placed):
        return 0  # still holding (or just over) one of them
    return len(placed)


def write_figure(path: Path, frame: np.ndarray, summary: LatencySummary, title: str) -> None:
    """The camera view beside the latency table, as one PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_img, ax_tab) = plt.subplots(1, 2, figsize=(15, 5.2), gridspec_kw={"width_ratios": [1.0, 1.15]})
    ax_img.imshow(frame)
    ax_img.set_title("camera (sim, 640×480 colour)")
    ax_img.axis("off")
    ax_tab.axis("off")
    ax_tab.text(0.0, 1.0, summary.format_table(), family="monospace", fontsize=8.5, va="top", ha="left",
                transform=ax_tab.transAxes)
    ax_tab.set_title("latency per frame (ms)")
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mode", choices=("closed_loop", "scripted"), default="closed_loop",
                    help="closed_loop: perception → ACT → commander (default); scripted: ground-truth pick")
    ap.add_argument("--realtime", action="store_true",
                    help="closed loop as on the robot: sim time paced to the wall clock, camera at 30 Hz, "
                         "the policy on each frame's tracks (default: lock-step at 10 Hz, "
                         "machine-independent)")
    ap.add_argument("--timeout", type=float, default=120.0, help="give up after this many wall seconds")
    ap.add_argument("--seed", type=int, default=0, help="scene seed")
    ap.add_argument("--target", default="red_cube", help="class of the cube to pick (any: the nearest)")
    ap.add_argument("--task", choices=("pick", "conveyor"), default="pick",
                    help="pick: cubes on the table (default); conveyor: the cube on the belt "
                         "(config/conveyor.yaml for the sim and the policy)")
    ap.add_argument("--no-latency-compensation", dest="latency_compensation", action="store_false",
                    help="conveyor task: the policy aims where the camera saw the cube, not where it will be")
    ap.add_argument("--cubes", type=int, default=1,
                    help="closed loop: cubes to place, nearest first, moving home between picks (target any)")
    ap.add_argument("--out", type=Path, default=None, help="results folder (default results/demo-<time>)")
    ap.add_argument("--record", type=Path, default=None,
                    help="also record camera, joints, ground truth and every pipeline output to this "
                         "new bag directory (config/recorder.yaml topics; then `visuomotor eval BAG`)")
    args = ap.parse_args(argv)
    if args.cubes < 1:
        ap.error("--cubes must be ≥ 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    root = Path(os.environ.get("VISUOMOTOR_ROOT", Path.cwd()))
    args.out = args.out or root / "results" / f"demo-{datetime.now():%Y%m%d-%H%M%S}"
    run = run_demo(args, root, quiet=False)
    return 0 if run["success"] else 1


def run_demo(args: argparse.Namespace, root: Path, *, quiet: bool) -> dict:
    """One run of the demo (see the module docstring); returns what result.json holds, plus the latency
    summary and the safety monitor's findings."""
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    config = root / "config"
    if not quiet:
        print(f"visuomotor demo → {out}", flush=True)

    # The observer first: if it cannot start, no node process is left behind.
    rclpy.init()
    safety = SafetyConfig.from_flat(read_params_file(config / "safety.yaml", "commander"))
    observer = DemoObserver(safety)
    target = "any" if args.cubes > 1 else args.target
    observer.target_class = target if args.mode == "closed_loop" else ""
    observer.cubes = args.cubes
    task = getattr(args, "task", "pick")
    observer.watch_fall = task == "conveyor"
    if task == "conveyor":
        sim_flat = read_params_file(config / "sim.yaml", "sim", required=False)
        sim_flat |= read_params_file(config / "conveyor.yaml", "sim", required=False)
        observer.belt_speed_m_s = float(sim_flat.get("conveyor.speed_m_s", 0.0))
    lockstep = {"seed": args.seed, "publish_rate_hz": CLOSED_LOOP_CAMERA_HZ, "clock_mode": "lockstep"}
    closed_loop_sim = {"seed": args.seed} if args.realtime else lockstep
    # The task's overrides (sim: the belt; policy: task, model) as a second params file: the later wins.
    task_files = [config / "conveyor.yaml"] if task == "conveyor" else []
    sim_params = closed_loop_sim if args.mode == "closed_loop" else {"seed": args.seed}
    if task == "conveyor" and args.mode == "closed_loop":
        sim_params = {**sim_params, "conveyor_start": "on_request"}
    procs = [NodeProcess("sim", sim_params, params_files=[config / "sim.yaml", *task_files],
                         log_path=out / "sim.log")]
    if args.mode == "closed_loop":
        sim_time = {"use_sim_time": True}
        policy_params = {**sim_time, "target_class": target, "max_picks": args.cubes}
        if not getattr(args, "latency_compensation", True):
            policy_params["latency_compensation"] = False
        procs += [
            NodeProcess("perception", {"latency_monitor:print_table": False},
                        params_files=[config / f for f in PERCEPTION_FILES], log_path=out / "perception.log"),
            NodeProcess("policy", policy_params,
                        params_files=[config / "policy.yaml", *task_files], log_path=out / "policy.log"),
            NodeProcess("commander", sim_time, params_files=[config / "safety.yaml"],
                        log_path=out / "commander.log"),
        ]
        monitor = {"json_path": str(out / "latency.json"), "print_table": False}
    else:
        procs.append(NodeProcess("scripted_pick", {"target_class": args.target},
                                 log_path=out / "scripted_pick.log"))
        monitor = {"json_path": str(out / "latency.json"), "print_table": False}
    if args.record is not None:
        procs.append(NodeProcess("recorder", {"output": str(args.record.resolve())},
                                 params_files=[config / "recorder.yaml"], log_path=out / "recorder.log"))
    procs.append(NodeProcess("latency_monitor", monitor, params_files=[config / "latency_monitor.yaml"],
                             log_path=out / "latency_monitor.log"))
    executor = SingleThreadedExecutor()
    executor.add_node(observer)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    t0 = time.monotonic()
    result = "timeout"
    try:
        while time.monotonic() - t0 < args.timeout:
            with observer.lock:
                done = [s for s in observer.status if s.startswith("done")]
            if done:
                result = done[-1].removeprefix("done: ")
                break
            with observer.lock:
                fell = observer.fell
            if fell:
                result = "failure — the target cube fell off the end of the belt"
                observer.status_pub.publish(String(data=f"done: {result}"))
                break
            if observer.placed_for_s() >= 1.0:  # closed loop: resting in the bin, released, for 1 s
                result = "success"
                observer.status_pub.publish(String(data="done: success"))
                time.sleep(0.5)  # let a recorder write it before the nodes stop
                break
            dead = [f"{p.name} (exit {p.proc.returncode})" for p in procs if not p.alive()]
            if dead:
                result = f"failure — node(s) exited early: {', '.join(dead)} (see their logs in {out})"
                break
            time.sleep(0.1)
    except KeyboardInterrupt:
        result = "interrupted"
    finally:
        for proc in reversed(procs):  # the monitor writes its JSON on SIGINT
            proc.stop(timeout_s=20.0)
        executor.shutdown()
        spinner.join(5)
    with observer.lock:
        status = list(observer.status)
        skipped_stale = observer.perception_stale + observer.policy_old
        idle = observer.policy_idle
        trace = list(observer.trace)
    frame = observer.frame()
    if trace:  # the conveyor's TCP and cube, per frame (sim time), for a look at how the grasp went
        columns = ["t_s", "monotonic_s", "tcp_x", "tcp_y", "tcp_z", "cube_x", "cube_y", "cube_z"]
        (out / "trace.json").write_text(json.dumps({"columns": columns, "rows": trace}))
    observer.destroy_node()
    rclpy.try_shutdown()

    wall_s = time.monotonic() - t0
    success = result == "success"
    latency_path = out / "latency.json"
    summary = None
    if latency_path.exists():
        summary = LatencySummary.from_dict(json.loads(latency_path.read_text()))
    with observer.lock:
        violations = [f"{v.reason}: {v.detail}" for v in observer.monitor.violations]
        peak_velocity_ratio = observer.monitor.peak_velocity_ratio
    run = {"success": success, "result": result, "wall_s": round(wall_s, 2), "seed": args.seed,
           "target_class": target, "cubes": args.cubes, "mode": args.mode, "realtime": args.realtime,
           "task": task, "latency_compensation": getattr(args, "latency_compensation", True),
           "belt_started_after_s": (None if observer.belt_started_s is None
                                    else round(observer.belt_started_s - t0, 2)),
           "status": status, "skipped_stale": skipped_stale, "safety_violations": len(violations),
           "violations": violations[:20],
           "peak_velocity_ratio": round(peak_velocity_ratio, 3)}
    (out / "result.json").write_text(json.dumps(run, indent=2))
    run["latency"] = summary
    if quiet:
        return run
    print()
    if summary is not None:
        print(summary.format_table())
    what = "closed loop (perception → ACT → commander)" if args.mode == "closed_loop" else "scripted pick"
    task = f"one {args.target}" if args.cubes == 1 else f"{args.cubes} cubes"
    print(f"\n{what} of {task}: {'SUCCESS' if success else 'FAILED'} ({result}) in {wall_s:.1f} s; "
          f"safety violations (measured arm vs limits): {len(violations)}")
    if summary is not None:
        seen = summary.frames + summary.dropped
        lost, stale = max(0, summary.dropped - skipped_stale), min(skipped_stale, summary.dropped)
        print(f"camera frames that reached a command: {summary.frames}/{seen}, dropped {summary.dropped} "
              f"({100 * summary.dropped / max(1, seen):.1f} %): {stale} skipped on purpose "
              f"(stale: a newer frame was waiting, or tracks too old to act on), {idle} with nothing to do "
              f"(no target yet, task done), {max(0, lost - idle)} lost")
    if frame is not None and summary is not None:
        import matplotlib.pyplot as plt

        plt.imsave(out / "camera.png", frame)
        write_figure(out / "demo.png", frame, summary,
                     f"{what} of {task}: {'success' if success else result}")
        print(f"figure: {out / 'demo.png'}")
    return run


if __name__ == "__main__":
    raise SystemExit(main())
