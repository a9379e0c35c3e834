"""Chaos run on the real graph (not CI): fuzz every subscribed topic, stall the camera, e-stop, SIGSTOP and
kill -9 the commander, for several rounds; re-check every command any node published, independently of the
guard, against the joint position/velocity/acceleration limits and the whole-arm collision model.

    python bench/faults.py --json results/bench/faults.json [--rounds 3] [--examples 200]

Uses the harness of ``tests/faults`` (``tests/faults/chaos.py``): sim, commander, latency monitor and
scripted_pick in their own processes, a probe streaming action chunks. Writes ``faults_injected``,
``commands_checked``, ``commands_outside_limits``, ``node_deaths_from_input``, ``max_hold_latency_ms``,
``recovered`` (and details) as JSON and prints a summary. Set ``ROS_DOMAIN_ID`` to a free domain.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "faults"))
sys.path.insert(0, str(ROOT / "tests" / "ros"))
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.setdefault("FASTDDS_DEFAULT_PROFILES_FILE", str(ROOT / "config" / "fastdds.xml"))
os.environ.setdefault("MUJOCO_GL", "egl")

from chaos import FUZZ_TARGETS, ChaosGraph, CheckResult, Fuzzer  # noqa: E402
from graph_probe import GraphProbe  # noqa: E402
from hypothesis import HealthCheck, given, seed, settings  # noqa: E402

from visuomotor_ros.launcher import NodeProcess  # noqa: E402


def _wait(predicate: Any, timeout_s: float) -> bool:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def _recovered(graph: ChaosGraph, timeout_s: float = 20.0) -> bool:
    graph.home()
    t = time.monotonic()
    return _wait(lambda: graph.accepted_since(t) >= 2, timeout_s)


def _fuzz(graph: ChaosGraph, fuzzer: Fuzzer, target: str, examples: int, round_seed: int) -> None:
    @seed(round_seed)  # reproducible rounds, different messages in each
    @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(FUZZ_TARGETS[target][3])
    def run(drawn: object) -> None:
        fuzzer.send(target, drawn)
        time.sleep(0.002)

    run()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", type=Path, default=ROOT / "results" / "bench" / "faults.json")
    ap.add_argument("--rounds", type=int, default=3, help="rounds of every fault (default 3)")
    ap.add_argument("--examples", type=int, default=200, help="fuzzed messages per topic per round (200)")
    ap.add_argument("--logs", type=Path, default=ROOT / "results" / "bench" / "faults-logs")
    args = ap.parse_args()
    if args.rounds < 1 or args.examples < 1:
        print("error: --rounds and --examples must be ≥ 1", file=sys.stderr)
        return 2
    args.logs.mkdir(parents=True, exist_ok=True)
    procs: list[NodeProcess] = []

    def launch(name: str, params: dict[str, Any] | None = None, **kwargs: Any) -> NodeProcess:
        proc = NodeProcess(name, params=params, log_path=args.logs / f"{name}-{len(procs)}.log", **kwargs)
        procs.append(proc)
        return proc

    probe = GraphProbe("faults_bench")
    graph = ChaosGraph(probe, launch)
    deaths: list[str] = []
    latencies: list[float] = []
    recoveries: list[bool] = []
    start = time.monotonic()
    try:
        graph.wait_ready()
        graph.streaming(True)
        recoveries.append(_recovered(graph, 30.0))
        fuzzer = Fuzzer(graph)
        for r in range(args.rounds):
            for i, target in enumerate(sorted(FUZZ_TARGETS)):
                graph.mark(f"round {r} fuzz {target}")
                _fuzz(graph, fuzzer, target, args.examples, 1000 * r + i)
                dead = [name for name, ok in graph.alive().items() if not ok]
                deaths += [f"{name} after fuzzing {target}" for name in dead]
                for name in dead:  # keep going: count it, restart it
                    graph.restart(name)
                if target == "commander/estop":
                    graph.reset_estop()
                recoveries.append(_recovered(graph))
                print(f"round {r}: {target}: {'ok' if not dead else 'DIED: ' + ', '.join(dead)}", flush=True)
            graph.mark(f"round {r} camera stall")
            graph.freeze_camera(True)
            time.sleep(1.0)
            graph.freeze_camera(False)
            recoveries.append(_recovered(graph))
            graph.mark(f"round {r} e-stop")
            latencies.append(graph.estop_hold_latency_ms())
            time.sleep(0.5)
            graph.reset_estop()
            recoveries.append(_recovered(graph))
            graph.mark(f"round {r} SIGSTOP commander 0.5 s")  # a commander starved of CPU for 0.5 s
            graph.pause("commander", 0.5)
            graph.faults += 1
            recoveries.append(_recovered(graph))
            graph.mark(f"round {r} kill -9 commander")
            graph.kill9("commander")
            graph.faults += 1
            time.sleep(1.5)
            graph.restart("commander")
            recoveries.append(_recovered(graph, 40.0))
            print(f"round {r}: stall, e-stop ({latencies[-1]:.1f} ms), SIGSTOP, kill -9: done", flush=True)
        result: CheckResult = graph.check_commands(0)[0]
        alive = graph.alive()
    finally:
        graph.close()
        for proc in reversed(procs):
            proc.stop()
        probe.close()
    report = {
        "faults_injected": graph.faults,
        "commands_checked": result.checked,
        "commands_outside_limits": len(result.outside),
        "node_deaths_from_input": len(deaths),
        "max_hold_latency_ms": round(max(latencies), 2) if latencies else None,
        "recovered": bool(all(recoveries) and all(alive.values())),
        "rounds": args.rounds,
        "examples_per_topic": args.examples,
        "wall_s": round(time.monotonic() - start, 1),
        "hold_latencies_ms": [round(x, 2) for x in latencies],
        "recoveries_failed": recoveries.count(False),
        "deaths": deaths,
        "outside": result.outside[:50],
    }
    if os.environ.get("FAULTS_DUMP"):
        import pickle

        from rclpy.serialization import serialize_message

        dump = [(r.t_wall, r.history, serialize_message(r.msg)) for r in result.failed]
        Path(os.environ["FAULTS_DUMP"]).write_bytes(pickle.dumps(dump))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    for key in ("faults_injected", "commands_checked", "commands_outside_limits", "node_deaths_from_input",
                "max_hold_latency_ms", "recovered"):
        print(f"{key:26s} {report[key]}")
    print(f"wrote {args.json}")
    return 0 if report["recovered"] and not deaths and not result.outside else 1


if __name__ == "__main__":
    raise SystemExit(main())
