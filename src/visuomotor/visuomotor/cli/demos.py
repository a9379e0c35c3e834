"""Record ACT demonstrations in the sim: ``visuomotor demos --episodes N --out DIR [--seed S] [--task T]``.

A closed-loop scripted expert picks a random target cube in seeded, randomised scenes (state only, no
rendering) and the recorder writes one ``episode_NNNNN.npz`` per episode plus ``manifest.json``
(layouts, settings, per-episode success). Scene seeds are S … S+N−1. ``--task conveyor``: the leading
cube on a belt at 0.05–0.15 m/s (drawn per episode), picked by the intercepting expert.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from dataclasses import replace
from pathlib import Path

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--episodes", type=int, required=True, help="episodes to record")
    parser.add_argument("--out", type=Path, required=True, help="dataset folder (created)")
    parser.add_argument("--seed", type=int, default=0, help="first scene seed (default 0)")
    parser.add_argument(
        "--task", default="pick", help="pick (a cube on the table, default) or conveyor (a cube on a belt)"
    )
    parser.add_argument(
        "--no-noise", action="store_true", help="exact ground-truth positions (default: tracker-like noise)"
    )
    parser.add_argument(
        "--noise-bias-mm", type=float, help="σ of the per-episode position bias (default 1.5)"
    )
    parser.add_argument("--noise-jitter-mm", type=float, help="σ of the per-tick position jitter (default 1)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from visuomotor.sim.pick_task import ObservationNoise
    from visuomotor.training.policy_demos import DemoConfig, record_demos

    config = DemoConfig(task=getattr(args, "task", "pick"))
    if args.no_noise:
        config = replace(config, noise=ObservationNoise(), velocity_noise_m_s=(0.0, 0.0))
    elif args.noise_bias_mm is not None or args.noise_jitter_mm is not None:
        bias = config.noise.bias_std_m if args.noise_bias_mm is None else args.noise_bias_mm / 1000.0
        jitter = config.noise.jitter_std_m if args.noise_jitter_mm is None else args.noise_jitter_mm / 1000.0
        config = replace(config, noise=ObservationNoise(bias, jitter))
    bar = None
    if not args.no_progress:
        from tqdm import tqdm

        bar = tqdm(total=args.episodes, desc="demos", unit="ep")
    ok = 0

    def progress(i: int, ep) -> None:
        nonlocal ok
        ok += ep.success
        if bar is not None:
            bar.set_postfix(success=f"{ok}/{i + 1}", steps=ep.actions.shape[0])
            bar.update(1)

    command = "visuomotor " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    manifest = record_demos(args.out, args.episodes, args.seed, config, progress, command)
    if bar is not None:
        bar.close()
    steps = sum(e["steps"] for e in manifest["episodes"])
    print(
        f"recorded {args.episodes} episodes ({manifest['successes']} successful, {steps} steps) in "
        f"{manifest['record_seconds']:.1f} s to {args.out}"
    )
    return 0
