"""The sim demo: MuJoCo world + scripted pick of one cube + latency monitor, each in its own process.

Prints the pick result and the latency table, and writes under ``results/demo-<time>/``:
``demo.png`` (the camera view beside the latency table), ``camera.png``, ``latency.json``, ``result.json``
and one log per node. Usage: ``python -m visuomotor_ros.demo [--timeout 90] [--seed 0] [--out DIR]``.
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
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from sensor_msgs.msg import Image
from std_msgs.msg import String

from visuomotor.latency import LatencySummary
from visuomotor_interfaces.msg import SimGroundTruth
from visuomotor_ros.convert import image_to_numpy
from visuomotor_ros.launcher import NodeProcess
from visuomotor_ros.qos import LATCHED, SENSOR, STATE

__all__ = ["main", "write_figure"]


class DemoObserver(Node):
    """Keeps the latest camera frame, ground truth and pick status."""

    def __init__(self) -> None:
        super().__init__("demo_observer")
        self.lock = threading.Lock()
        self.frame: np.ndarray | None = None
        self.truth: SimGroundTruth | None = None
        self.status: list[str] = []
        self.create_subscription(Image, "/camera/camera/color/image_raw", self._on_image, SENSOR)
        self.create_subscription(SimGroundTruth, "/sim/ground_truth", self._on_truth, STATE)
        self.create_subscription(String, "/scripted_pick/status", self._on_status, LATCHED)

    def _on_image(self, msg: Image) -> None:
        rgb = image_to_numpy(msg)
        with self.lock:
            self.frame = rgb[:, :, ::-1].copy() if msg.encoding == "bgr8" else rgb.copy()

    def _on_truth(self, msg: SimGroundTruth) -> None:
        with self.lock:
            self.truth = msg

    def _on_status(self, msg: String) -> None:
        with self.lock:
            self.status.append(msg.data)
        print(f"  pick: {msg.data}", flush=True)


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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--timeout", type=float, default=120.0, help="give up after this many wall seconds")
    ap.add_argument("--seed", type=int, default=0, help="scene seed")
    ap.add_argument("--target", default="red_cube", help="class of the cube to pick")
    ap.add_argument("--out", type=Path, default=None, help="results folder (default results/demo-<time>)")
    args = ap.parse_args(argv)

    root = Path(os.environ.get("VISUOMOTOR_ROOT", Path.cwd()))
    out = args.out or root / "results" / f"demo-{datetime.now():%Y%m%d-%H%M%S}"
    out.mkdir(parents=True, exist_ok=True)
    config = root / "config"
    print(f"visuomotor demo → {out}", flush=True)

    procs = [
        NodeProcess("sim", {"seed": args.seed}, params_files=[config / "sim.yaml"], log_path=out / "sim.log"),
        NodeProcess("latency_monitor", {"json_path": str(out / "latency.json"), "print_table": False},
                    params_files=[config / "latency_monitor.yaml"], log_path=out / "latency_monitor.log"),
        NodeProcess("scripted_pick", {"target_class": args.target}, log_path=out / "scripted_pick.log"),
    ]
    rclpy.init()
    observer = DemoObserver()
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
            dead = [p.name for p in procs if not p.alive()]
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
        frame, status = observer.frame, list(observer.status)
    observer.destroy_node()
    rclpy.try_shutdown()

    wall_s = time.monotonic() - t0
    success = result == "success"
    latency_path = out / "latency.json"
    summary = None
    if latency_path.exists():
        summary = LatencySummary.from_dict(json.loads(latency_path.read_text()))
    (out / "result.json").write_text(json.dumps(
        {"success": success, "result": result, "wall_s": round(wall_s, 2), "seed": args.seed,
         "target_class": args.target, "status": status}, indent=2))
    print()
    if summary is not None:
        print(summary.format_table())
    print(f"\npick of one {args.target}: {'SUCCESS' if success else 'FAILED'} ({result}) in {wall_s:.1f} s")
    if frame is not None and summary is not None:
        import matplotlib.pyplot as plt

        plt.imsave(out / "camera.png", frame)
        write_figure(out / "demo.png", frame, summary,
                     f"scripted pick of one {args.target}: {'success' if success else result}")
        print(f"figure: {out / 'demo.png'}")
    return 0 if success else 1


if __name__ == "__main__":
    raise SystemExit(main())
