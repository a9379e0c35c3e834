"""ActOnnxPolicy on hand-built ONNX graphs (no torch): shapes, metadata, normalisation, queue, errors.

The stand-in model is linear, ``actions = reshape(observation · W + b)``, built with ``onnx.helper`` and
carrying the metadata ``visuomotor train act`` writes, so every expected output is computed by hand.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from visuomotor.policy import (
    ACTION_DIM,
    METADATA_FORMAT,
    OBS_DIM,
    ActConfig,
    ActOnnxPolicy,
    NormStats,
    PolicyConfig,
    PolicyError,
    ensemble_offline,
)

ROOT = Path(__file__).resolve().parents[3]
SHIPPED = ROOT / "models" / "act_pick.onnx"
K = 4


def _stats() -> NormStats:
    return NormStats(
        obs_mean=np.linspace(-1, 1, OBS_DIM),
        obs_std=np.linspace(0.5, 2, OBS_DIM),
        action_mean=np.linspace(0, 1, ACTION_DIM),
        action_std=np.linspace(1, 3, ACTION_DIM),
    )


def _linear_model(
    path: Path,
    *,
    k: int = K,
    obs_dim: int = OBS_DIM,
    metadata: dict[str, str] | None = None,
    act_config: ActConfig | None = None,
    input_name: str = "observation",
    nan: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    W = rng.normal(size=(obs_dim, k * ACTION_DIM)).astype(np.float32)
    b = rng.normal(size=(k * ACTION_DIM,)).astype(np.float32)
    if nan:
        b[3] = np.nan
    nodes = [
        helper.make_node("MatMul", [input_name, "W"], ["xw"]),
        helper.make_node("Add", ["xw", "b"], ["flat"]),
        helper.make_node("Reshape", ["flat", "shape"], ["actions"]),
    ]
    graph = helper.make_graph(
        nodes,
        "linear_act",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, [1, obs_dim])],
        [helper.make_tensor_value_info("actions", TensorProto.FLOAT, [1, k, ACTION_DIM])],
        [
            numpy_helper.from_array(W, "W"),
            numpy_helper.from_array(b, "b"),
            numpy_helper.from_array(np.array([1, k, ACTION_DIM], dtype=np.int64), "shape"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    cfg = act_config if act_config is not None else ActConfig(chunk_size=k)
    meta = {
        "format": METADATA_FORMAT,
        "chunk_size": str(k),
        "control_period_s": "0.1",
        "act_config": json.dumps(cfg.to_flat()),
        **_stats().to_metadata(),
    }
    if metadata is not None:
        meta = {kk: v for kk, v in {**meta, **metadata}.items() if v is not None}
    for key, value in meta.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, str(path))
    return W, b


def _expected_chunk(obs: np.ndarray, W: np.ndarray, b: np.ndarray, k: int = K) -> np.ndarray:
    s = _stats()
    x = (obs.astype(np.float32) - s.obs_mean) / s.obs_std
    y = (x @ W + b).reshape(k, ACTION_DIM)
    return y * s.action_std + s.action_mean


@pytest.fixture
def linear(tmp_path: Path) -> tuple[Path, np.ndarray, np.ndarray]:
    path = tmp_path / "act.onnx"
    W, b = _linear_model(path)
    return path, W, b


def test_predict_action_chunk_normalises_and_exposes_metadata(linear) -> None:
    path, W, b = linear
    policy = ActOnnxPolicy(path)
    assert policy.provider == "CPUExecutionProvider"
    assert policy.chunk_size == K and policy.control_period_s == pytest.approx(0.1)
    assert policy.temporal_ensembling and policy.n_action_steps == 1
    obs = np.random.default_rng(1).normal(size=OBS_DIM).astype(np.float32)
    chunk = policy.predict_action_chunk(obs)
    assert chunk.shape == (K, ACTION_DIM) and chunk.dtype == np.float32
    np.testing.assert_allclose(chunk, _expected_chunk(obs, W, b), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(policy.predict_action_chunk(obs[None]), chunk)  # (1, OBS_DIM) accepted


def test_select_action_with_ensembling_matches_offline(linear) -> None:
    path, W, b = linear
    policy = ActOnnxPolicy(path, ensemble_coeff=0.2)
    observations = np.random.default_rng(2).normal(size=(9, OBS_DIM)).astype(np.float32)
    got = np.stack([policy.select_action(o) for o in observations])
    chunks = np.stack([_expected_chunk(o, W, b) for o in observations])
    np.testing.assert_allclose(got, ensemble_offline(chunks, 0.2), rtol=1e-4, atol=1e-4)
    policy.reset()
    np.testing.assert_allclose(policy.select_action(observations[5]), chunks[5, 0], rtol=1e-4, atol=1e-4)


def test_select_action_from_queue_infers_every_n_steps(linear) -> None:
    path, W, b = linear
    policy = ActOnnxPolicy(path, temporal_ensembling=False, n_action_steps=3)
    observations = np.random.default_rng(3).normal(size=(7, OBS_DIM)).astype(np.float32)
    got = np.stack([policy.select_action(o) for o in observations])
    expected = [_expected_chunk(observations[t - t % 3], W, b)[t % 3] for t in range(7)]
    np.testing.assert_allclose(got, np.stack(expected), rtol=1e-4, atol=1e-4)
    policy.reset()  # empties the queue: the next call infers from its own observation
    np.testing.assert_allclose(
        policy.select_action(observations[1]), _expected_chunk(observations[1], W, b)[0], rtol=1e-4, atol=1e-4
    )


def test_from_config_checks_the_control_rate(linear) -> None:
    path, _, _ = linear
    policy = ActOnnxPolicy.from_config(
        PolicyConfig(model_path=str(path), temporal_ensembling=False, n_action_steps=2)
    )
    assert policy.ensembler is None and policy.n_action_steps == 2
    with pytest.raises(PolicyError, match=r"control_rate_hz = 30.0 but .* trained at 10 Hz"):
        ActOnnxPolicy.from_config(PolicyConfig(model_path=str(path), control_rate_hz=30.0))


def test_missing_and_foreign_models_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match=r"not found; train and export one with `visuomotor train act"):
        ActOnnxPolicy(tmp_path / "nope.onnx")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"version https://git-lfs.github.com/spec/v1\n")
    with pytest.raises(PolicyError, match="onnxruntime cannot load"):
        ActOnnxPolicy(junk)
    foreign = tmp_path / "foreign.onnx"
    _linear_model(foreign, metadata={"format": None})
    with pytest.raises(PolicyError, match="not an ACT export of this project"):
        ActOnnxPolicy(foreign)
    no_stats = tmp_path / "no_stats.onnx"
    _linear_model(no_stats, metadata={"action_std": None})
    with pytest.raises(PolicyError, match="no 'action_std' metadata"):
        ActOnnxPolicy(no_stats)


def test_wrong_graph_shapes_are_rejected(tmp_path: Path) -> None:
    wrong_in = tmp_path / "in.onnx"
    _linear_model(wrong_in, obs_dim=12)
    with pytest.raises(PolicyError, match=r"expected one input 'observation' of shape \[1, 13\]"):
        ActOnnxPolicy(wrong_in)
    renamed = tmp_path / "renamed.onnx"
    _linear_model(renamed, input_name="obs")
    with pytest.raises(PolicyError, match="expected one input 'observation'"):
        ActOnnxPolicy(renamed)
    wrong_k = tmp_path / "k.onnx"
    _linear_model(wrong_k, metadata={"chunk_size": "5"})
    with pytest.raises(PolicyError, match=r"expected output 'actions' of shape \[1, 5, 10\]"):
        ActOnnxPolicy(wrong_k)


def test_bad_observations_outputs_and_options(tmp_path: Path, linear) -> None:
    path, _, _ = linear
    policy = ActOnnxPolicy(path)
    with pytest.raises(PolicyError, match=r"observation must have shape \(13,\)"):
        policy.predict_action_chunk(np.zeros(12))
    with pytest.raises(PolicyError, match="observation contains NaN"):
        policy.select_action(np.full(OBS_DIM, np.nan))
    with pytest.raises(PolicyError, match="temporal ensembling needs n_action_steps = 1"):
        ActOnnxPolicy(path, n_action_steps=2)
    with pytest.raises(PolicyError, match=r"n_action_steps must be in \[1, chunk_size=4\]"):
        ActOnnxPolicy(path, temporal_ensembling=False, n_action_steps=9)
    with pytest.raises(PolicyError, match="unknown execution provider 'gpu0'"):
        ActOnnxPolicy(path, providers=["gpu0"])
    nan_model = tmp_path / "nan.onnx"
    _linear_model(nan_model, nan=True)
    with pytest.raises(PolicyError, match="produced NaN or inf"):
        ActOnnxPolicy(nan_model).predict_action_chunk(np.zeros(OBS_DIM))


def test_provider_fallback_is_reported(linear, caplog: pytest.LogCaptureFixture) -> None:
    import onnxruntime as ort

    path, _, _ = linear
    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("CUDA present: no fallback to provoke")
    with pytest.raises(PolicyError, match="asked for CUDAExecutionProvider but runs on CPUExecutionProvider"):
        ActOnnxPolicy(path, providers=["cuda", "cpu"], provider_fallback="error")
    with caplog.at_level("WARNING"):
        policy = ActOnnxPolicy(path, providers=["cuda", "cpu"])
    assert policy.provider == "CPUExecutionProvider"
    assert "runs on CPUExecutionProvider" in caplog.text


@pytest.mark.skipif(not SHIPPED.is_file(), reason="models/act_pick.onnx not trained yet")
def test_shipped_model_loads_and_answers() -> None:
    policy = ActOnnxPolicy.from_config(PolicyConfig(model_path=str(SHIPPED)))
    assert policy.metadata["format"] == METADATA_FORMAT
    assert json.loads(policy.metadata["obs_layout"])["p_base_link_target_m"] == [7, 10]
    obs = np.r_[-0.4, -2.2, 2.1, -1.47, -1.5708, 0.0, 0.0, 0.6, 0.2, 0.025, 0.55, -0.45, 0.05]
    chunk = policy.predict_action_chunk(obs)
    assert chunk.shape == (policy.chunk_size, ACTION_DIM)
    assert np.isfinite(chunk).all()
    assert np.all(np.abs(chunk[:, :3]) < 1.5)  # metres within the arm's reach


def test_select_chunk_is_the_action_then_the_ensembled_plan(linear) -> None:
    """Row 0 = select_action; row j = weighted mean of every prediction so far for step t + j."""
    path, W, b = linear
    coeff = 0.2
    policy, twin = ActOnnxPolicy(path, ensemble_coeff=coeff), ActOnnxPolicy(path, ensemble_coeff=coeff)
    observations = np.random.default_rng(4).normal(size=(6, OBS_DIM)).astype(np.float32)
    chunks = np.stack([_expected_chunk(o, W, b) for o in observations])
    for t, obs in enumerate(observations):
        plan = policy.select_chunk(obs)
        assert plan.shape == (K, ACTION_DIM)
        np.testing.assert_allclose(plan[0], twin.select_action(obs), rtol=1e-6, atol=1e-6)
        for j in range(1, K):
            sources = [s for s in range(max(0, t + j - K + 1), t + 1)]
            w = np.exp(-coeff * np.arange(len(sources)))
            ref = sum(wi * chunks[s, t + j - s] for wi, s in zip(w, sources, strict=True)) / w.sum()
            np.testing.assert_allclose(plan[j], ref, rtol=1e-4, atol=1e-4)


def test_select_chunk_from_a_queue_returns_what_is_still_queued(linear) -> None:
    path, W, b = linear
    policy = ActOnnxPolicy(path, temporal_ensembling=False, n_action_steps=3)
    obs = np.random.default_rng(5).normal(size=OBS_DIM).astype(np.float32)
    chunk = _expected_chunk(obs, W, b)
    first = policy.select_chunk(obs)
    np.testing.assert_allclose(first, chunk[:3], rtol=1e-4, atol=1e-4)  # this action + 2 still queued
    np.testing.assert_allclose(policy.select_chunk(obs), chunk[1:3], rtol=1e-4, atol=1e-4)
