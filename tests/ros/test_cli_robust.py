"""Bad input to the ``visuomotor`` command: one clear line, exit code 2, never a traceback.

Probes on the old code: an ONNX model whose ``names`` metadata mixes key types, non-UTF-8 YAML for
``--config-dir`` / ``--extrinsics`` / ``--sim-config``, ``--out`` / ``--report`` naming an existing file
ended in tracebacks; ``visuomotor dataset detector --images -1`` exited 0 having written no training images.
(No ROS graph here; it lives beside the node robustness tests it mirrors.)
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from visuomotor.detection.errors import DetectorError
from visuomotor.detection.onnx_model import parse_class_names

NOT_UTF8 = b"detector:\n  ros__parameters:\n    score_threshold: \xff\xfe\n"


def _cli(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "visuomotor.cli", *map(str, args)],
        capture_output=True, text=True, timeout=120, cwd=cwd,
    )


@pytest.mark.parametrize(
    "text",
    [
        "{0: 'red', '1': 'green'}",  # the probe: mixed key types could not even be sorted
        "{0: 'a', 1.5: 'b'}",
        "{True: 'a'}",
        "(" * 200_000,
        "[" * 300 + "]" * 300,
    ],
)
def test_malformed_names_metadata_is_a_detector_error(text: str) -> None:
    with pytest.raises(DetectorError, match="model metadata 'names'"):
        parse_class_names(text)


def _one_line_exit_2(done: subprocess.CompletedProcess[str], expected: str) -> None:
    assert done.returncode == 2, (done.returncode, done.stdout[-1500:], done.stderr[-1500:])
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    errors = [line for line in done.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and expected in errors[0], done.stderr


def test_dataset_refuses_negative_counts_and_a_file_for_out(tmp_path: Path) -> None:
    done = _cli("dataset", "detector", "--images", "-1", "--out", tmp_path / "d")
    _one_line_exit_2(done, "--images must be ≥ 0")
    assert not (tmp_path / "d").exists()
    file = tmp_path / "file"
    file.write_text("x")
    _one_line_exit_2(_cli("dataset", "detector", "--images", "1", "--out", file), "is a file")


def test_replay_and_eval_refuse_a_file_for_the_output_directory(tmp_path: Path) -> None:
    file = tmp_path / "file"
    file.write_text("x")
    _one_line_exit_2(_cli("replay", tmp_path / "bag", "--out", file), "--out")
    _one_line_exit_2(_cli("eval", tmp_path / "bag", "--report", file), "--report")


def test_non_utf8_config_files_are_one_line(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.mkdir()
    (config / "detector.yaml").write_bytes(NOT_UTF8)
    _one_line_exit_2(_cli("replay", tmp_path / "bag", "--config-dir", config), "not UTF-8")
    extrinsics = tmp_path / "extrinsics.yaml"
    extrinsics.write_bytes(b"parent_frame: \xff\n")
    _one_line_exit_2(_cli("replay", tmp_path / "bag", "--extrinsics", extrinsics), "not UTF-8")
    _one_line_exit_2(_cli("calibrate", "--sim", "--sim-config", extrinsics, "--out", tmp_path / "c.yaml"),
                     "not UTF-8")
