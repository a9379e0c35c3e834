"""Replay a bag: ``visuomotor replay BAG [--offline] --out DIR`` or ``visuomotor replay BAG --graph [...]``.

``--offline`` (the default) feeds the bag's RGB-D frames through detect → localise → track in this
process, as fast as the CPU allows, with the stage parameters of ``config/{detector,localiser,tracker}.yaml``
when present, and writes ``result.json`` (deterministic) and ``timing.json`` into DIR
(default ``runs/replay/<bag name>``). ``--graph`` publishes the bag into the ROS graph on its recorded
schedule, like ``ros2 bag play``, by running the ``replay`` node of the built workspace.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from visuomotor.errors import ConfigError

if TYPE_CHECKING:
    from visuomotor.replay import ReplayConfig

__all__ = ["add_arguments", "add_pipeline_arguments", "pipeline_config", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("bag", type=Path, help="rosbag2 directory (MCAP or sqlite3) or an .mcap/.db3 file")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--offline", action="store_true", help="through the core pipeline in-process (default)")
    mode.add_argument("--graph", action="store_true", help="publish into the ROS graph (replay node)")
    parser.add_argument(
        "--start-offset", type=float, default=0.0, metavar="S", help="skip the first S seconds"
    )

    off = parser.add_argument_group("offline")
    off.add_argument("--out", type=Path, help="output directory (default runs/replay/<bag name>)")
    add_pipeline_arguments(off)
    off.add_argument("--color-topic", default="", help="colour topic (default: detected)")
    off.add_argument("--depth-topic", default="", help="depth topic (default: detected)")
    off.add_argument("--info-topic", default="", help="camera_info topic (default: detected)")
    off.add_argument("--sync-tolerance-ms", type=float, default=5.0, help="colour ↔ depth stamp tolerance")
    off.add_argument("--max-frames", type=int, default=0, help="stop after N frames (0 = all)")
    off.add_argument("--no-progress", action="store_true", help="no progress bar")

    graph = parser.add_argument_group("graph")
    graph.add_argument("--rate", type=float, default=1.0, help="playback speed factor (default 1)")
    graph.add_argument("--loop", action="store_true", help="start again at the end")
    graph.add_argument("--clock", action="store_true", help="publish /clock from bag time")
    graph.add_argument("--topics", nargs="+", default=[], metavar="TOPIC", help="bag topics to publish")
    graph.add_argument("--remap", nargs="+", default=[], metavar="FROM:=TO", help="rename bag topics")
    graph.add_argument(
        "--wait-for-subscribers",
        type=float,
        default=0.0,
        metavar="S",
        help="wait up to S seconds for every topic to have a subscriber before starting",
    )


def add_pipeline_arguments(group: argparse._ActionsContainer) -> None:
    """The offline pipeline's options (also ``visuomotor eval BAG``'s, which replays the same way)."""
    group.add_argument(
        "--config-dir",
        type=Path,
        default=Path("config"),
        help="directory of detector.yaml, localiser.yaml, tracker.yaml (default config)",
    )
    group.add_argument("--model", help="ONNX detector, overriding detector.yaml's model_path")
    group.add_argument(
        "--extrinsics",
        default="config/extrinsics/sim.yaml",
        help="T_base_link_camera YAML (default config/extrinsics/sim.yaml)",
    )


def pipeline_config(args: argparse.Namespace, **options: Any) -> ReplayConfig:
    """The ReplayConfig of ``add_pipeline_arguments``' options plus ``options`` (ReplayConfig fields)."""
    from dataclasses import replace

    from visuomotor.config import read_text_file
    from visuomotor.replay import ReplayConfig

    read_text_file(args.extrinsics, "--extrinsics file")  # not UTF-8 → one line, not a traceback
    config = ReplayConfig.from_params_files(
        args.config_dir,
        required=args.config_dir != Path("config"),
        extrinsics_path=args.extrinsics,
        **options,
    )
    if args.model:
        config = replace(config, detector=replace(config.detector, model_path=args.model))
    return config


def _run_offline(args: argparse.Namespace) -> int:
    from visuomotor.replay import replay_offline

    config = pipeline_config(
        args,
        color_topic=args.color_topic,
        depth_topic=args.depth_topic,
        info_topic=args.info_topic,
        sync_tolerance_ms=args.sync_tolerance_ms,
        start_offset_s=args.start_offset,
        max_frames=args.max_frames,
        progress=not args.no_progress,
    )
    if args.out is not None and args.out.exists() and not args.out.is_dir():
        raise ConfigError(f"--out {args.out} is a file; name a directory (created if missing)")
    run = replay_offline(args.bag, config)
    out = args.out if args.out is not None else Path("runs") / "replay" / run.bag
    result, timing = run.write(out)
    skipped = ", ".join(f"{k} {v}" for k, v in sorted(run.skipped.items()) if v) or "none"
    print(
        f"{len(run.frames)} frames in {run.wall_s:.1f} s ({run.frames_per_s:.1f} frames/s), "
        f"{run.dropped_frames} dropped; skipped: {skipped}"
    )
    print(f"wrote {result} and {timing}")
    return 0


def _run_graph(args: argparse.Namespace) -> int:
    from visuomotor.cli.record import node_command, run_node_process

    if not args.bag.exists():
        raise ConfigError(f"bag {args.bag} does not exist")
    params: dict[str, Any] = {
        "bag": str(args.bag.resolve()),
        "rate": float(args.rate),
        "loop": bool(args.loop),
        "clock": bool(args.clock),
        "start_offset_s": float(args.start_offset),
        "wait_for_subscribers_s": float(args.wait_for_subscribers),
    }
    if args.topics:
        params["topics"] = list(args.topics)
    if args.remap:
        params["remap"] = list(args.remap)
    return run_node_process(node_command("replay", params))


def run(args: argparse.Namespace) -> int:
    return _run_graph(args) if args.graph else _run_offline(args)
