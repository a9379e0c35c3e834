"""Control benchmark: IK per solve, ACT ONNX per chunk, and the commander (IK chain + safety) per chunk.

- IK: ``Ur10eKinematics.nearest`` (closed-form, all branches, nearest to a seed) on random reachable TCP
  poses (FK of random joints inside the limits, seeded with a nearby configuration, as the commander does).
- ACT: ``ActOnnxPolicy.predict_action_chunk`` (normalise → onnxruntime → un-normalise) on observations of
  the demos' range, ``intra_op_threads`` = 2 (the issue's budget: ≤ 2 ms/chunk p50).
- Commander: ``Commander.plan`` on a 3-step chunk (what the policy node publishes): chained IK, timing,
  and every safety check of the interpolated path.

Goals: IK ≤ 50 µs/solve p50, ACT ≤ 2 ms/chunk p50 (2 CPU threads). Prints a table, writes JSON with the
keys ``ik_us_p50``, ``act_ms_p50``, ``act_ms_p99`` (and more).

Usage: source scripts/env.sh && python bench/control.py [--iterations 2000]
       [--json results/bench/control.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from visuomotor.control import Commander, SafetyConfig
from visuomotor.kinematics import T_FLANGE_TCP, Ur10eKinematics
from visuomotor.policy import ActOnnxPolicy, action_from_pose, build_observation
from visuomotor.sim.world import top_down_tcp_pose

ROOT = Path(__file__).resolve().parents[1]
HOME_Q = np.array([-0.4, -2.2, 2.1, -1.47, -1.5708, 0.0])


def percentiles(samples_ns: list[int], scale: float) -> dict[str, float]:
    a = np.asarray(samples_ns, dtype=np.float64) / scale
    return {"p50": float(np.percentile(a, 50)), "p99": float(np.percentile(a, 99)), "mean": float(a.mean())}


def bench_ik(n: int, rng: np.random.Generator) -> dict[str, float]:
    kin = Ur10eKinematics(T_flange_tcp=T_FLANGE_TCP)
    qs = HOME_Q + rng.uniform(-0.6, 0.6, (n, 6))
    poses = kin.forward_batch(qs)
    seeds = qs + rng.normal(0.0, 0.05, qs.shape)  # the previous command: close to the answer
    times, worst = [], 0.0
    for T, seed in zip(poses, seeds, strict=True):
        t0 = time.perf_counter_ns()
        q = kin.nearest(T, seed)
        times.append(time.perf_counter_ns() - t0)
        worst = max(worst, float(np.abs(kin.forward(q)[:3, 3] - T[:3, 3]).max()))
    return {**percentiles(times, 1e3), "worst_position_error_m": worst}


def bench_act(model: Path, n: int, rng: np.random.Generator) -> tuple[dict[str, float], str]:
    policy = ActOnnxPolicy(model, intra_op_threads=2)
    obs = [
        build_observation(HOME_Q + rng.normal(0, 0.2, 6), rng.uniform(0, 0.4),
                          np.array([rng.uniform(0.4, 0.9), rng.uniform(-0.15, 0.5), 0.025]),
                          np.array([0.55, -0.45, 0.05]))
        for _ in range(n)
    ]
    for o in obs[:50]:  # warm-up
        policy.predict_action_chunk(o)
    times = []
    for o in obs:
        t0 = time.perf_counter_ns()
        policy.predict_action_chunk(o)
        times.append(time.perf_counter_ns() - t0)
    return percentiles(times, 1e6), policy.provider


def bench_commander(n: int, rng: np.random.Generator) -> dict[str, float]:
    commander = Commander(SafetyConfig(), T_flange_tcp=T_FLANGE_TCP)
    kin = Ur10eKinematics(T_flange_tcp=T_FLANGE_TCP)
    times, accepted = [], 0
    for _ in range(n):
        start = kin.forward(HOME_Q)[:3, 3] + rng.uniform(-0.05, 0.05, 3)
        goal = np.array([rng.uniform(0.45, 0.85), rng.uniform(-0.1, 0.45), rng.uniform(0.1, 0.4)])
        steps = np.linspace(start, start + 0.1 * (goal - start), 3)
        poses = np.stack([top_down_tcp_pose(p, 0.0) for p in steps])
        q0 = kin.nearest(top_down_tcp_pose(start, 0.0), HOME_Q)
        t0 = time.perf_counter_ns()
        cmd = commander.plan(poses, np.zeros(3), 0.1, q0, now_ns=1, perception_stamp_ns=1, joints_stamp_ns=1)
        times.append(time.perf_counter_ns() - t0)
        accepted += cmd.accepted
        # Keep the action layout honest: the chunk poses survive the round trip through the action vector.
        assert np.isfinite(action_from_pose(poses[0], 0.0)).all()
    return {**percentiles(times, 1e6), "accepted": accepted, "chunks": n}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--iterations", type=int, default=2000, help="samples per measurement")
    ap.add_argument("--model", type=Path, default=ROOT / "models" / "act_pick.onnx")
    ap.add_argument("--json", type=Path, default=ROOT / "results" / "bench" / "control.json")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    ik = bench_ik(args.iterations, rng)
    act, provider = bench_act(args.model, args.iterations, rng)
    plan = bench_commander(max(args.iterations // 4, 50), rng)
    report = {
        "ik_us_p50": ik["p50"],
        "ik_us_p99": ik["p99"],
        "ik_worst_position_error_m": ik["worst_position_error_m"],
        "act_ms_p50": act["p50"],
        "act_ms_p99": act["p99"],
        "act_provider": provider,
        "act_threads": 2,
        "commander_ms_p50": plan["p50"],
        "commander_ms_p99": plan["p99"],
        "commander_accepted": f"{plan['accepted']}/{plan['chunks']}",
        "goals": {"ik_us_p50": 50.0, "act_ms_p50": 2.0},
        "iterations": args.iterations,
        "machine": {
            "cpu_count": os.cpu_count(), "python": platform.python_version(), "arch": platform.machine()
        },
    }
    rows = [
        ("IK nearest (µs/solve)", ik["p50"], ik["p99"], "≤ 50 p50"),
        ("ACT ONNX (ms/chunk, 2 threads)", act["p50"], act["p99"], "≤ 2 p50"),
        ("commander.plan, 3 steps (ms)", plan["p50"], plan["p99"], ""),
    ]
    print(f"\n{'measurement':<34} {'p50':>9} {'p99':>9}  goal")
    for name, p50, p99, goal in rows:
        print(f"{name:<34} {p50:>9.3f} {p99:>9.3f}  {goal}")
    print(f"IK worst FK∘IK position error {ik['worst_position_error_m']:.1e} m; commander accepted "
          f"{plan['accepted']}/{plan['chunks']} chunks")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(f"JSON: {args.json}")
    met = report["ik_us_p50"] <= 50.0 and report["act_ms_p50"] <= 2.0
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
