"""Transport benchmark: per-hop latency of 640×480 colour + depth frames, and the sim's render/physics rate.

Hops measured (publish → subscriber callback, p50/p99 over N frames at 30 Hz, CLOCK_MONOTONIC):
  - same process: publisher and subscriber nodes in one executor;
  - cross process: a publisher process (this script with ``--role publisher``) → this process,
    with the Fast DDS profile of config/fastdds.xml (exported by scripts/env.sh).
Sim: MuJoCo render (RGB + depth) time per frame and physics steps per second (with the arm holding).

Usage: source scripts/env.sh && python bench/transport.py [--frames 300] [--json results/bench/transport.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import rclpy
from rclpy.context import Context
from rclpy.executors import MultiThreadedExecutor
from rclpy.node import Node
from sensor_msgs.msg import Image

from visuomotor.latency import percentile_ms
from visuomotor_ros.convert import numpy_to_image, stamp_to_ns
from visuomotor_ros.qos import SENSOR

COLOR, DEPTH = "/bench/color", "/bench/depth"
ROOT = Path(__file__).resolve().parents[1]


def frames(width: int = 640, height: int = 480) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return (
        rng.integers(0, 255, (height, width, 3), dtype=np.uint8),
        rng.integers(300, 3000, (height, width), dtype=np.uint16),
    )


class Publisher(Node):
    """Publishes colour + depth at ``rate_hz``, stamped with CLOCK_MONOTONIC at publish time."""

    def __init__(self, n: int, rate_hz: float, context: Context) -> None:
        super().__init__("bench_publisher", context=context)
        self.rgb, self.depth = frames()
        self.pub_c = self.create_publisher(Image, COLOR, SENSOR)
        self.pub_d = self.create_publisher(Image, DEPTH, SENSOR)
        self.n, self.sent = n, 0
        self.done = threading.Event()
        self.timer = self.create_timer(1.0 / rate_hz, self.tick)

    def tick(self) -> None:
        if self.pub_c.get_subscription_count() == 0:
            return  # wait for the subscriber to match before counting frames
        if self.sent >= self.n:
            self.done.set()
            return
        stamp = time.monotonic_ns()
        self.pub_c.publish(numpy_to_image(self.rgb, "rgb8", stamp, "cam"))
        self.pub_d.publish(numpy_to_image(self.depth, "16UC1", stamp, "cam"))
        self.sent += 1


class Subscriber(Node):
    def __init__(self, context: Context) -> None:
        super().__init__("bench_subscriber", context=context)
        self.latency_ns: dict[str, list[int]] = {COLOR: [], DEPTH: []}
        for topic in (COLOR, DEPTH):
            self.create_subscription(Image, topic, self._cb(topic), SENSOR)

    def _cb(self, topic: str):
        def on_msg(msg: Image) -> None:
            self.latency_ns[topic].append(time.monotonic_ns() - stamp_to_ns(msg.header.stamp))

        return on_msg


def _spin(context: Context, nodes: list[Node], until: threading.Event, timeout_s: float) -> None:
    executor = MultiThreadedExecutor(2, context=context)
    for node in nodes:
        executor.add_node(node)
    thread = threading.Thread(target=executor.spin, daemon=True)
    thread.start()
    until.wait(timeout_s)
    executor.shutdown()
    thread.join(5)


def _stats(name: str, samples: list[int], n: int) -> dict[str, float | int | str]:
    arr = np.asarray(samples, dtype=np.int64)
    return {
        "hop": name,
        "received": int(arr.size),
        "sent": n,
        "p50_ms": percentile_ms(arr, 50) if arr.size else float("nan"),
        "p99_ms": percentile_ms(arr, 99) if arr.size else float("nan"),
        "max_ms": float(arr.max() / 1e6) if arr.size else float("nan"),
    }


def same_process(n: int, rate_hz: float) -> list[dict]:
    context = Context()
    rclpy.init(context=context)
    pub, sub = Publisher(n, rate_hz, context), Subscriber(context)
    _spin(context, [pub, sub], pub.done, timeout_s=n / rate_hz + 30)
    time.sleep(0.2)
    rows = [_stats(f"same-process {k.split('/')[-1]}", v, pub.sent) for k, v in sub.latency_ns.items()]
    pub.destroy_node()
    sub.destroy_node()
    rclpy.try_shutdown(context=context)
    return rows


def cross_process(n: int, rate_hz: float) -> list[dict]:
    context = Context()
    rclpy.init(context=context)
    sub = Subscriber(context)
    proc = subprocess.Popen(
        [sys.executable, __file__, "--role", "publisher", "--frames", str(n), "--rate", str(rate_hz)],
        env=os.environ.copy(),
    )
    done = threading.Event()
    threading.Thread(target=lambda: (proc.wait(), done.set()), daemon=True).start()
    _spin(context, [sub], done, timeout_s=n / rate_hz + 60)
    if proc.poll() is None:
        proc.kill()
    rows = [_stats(f"cross-process {k.split('/')[-1]}", v, n) for k, v in sub.latency_ns.items()]
    sub.destroy_node()
    rclpy.try_shutdown(context=context)
    return rows


def run_publisher(n: int, rate_hz: float) -> None:
    context = Context()
    rclpy.init(context=context)
    pub = Publisher(n, rate_hz, context)
    _spin(context, [pub], pub.done, timeout_s=n / rate_hz + 60)
    time.sleep(0.5)  # let the last frames leave before the participant goes away
    pub.destroy_node()
    rclpy.try_shutdown(context=context)


def sim_rates(renders: int = 100, steps: int = 5000) -> dict[str, float]:
    from visuomotor.sim import SimConfig, SimWorld

    world = SimWorld(SimConfig())
    world.reset(0)
    world.render()  # warm up the GL context
    render_ns = []
    for _ in range(renders):
        t = time.monotonic_ns()
        world.render()
        render_ns.append(time.monotonic_ns() - t)
    t = time.perf_counter()
    world.step(steps)
    physics_s = time.perf_counter() - t
    timestep = float(world.model.opt.timestep)
    return {
        "render_p50_ms": percentile_ms(render_ns, 50),
        "render_p99_ms": percentile_ms(render_ns, 99),
        "render_fps": 1e9 / float(np.median(render_ns)),
        "physics_steps_per_s": steps / physics_s,
        "physics_realtime_factor": steps * timestep / physics_s,
        "timestep_s": timestep,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--rate", type=float, default=30.0)
    ap.add_argument("--json", type=Path, default=ROOT / "results" / "bench" / "transport.json")
    ap.add_argument("--role", choices=("bench", "publisher"), default="bench")
    args = ap.parse_args()
    if args.role == "publisher":
        run_publisher(args.frames, args.rate)
        return 0

    hops = same_process(args.frames, args.rate) + cross_process(args.frames, args.rate)
    sim = sim_rates()
    print(f"\nTransport of 640×480 rgb8 + 16UC1 at {args.rate:.0f} Hz ({args.frames} frames)")
    print(f"{'hop':<24} {'received':>9} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for r in hops:
        rec = f"{r['received']}/{r['sent']}"
        print(f"{r['hop']:<24} {rec:>9} {r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f} {r['max_ms']:>8.2f}")
    print("\nSim (MuJoCo, EGL, 640×480 RGB + depth)")
    print(f"render p50 {sim['render_p50_ms']:.1f} ms, p99 {sim['render_p99_ms']:.1f} ms "
          f"({sim['render_fps']:.0f} fps); physics {sim['physics_steps_per_s']:.0f} steps/s "
          f"= {sim['physics_realtime_factor']:.1f}× real time at {sim['timestep_s'] * 1e3:.0f} ms")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"frames": args.frames, "rate_hz": args.rate, "hops": hops, "sim": sim},
                                    indent=2))
    print(f"\nJSON: {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
