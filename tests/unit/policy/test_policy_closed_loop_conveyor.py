"""The conveyor task's whole stack in lock-step: render → detector → localiser → tracker → MovingTarget →
ACT (models/act_conveyor.onnx) → commander → physics, the belt at 0.1 m/s (config/conveyor.yaml)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from visuomotor.cli import main as cli_main
from visuomotor.policy import ActOnnxPolicy, PolicyError
from visuomotor.training.closed_loop import ClosedLoopConfig, SimClosedLoop, evaluate_closed_loop
from visuomotor.training.policy_eval import EVAL_SEED

ROOT = Path(__file__).resolve().parents[3]


def test_the_conveyor_config_and_a_wrong_model_are_one_clear_line() -> None:
    config = ClosedLoopConfig.from_config_dir(ROOT / "config", task="conveyor")
    assert config.policy.task == "conveyor" and config.sim.conveyor.speed_m_s == pytest.approx(0.1)
    assert Path(config.policy.model_path).name == "act_conveyor.onnx"
    assert ClosedLoopConfig.from_config_dir(ROOT / "config").sim.conveyor.speed_m_s == 0.0
    pick_model = str(ROOT / "models" / "act_pick.onnx")
    wrong = r"act_pick\.onnx takes a 13-number observation \(pick task\) but the conveyor task needs 16"
    with pytest.raises(PolicyError, match=wrong) as err:
        ActOnnxPolicy.from_config(replace(config.policy, model_path=pick_model))
    assert "\n" not in str(err.value)


def test_an_unknown_task_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["eval", "policy", "--task", "juggle", "--episodes", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "visuomotor eval: error: unknown --task 'juggle'; choose one of: pick, conveyor"


@pytest.mark.slow
def test_lockstep_conveyor_episodes_place_the_belt_cube() -> None:
    loop = SimClosedLoop(ClosedLoopConfig.from_config_dir(ROOT / "config", task="conveyor"))
    try:
        result = evaluate_closed_loop(loop, 2, EVAL_SEED)
    finally:
        loop.close()
    assert [r.success for r in result.per_episode] == [True, True], result.per_episode
    assert result.safety_violations == 0
    # Lock-step: the sim waits for the stack, so L is the command-path estimate alone.
    assert loop.cycle.last_latency_s == pytest.approx(loop.config.policy.command_latency_s)
