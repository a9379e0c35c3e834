"""The whole stack in the sim, lock-step: render → ONNX detector → localiser → tracker → ACT → commander.

The same loop as ``visuomotor eval policy`` (50 episodes, recorded in models/act_pick.md), on the shipped
models, for three seeded episodes: each must place its target cube, and the measured arm must never
leave the safety limits.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from visuomotor.cli import main as cli_main
from visuomotor.errors import ConfigError
from visuomotor.training.closed_loop import STAGES, ClosedLoopConfig, SimClosedLoop, evaluate_closed_loop
from visuomotor.training.policy_eval import EVAL_SEED

ROOT = Path(__file__).resolve().parents[3]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def loop() -> SimClosedLoop:
    sim_loop = SimClosedLoop(ClosedLoopConfig.from_config_dir(ROOT / "config"))
    yield sim_loop
    sim_loop.close()


def test_three_episodes_place_their_cube_with_perception_in_the_loop(loop: SimClosedLoop) -> None:
    result = evaluate_closed_loop(loop, 3, EVAL_SEED)
    assert result.observation == "perception"
    assert [r.success for r in result.per_episode] == [True, True, True], result.per_episode
    assert result.safety_violations == 0 and result.safety_violations_by_reason == {}
    assert 0.0 < result.peak_velocity_ratio <= 1.1
    assert 5.0 < result.mean_time_to_place_s < 25.0  # sim seconds
    # The first tick has no confirmed track yet: the commander holds (stale perception) — counted.
    assert result.safety_rejections.get("stale_perception", 0) >= 3
    assert list(result.latency_ms) == [*STAGES, "total"]
    assert all(v["p50_ms"] > 0 for v in result.latency_ms.values())


def test_two_cubes_in_a_row_with_a_move_home_between(loop: SimClosedLoop) -> None:
    """target any, max_picks 2: the nearest cube, home, the next one; both end in the bin."""
    from dataclasses import replace

    loop.cycle.config = replace(loop.cycle.config, max_picks=2)
    try:
        loop.reset(EVAL_SEED, "any")
        phases = []
        for _ in range(500):
            loop.tick()
            phases.append(loop.cycle.phase)
            if loop.cycle.phase == "done":
                break
        assert loop.cycle.placed == 2 and loop.cubes_in_bin() == 2
        assert "home" in phases and phases[-1] == "done"
        assert loop.monitor.violations == []
    finally:
        loop.cycle.config = loop.config.policy


def test_config_dir_reads_every_stage_and_names_a_missing_file(tmp_path: Path) -> None:
    config = ClosedLoopConfig.from_config_dir(ROOT / "config")
    assert Path(config.policy.model_path).is_file() and Path(config.detector.model_path).is_file()
    assert config.localiser.box_fit_class_names == ("bin",)
    with pytest.raises(ConfigError, match=r"detector\.yaml"):
        ClosedLoopConfig.from_config_dir(tmp_path)


def test_cli_eval_policy_writes_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The command's wiring, on the fast ground-truth path (the perception path is the test above)."""
    out = tmp_path / "policy.json"
    code = cli_main(["eval", "policy", "--episodes", "2", "--observation", "ground_truth", "--json", str(out),
                     "--config-dir", str(ROOT / "config"), "--no-progress"])
    assert code == 0
    report = json.loads(out.read_text())
    assert report["episodes"] == 2 and report["observation"] == "ground_truth"
    assert report["success_rate"] == 1.0 and not math.isnan(report["mean_time_to_place_s"])
    assert "2/2 placed" in capsys.readouterr().out
    assert cli_main(["eval", "policy", "--episodes", "0"]) == 2
