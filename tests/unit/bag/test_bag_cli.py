"""``visuomotor replay`` (offline) and ``visuomotor record`` argument handling, without a ROS graph."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from bag_fixtures import EXTRINSICS, MODEL, ROOT

from visuomotor.cli import main
from visuomotor.cli.record import node_command, ros_executable
from visuomotor.errors import ConfigError
from visuomotor.sim.recording import SimBagSummary


def test_offline_replay_command_writes_both_files(
    sim_bag: SimBagSummary, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    args = [
        "replay",
        str(sim_bag.path),
        "--out",
        str(out),
        "--max-frames",
        "3",
        "--no-progress",
        "--config-dir",
        str(ROOT / "config"),
        "--model",
        str(MODEL),
        "--extrinsics",
        str(EXTRINSICS),
    ]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "3 frames in" in printed and "frames/s" in printed
    result = json.loads((out / "result.json").read_text())
    assert [f["index"] for f in result["frames"]] == [0, 1, 2]
    assert json.loads((out / "timing.json").read_text())["schema"] == "visuomotor.replay-timing/1"


def test_bad_arguments_exit_2_with_the_reason(
    sim_bag: SimBagSummary, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["replay", str(tmp_path / "nope")]) == 2
    assert "nope does not exist" in capsys.readouterr().err
    assert main(["replay", str(sim_bag.path), "--config-dir", str(tmp_path)]) == 2
    assert "detector params file" in capsys.readouterr().err
    assert main(["record", "--out", str(sim_bag.path), "/a"]) == 2
    assert "exists already" in capsys.readouterr().err


def test_node_commands_quote_yaml_specials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    exe = tmp_path / "install" / "visuomotor_ros" / "lib" / "visuomotor_ros" / "replay"
    exe.parent.mkdir(parents=True)
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    monkeypatch.setenv("AMENT_PREFIX_PATH", "")
    monkeypatch.setenv("VISUOMOTOR_ROOT", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    assert ros_executable("replay") == exe
    cmd = node_command(
        "replay", {"bag": "/b", "rate": 2.0, "loop": True, "remap": ["/a:=/b"], "topics": ["/x"]}
    )
    assert cmd == [
        str(exe),
        "--ros-args",
        "-p",
        "bag:=/b",
        "-p",
        "rate:=2.0",
        "-p",
        "loop:=true",
        "-p",
        'remap:=["/a:=/b"]',
        "-p",
        "topics:=[/x]",
    ]
    with pytest.raises(
        ConfigError, match=r"no visuomotor_ros executable 'recorder' found .* scripts/setup\.sh"
    ):
        ros_executable("recorder")
