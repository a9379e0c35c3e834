"""Train ACT on sim demos and export it: ``visuomotor train act --demos DIR [--epochs N] ...``.

One command reproduces the shipped policy: ``--record N`` (re)records N demos into ``--demos`` first,
training writes ``runs/<name>/`` (loss plot, history, checkpoint) and ``models/<name>.onnx`` + model card,
and ``--eval-episodes M`` rolls the exported model out in the sim — with ground-truth observations and,
with ``--eval-noise-mm``, with tracker-like noise — and adds the success rates to the card (and
``runs/<name>/eval_gt.json`` / ``eval_noisy.json``). Needs torch (training extra).
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
from pathlib import Path

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--demos", type=Path, required=True, help="dataset folder from `visuomotor demos`")
    parser.add_argument(
        "--record", type=int, default=0, metavar="N", help="first record N demos into --demos"
    )
    parser.add_argument("--record-seed", type=int, default=0, help="first scene seed of --record (default 0)")
    parser.add_argument(
        "--task", default="pick",
        help="task of --record (pick or conveyor); training and evaluation follow the dataset's task",
    )
    parser.add_argument("--name", default="act_pick", help="run/model name (default act_pick)")
    parser.add_argument("--epochs", type=int, default=100, help="epochs (an upper bound with --time-minutes)")
    parser.add_argument(
        "--time-minutes",
        type=float,
        default=0.0,
        help="training wall-clock budget; epochs fit to it (0 = none)",
    )
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--chunk-size", type=int, default=10, help="k, actions per chunk (default 10 = 1 s)")
    parser.add_argument("--d-model", type=int, default=128)
    parser.add_argument("--kl-weight", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    parser.add_argument("--eval-episodes", type=int, default=50, help="sim rollouts after export (0 = none)")
    parser.add_argument(
        "--eval-noise-mm",
        type=float,
        default=2.0,
        help="also evaluate with tracker-like noise of this σ bias (+1 mm jitter); 0 = only ground truth",
    )
    parser.add_argument("--runs", type=Path, default=Path("runs"), help="runs folder (git-ignored)")
    parser.add_argument("--models", type=Path, default=Path("models"), help="where the ONNX + card go")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    from visuomotor.policy.configuration import ActConfig
    from visuomotor.training.policy import TrainConfig, train_act, write_model_card
    from visuomotor.training.policy_demos import load_episodes

    command = "visuomotor " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    if args.record > 0:
        from visuomotor.cli.demos import run as record_run

        record_run(
            argparse.Namespace(
                episodes=args.record,
                out=args.demos,
                seed=args.record_seed,
                task=args.task,
                no_noise=False,
                noise_bias_mm=None,
                noise_jitter_mm=None,
                no_progress=args.no_progress,
            )
        )
    act = ActConfig(chunk_size=args.chunk_size, d_model=args.d_model, kl_weight=args.kl_weight)
    config = TrainConfig(
        demos_dir=args.demos,
        name=args.name,
        act=act,
        epochs=args.epochs,
        time_budget_s=60.0 * args.time_minutes,
        batch_size=args.batch,
        lr=args.lr,
        seed=args.seed,
        threads=args.threads,
        runs_dir=args.runs,
        models_dir=args.models,
        progress=not args.no_progress,
    )
    result = train_act(config, command)
    r = result
    print(
        f"{args.name}: {r.epochs} epochs in {r.train_seconds / 60:.1f} min on {r.samples} samples, L1 train "
        f"{r.final_train_l1:.4f} / held-out {r.final_val_l1:.4f} (best {r.best_val_l1:.4f} @ {r.best_epoch}) "
        f"wrote {r.onnx_path} ({r.onnx_bytes / 1024:.0f} KiB) and {r.card_path}"
    )
    _, manifest = load_episodes(args.demos, successful_only=False)
    task = manifest.get("task", "pick")
    p50, p99 = _latency_ms(result.onnx_path)
    lines: dict[str, object] = {
        "ONNX inference (predict_action_chunk, CPU, 2 threads, 2000 runs)": (
            f"p50 {p50:.3f} ms, p99 {p99:.3f} ms (budget 2 ms/chunk p50)"
        )
    }
    print(f"inference: p50 {p50:.3f} ms, p99 {p99:.3f} ms per chunk (2 CPU threads)")
    if args.eval_episodes > 0:
        from visuomotor.training.policy_eval import EVAL_SEED

        runs = [("ground-truth observations", 0.0)]
        if args.eval_noise_mm > 0:
            runs.append(
                (f"tracker-like noise (σ bias {args.eval_noise_mm:g} mm, jitter 1 mm)", args.eval_noise_mm)
            )
        for label, noise_mm in runs:
            ev = _evaluate(result.onnx_path, args, act.control_period_s, noise_mm, label, task)
            tag = "gt" if noise_mm == 0 else "noisy"
            (Path(args.runs) / args.name / f"eval_{tag}.json").write_text(json.dumps(ev.to_dict(), indent=1))
            mean_t = "n/a" if math.isnan(ev.mean_time_to_place_s) else f"{ev.mean_time_to_place_s:.2f} s"
            which = "the leading cube on the belt at 0.1 m/s" if task == "conveyor" else "random target cube"
            lines[f"sim success rate, {label}"] = (
                f"{ev.success_rate:.2f} ({ev.successes}/{ev.episodes} episodes, scene seeds "
                f"{EVAL_SEED}…{EVAL_SEED + ev.episodes - 1}, {which}, temporal ensembling); "
                f"mean time to place {mean_t}; IK failures {ev.ik_failures}; "
                f"mean select_action {ev.mean_inference_ms:.2f} ms"
            )
            print(
                f"eval ({label}): success {ev.success_rate:.2f} ({ev.successes}/{ev.episodes}), "
                f"mean time to place {mean_t}"
            )
        lines["with full perception in the loop"] = "not measured here (`visuomotor eval policy`)"
    write_model_card(result, config, manifest, command, lines)
    return 0


def _evaluate(
    onnx_path: Path,
    args: argparse.Namespace,
    period_s: float,
    noise_mm: float,
    label: str,
    task: str = "pick",
):
    from visuomotor.policy.runtime import ActOnnxPolicy
    from visuomotor.sim.pick_task import ObservationNoise
    from visuomotor.training.policy_eval import EVAL_SEED, evaluate_policy

    policy = ActOnnxPolicy(onnx_path, task=task)
    noise = ObservationNoise(noise_mm / 1000.0, 0.001) if noise_mm > 0 else None
    if noise is not None and task == "conveyor":  # and the tracker's velocity noise (Kalman, on the belt)
        noise = ObservationNoise(noise.bias_std_m, noise.jitter_std_m, 0.003, 0.008)
    bar = None
    if not args.no_progress:
        from tqdm import tqdm

        bar = tqdm(total=args.eval_episodes, desc=f"eval {label.split(' (')[0]}", unit="ep")
    ok = 0

    def progress(i: int, r) -> None:
        nonlocal ok
        ok += r.success
        if bar is not None:
            bar.set_postfix(success=f"{ok}/{i + 1}")
            bar.update(1)

    ev = evaluate_policy(
        policy, args.eval_episodes, EVAL_SEED, control_period_s=period_s, noise=noise, progress=progress,
        task=task,
    )
    if bar is not None:
        bar.close()
    return ev


def _latency_ms(onnx_path: Path, runs: int = 2000) -> tuple[float, float]:
    """p50/p99 wall time of ``predict_action_chunk`` (normalise → run → un-normalise), 2 threads."""
    import time

    import numpy as np

    from visuomotor.policy.runtime import ActOnnxPolicy

    policy = ActOnnxPolicy(onnx_path, intra_op_threads=2)
    obs = np.r_[-0.4, -2.2, 2.1, -1.47, -1.5708, 0.0, 0.0, 0.6, 0.2, 0.025, 0.55, -0.45, 0.05]
    obs = np.r_[obs, np.zeros(policy.obs_dim - obs.size)]  # the conveyor's velocity: 0
    for _ in range(50):  # warm-up: first-run allocations
        policy.predict_action_chunk(obs)
    times = np.empty(runs)
    for i in range(runs):
        t = time.perf_counter_ns()
        policy.predict_action_chunk(obs)
        times[i] = (time.perf_counter_ns() - t) / 1e6
    return float(np.percentile(times, 50)), float(np.percentile(times, 99))
