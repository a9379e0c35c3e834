"""``visuomotor eval policy --realtime``: seeded episodes of the whole stack as on the robot (wall clock).

Each episode is one run of the real-time demo (:func:`visuomotor_ros.demo.run_demo`): the MuJoCo world in
its own process, sim time paced to the wall clock, camera at 30 Hz; ``perception`` → ``policy`` (on each
frame's tracks) → ``commander`` → the sim's trajectory controller, each in its own process on DDS, started
fresh per episode (nothing carries over: tracks, plans, e-stop). The target of each seeded scene is chosen
by the same rule as the lock-step evaluation (``episode_target``: a random cube; ``--task conveyor``: the
leading cube on the belt, with ``config/conveyor.yaml`` given to the sim and the policy). Per episode:
placed or not, the measured arm checked against the safety limits on every joint state
(``safety_violations``), and the latency monitor's camera → command figures.
``--no-latency-compensation`` sets the policy's ``latency_compensation`` to false.

JSON: ``success_rate``, ``safety_violations``, ``e2e_p50_ms`` (median of the episodes' p50),
``e2e_p99_ms`` (the worst episode's p99), ``delivered_ratio`` (camera frames that produced a command /
camera frames), ``mean_time_to_place_s`` (wall), the machine's load average before and after (the
machine may be shared), per-episode rows.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from datetime import datetime
from pathlib import Path

import numpy as np

from visuomotor.config import read_params_file
from visuomotor.errors import ConfigError
from visuomotor_ros.demo import run_demo

__all__ = ["main"]


def episode_targets(config_dir: Path, seed: int, episodes: int, task: str = "pick") -> list[str]:
    """The target cube's class of each seeded scene (the scene is built, not simulated)."""
    from visuomotor.sim import SimConfig, SimWorld
    from visuomotor.training.closed_loop import TASK_FILES, episode_target

    sim = read_params_file(config_dir / "sim.yaml", "sim", required=False)
    if TASK_FILES.get(task):
        sim |= read_params_file(config_dir / TASK_FILES[task], "sim", required=False)
    world = SimWorld(SimConfig.from_flat(sim))
    try:
        out = []
        for s in range(seed, seed + episodes):
            world.reset(s)
            out.append(world.objects()[episode_target(world, s, task)].class_name)
        return out
    finally:
        world.close()


def main(argv: list[str] | None = None) -> int:
    from visuomotor.training.policy_eval import EVAL_SEED

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--episodes", type=int, default=20)
    ap.add_argument("--task", default="pick", help="pick (default) or conveyor")
    ap.add_argument("--no-latency-compensation", dest="latency_compensation", action="store_false",
                    help="conveyor task: policy latency_compensation false")
    ap.add_argument("--seed", type=int, default=EVAL_SEED, help=f"first scene seed (default {EVAL_SEED})")
    ap.add_argument("--timeout", type=float, default=90.0, help="wall seconds before an episode fails")
    ap.add_argument("--json", type=Path, default=None, help="write the results here")
    ap.add_argument("--out", type=Path, default=None,
                    help="episode folders (default results/eval/realtime-<time>)")
    args = ap.parse_args(argv)
    root = Path(os.environ.get("VISUOMOTOR_ROOT", Path.cwd()))
    try:
        from visuomotor.training.closed_loop import TASK_FILES

        if args.task not in TASK_FILES:
            raise ConfigError(f"unknown --task {args.task!r}; choose one of: {', '.join(TASK_FILES)}")
        if args.episodes < 1 or not args.timeout > 0:
            raise ConfigError(
                f"--episodes must be ≥ 1 and --timeout > 0, got {args.episodes}, {args.timeout}"
            )
        targets = episode_targets(root / "config", args.seed, args.episodes, args.task)
    except ConfigError as err:
        print(f"visuomotor eval policy --realtime: error: {err}", file=sys.stderr)
        return 2
    out = args.out or root / "results" / "eval" / f"realtime-{datetime.now():%Y%m%d-%H%M%S}"
    rows = []
    load_before = os.getloadavg()
    for i, target in enumerate(targets):
        seed = args.seed + i
        episode = argparse.Namespace(mode="closed_loop", realtime=True, timeout=args.timeout, seed=seed,
                                     target=target, cubes=1, out=out / f"seed-{seed}", record=None,
                                     task=args.task, latency_compensation=args.latency_compensation)
        run = run_demo(episode, root, quiet=True)
        summary = run.pop("latency")
        e2e = summary.end_to_end if summary is not None else None
        dropped = summary.dropped if summary else 0
        run |= {"frames": summary.frames if summary else 0, "dropped": dropped,
                "lost": max(0, dropped - run["skipped_stale"]),
                "e2e_p50_ms": e2e.p50_ms if e2e else None, "e2e_p99_ms": e2e.p99_ms if e2e else None}
        rows.append(run)
        outcome = "placed" if run["success"] else run["result"]
        print(f"  seed {seed} {target}: {outcome} in {run['wall_s']:.1f} s, "
              f"violations {run['safety_violations']}, frames {run['frames']} dropped {run['dropped']} "
              f"(stale {run['skipped_stale']}, lost {run['lost']}), "
              f"e2e p50 {run['e2e_p50_ms']} ms", flush=True)
    placed = [r for r in rows if r["success"]]
    frames = sum(r["frames"] for r in rows)
    seen = frames + sum(r["dropped"] for r in rows)
    p50s = [r["e2e_p50_ms"] for r in rows if r["e2e_p50_ms"] is not None]
    p99s = [r["e2e_p99_ms"] for r in rows if r["e2e_p99_ms"] is not None]
    result = {
        "mode": "realtime", "task": args.task, "latency_compensation": args.latency_compensation,
        "episodes": len(rows), "seed": args.seed,
        "success_rate": len(placed) / len(rows),
        "safety_violations": sum(r["safety_violations"] for r in rows),
        "e2e_p50_ms": float(np.median(p50s)) if p50s else None,
        "e2e_p99_ms": max(p99s) if p99s else None,
        "delivered_ratio": frames / seen if seen else 0.0,
        # Of the frames that did not reach a command: skipped on purpose (perception was behind and a newer
        # frame was waiting) or lost (queue overflow, transport).
        "skipped_stale": sum(min(r["skipped_stale"], r["dropped"]) for r in rows),
        "lost": sum(r["lost"] for r in rows),
        "mean_time_to_place_s": float(np.mean([r["wall_s"] for r in placed])) if placed else math.nan,
        "cores": os.cpu_count(), "load_avg_1_5_15_before": [round(x, 2) for x in load_before],
        "load_avg_1_5_15_after": [round(x, 2) for x in os.getloadavg()], "episodes_detail": rows,
    }
    print(f"{len(placed)}/{len(rows)} placed (success_rate {result['success_rate']:.2f}), safety_violations "
          f"{result['safety_violations']}, camera → command p50 {result['e2e_p50_ms']} ms / p99 "
          f"{result['e2e_p99_ms']} ms, delivered {result['delivered_ratio']:.3f}")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
