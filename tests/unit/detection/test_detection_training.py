"""Detector training helpers: offline settings, data files, model card, and (with ultralytics) a real
1-epoch train → ONNX export of both architectures on a tiny dataset.

The tests that train need the optional extras and skip without them (CI has no torch).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from visuomotor.cli import train as train_cli
from visuomotor.errors import ConfigError
from visuomotor.training.detector import (
    LICENCE_NOTE,
    RTDETR_SHARED_LAYERS,
    RTDETR_V8N_YAML,
    OnnxInfo,
    TrainConfig,
    apply_offline_settings,
    read_curve,
    write_model_card,
    write_train_data_yaml,
)
from visuomotor.training.detector_data import CLASS_NAMES, DatasetConfig, build_dataset
from visuomotor.training.errors import TrainError

TINY = DatasetConfig(width_px=160, height_px=120, num_cubes=3, num_distractors=2)


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tiny_dataset")
    build_dataset(out, 8, 4, seed=0, val_seed=1, config=TINY)
    return out


@pytest.fixture()
def offline_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("YOLO_OFFLINE", "YOLO_AUTOINSTALL", "YOLO_CONFIG_DIR"):
        monkeypatch.setenv(key, os.environ.get(key, ""))


def test_offline_settings_set_env_and_place_a_font(tmp_path: Path, offline_env: None) -> None:
    config_dir = apply_offline_settings(tmp_path)
    assert os.environ["YOLO_OFFLINE"] == "1"
    assert os.environ["YOLO_AUTOINSTALL"] == "false"
    assert Path(os.environ["YOLO_CONFIG_DIR"]) == config_dir == (tmp_path / "ultralytics_config").resolve()
    font = config_dir / "Ultralytics" / "Arial.ttf"
    assert font.is_file() and font.read_bytes()[:4] in (b"\x00\x01\x00\x00", b"true", b"OTTO")


def test_train_data_yaml_uses_a_validation_subset(tiny_dataset: Path, tmp_path: Path) -> None:
    path = write_train_data_yaml(tiny_dataset, tmp_path / "d.yaml", val_subset=2)
    text = path.read_text()
    val_list = tmp_path / "d.val.txt"
    assert f"val: {val_list}" in text and f"  3: {CLASS_NAMES[3]}" in text
    assert len(val_list.read_text().splitlines()) == 2
    whole = write_train_data_yaml(tiny_dataset, tmp_path / "w.yaml", val_subset=0).read_text()
    assert f"val: {tiny_dataset.resolve() / 'images' / 'val'}" in whole
    with pytest.raises(TrainError, match=r"dataset\.yaml"):
        write_train_data_yaml(tmp_path, tmp_path / "x.yaml", 0)


def test_train_config_rejects_bad_values() -> None:
    with pytest.raises(ConfigError, match="arch"):
        TrainConfig(arch="ssd", data_dir=Path("."), name="x")
    with pytest.raises(ConfigError, match="multiple of 32"):
        TrainConfig(arch="yolo", data_dir=Path("."), name="x", imgsz=100)
    with pytest.raises(ConfigError, match="plain file name"):
        TrainConfig(arch="yolo", data_dir=Path("."), name="a/b")


def test_rtdetr_yaml_shares_yolov8_backbone_and_neck() -> None:
    yaml = pytest.importorskip("yaml")
    ours = yaml.safe_load(RTDETR_V8N_YAML.format(nc=4))
    layers = ours["backbone"] + ours["head"]
    assert len(layers) == RTDETR_SHARED_LAYERS + 1 and layers[-1][2] == "RTDETRDecoder"
    assert layers[-1][3][2] == 300  # queries → output (1, 300, 6)
    spec = importlib.util.find_spec("ultralytics")  # located, not imported (no torch import needed)
    if spec is None or spec.origin is None:
        pytest.skip("ultralytics is not installed")
    v8 = yaml.safe_load((Path(spec.origin).parent / "cfg/models/v8/yolov8.yaml").read_text())
    assert (v8["backbone"] + v8["head"])[:RTDETR_SHARED_LAYERS] == layers[:RTDETR_SHARED_LAYERS]
    assert v8["scales"]["n"] == ours["scales"]["n"]


def test_read_curve_and_model_card(tmp_path: Path) -> None:
    csv_path = tmp_path / "results.csv"
    csv_path.write_text("epoch, metrics/mAP50(B), metrics/mAP50-95(B)\n1, 0.5, 0.3\n2, 0.8, 0.6\n")
    curve = read_curve(csv_path)
    assert curve == [
        {"epoch": 1.0, "metrics/mAP50(B)": 0.5, "metrics/mAP50-95(B)": 0.3},
        {"epoch": 2.0, "metrics/mAP50(B)": 0.8, "metrics/mAP50-95(B)": 0.6},
    ]
    assert read_curve(tmp_path / "missing.csv") == []
    info = OnnxInfo(
        tmp_path / "m.onnx",
        11.5,
        "images",
        (1, 3, 384, 384),
        (("output0", (1, 8, 3024)),),
        {"names": "{0: 'red_cube'}", "imgsz": "[384, 384]"},
        17,
    )
    config = TrainConfig(arch="yolo", data_dir=tmp_path, name="m", imgsz=384)
    result = {
        "onnx": info,
        "epochs_run": 2,
        "train_seconds": 120.0,
        "map50": 0.97,
        "map50_95": 0.8,
        "curve": curve,
    }
    manifest = {
        "classes": list(CLASS_NAMES),
        "splits": {"val": {"images": 500, "seed": 1, "instances": {}}},
        "config": {},
    }
    card = write_model_card(
        tmp_path / "m.md", config, "visuomotor train detector ...", result, manifest
    ).read_text()
    for needle in (
        "| 0.970 | 0.800 |",
        "`images` [1, 3, 384, 384]",
        "`output0` [1, 8, 3024]",
        "| 500 | 1 |",
        "visuomotor train detector ...",
        "| 2 | 0.800 | 0.600 |",
        "2.0 min",
        LICENCE_NOTE,
        "imgsz, names",
    ):
        assert needle in card, needle


def test_cli_parses_train_arguments() -> None:
    parser = argparse.ArgumentParser()
    train_cli.add_arguments(parser)
    args = parser.parse_args(
        ["detector", "--arch", "rtdetr", "--data", "d", "--set", "lr0=0.001", "--set", "optimizer=AdamW"]
    )
    assert args.arch == "rtdetr" and args.imgsz == 384
    assert train_cli._overrides(args.set) == {"lr0": 0.001, "optimizer": "AdamW"}
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        train_cli._overrides(["nonsense"])


def _train_cli(*args: str, cwd: Path) -> str:
    # A fresh process: torch's lazy inductor import segfaults in a process that already rendered with
    # MuJoCo's EGL/llvmpipe (both bring their own LLVM); `visuomotor train` never renders, so it is safe.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    proc = subprocess.run(
        [sys.executable, "-m", "visuomotor.cli", "train", "detector", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


def test_one_epoch_yolo_then_rtdetr_export_onnx(tiny_dataset: Path, tmp_path: Path) -> None:
    if importlib.util.find_spec("ultralytics") is None or importlib.util.find_spec("torch") is None:
        pytest.skip("training extras (torch, ultralytics) are not installed")
    from visuomotor.training.detector import onnx_info

    common = [
        "--data",
        str(tiny_dataset),
        "--epochs",
        "1",
        "--imgsz",
        "64",
        "--batch",
        "4",
        "--val-subset",
        "2",
        "--workers",
        "0",
        "--set",
        "cache=false",
        "--runs",
        "runs",
        "--models",
        "models",
    ]
    _train_cli("--arch", "yolo", "--name", "t_yolo", *common, cwd=tmp_path)
    nc = len(CLASS_NAMES)
    yolo = onnx_info(tmp_path / "models" / "t_yolo.onnx")
    assert yolo.input_name == "images" and yolo.input_shape == (1, 3, 64, 64)
    ((_, shape),) = yolo.outputs
    assert shape[:2] == (1, 4 + nc)
    assert "red_cube" in yolo.metadata["names"] and yolo.metadata["imgsz"] == "[64, 64]"
    assert (tmp_path / "models" / "t_yolo.md").is_file()
    weights = tmp_path / "runs" / "t_yolo" / "weights" / "best.pt"
    _train_cli(
        "--arch",
        "rtdetr",
        "--name",
        "t_rtdetr",
        "--init",
        str(weights),
        "--freeze",
        str(RTDETR_SHARED_LAYERS),
        *common,
        cwd=tmp_path,
    )
    rtdetr = onnx_info(tmp_path / "models" / "t_rtdetr.onnx")
    ((_, shape),) = rtdetr.outputs
    assert shape == (1, 300, 6)  # cx, cy, w, h (0–1), score, class index
    assert rtdetr.opset >= 16 and rtdetr.size_mb < 30
    assert "Goal not reached" in (tmp_path / "models" / "t_rtdetr.md").read_text()
