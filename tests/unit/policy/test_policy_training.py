"""Training pieces that need torch: model shapes, one optimisation step, chunking, ONNX export parity."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from visuomotor.policy import ACTION_DIM, OBS_DIM, ActConfig, ActOnnxPolicy, NormStats  # noqa: E402
from visuomotor.training.policy import build_chunks, export_onnx  # noqa: E402
from visuomotor.training.policy_demos import Episode  # noqa: E402
from visuomotor.training.policy_model import ActModel, act_loss  # noqa: E402

TINY = ActConfig(chunk_size=4, d_model=16, n_heads=2, dim_feedforward=32, latent_dim=4, dropout=0.0)


def test_model_shapes_and_one_training_step() -> None:
    torch.manual_seed(0)
    model = ActModel(TINY)
    obs, act = torch.randn(8, OBS_DIM), torch.randn(8, TINY.chunk_size, ACTION_DIM)
    model.train()
    pred, latent = model(obs, act)
    assert pred.shape == (8, TINY.chunk_size, ACTION_DIM)
    assert latent is not None and latent[0].shape == (8, TINY.latent_dim)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    loss0, parts = act_loss(model, obs, act)
    assert parts["kl"] >= 0.0 and np.isfinite(parts["l1"])
    opt.zero_grad()
    loss0.backward()
    opt.step()
    model.eval()
    pred_eval, latent_eval = model(obs, act)  # eval: z = 0, no posterior
    assert latent_eval is None and pred_eval.shape == pred.shape


def test_build_chunks_pads_with_the_last_action() -> None:
    acts = np.arange(5 * ACTION_DIM, dtype=np.float32).reshape(5, ACTION_DIM)
    obs_in = np.arange(5, dtype=np.float32)[:, None].repeat(OBS_DIM, 1)
    valid = np.array([True, True, False, True, True])
    ep = Episode(obs_in, acts, np.zeros(5, np.int8), np.ones(5, bool), True, 0, 0, "red_cube", 0.5)
    obs, chunks = build_chunks([ep, ep], 3)
    assert obs.shape == (10, OBS_DIM) and chunks.shape == (10, 3, ACTION_DIM)
    np.testing.assert_array_equal(chunks[0], acts[0:3])
    np.testing.assert_array_equal(chunks[4], acts[[4, 4, 4]])
    np.testing.assert_array_equal(chunks[3], acts[[3, 4, 4]])
    # Invalid (forced-miss) ticks start no chunk but still appear inside earlier chunks.
    ep2 = Episode(obs_in, acts, np.zeros(5, np.int8), valid, True, 0, 0, "red_cube", 0.5)
    obs, chunks = build_chunks([ep2], 3)
    np.testing.assert_array_equal(obs[:, 0], [0, 1, 3, 4])
    np.testing.assert_array_equal(chunks[1], acts[[1, 2, 3]])


def test_export_matches_torch_and_loads_in_the_runtime(tmp_path: Path) -> None:
    torch.manual_seed(1)
    model = ActModel(TINY).eval()
    rng = np.random.default_rng(0)
    stats = NormStats.from_data(rng.normal(size=(50, OBS_DIM)), rng.normal(size=(50, ACTION_DIM)))
    path = tmp_path / "tiny.onnx"
    diff = export_onnx(model, stats, path)
    assert diff < 1e-4
    policy = ActOnnxPolicy(path)
    assert policy.chunk_size == TINY.chunk_size
    obs = rng.normal(size=OBS_DIM).astype(np.float32)
    with torch.no_grad():
        ref = model(torch.from_numpy(stats.normalize_obs(obs[None])))[0].numpy()[0]
    np.testing.assert_allclose(policy.predict_action_chunk(obs), stats.unnormalize_action(ref), atol=1e-4)


def test_fk_features_match_the_kinematics_module() -> None:
    from visuomotor.kinematics import Ur10eKinematics
    from visuomotor.sim import SimWorld
    from visuomotor.training.policy_model import FK_SCALE_M, TcpFeatures

    kin = Ur10eKinematics(T_flange_tcp=SimWorld.T_FLANGE_TCP)
    rng = np.random.default_rng(4)
    obs = rng.uniform(-3, 3, (16, OBS_DIM))
    fk = TcpFeatures()
    fk.set_obs_stats(np.full(OBS_DIM, 0.5), np.full(OBS_DIM, 2.0))  # exercises the un-normalisation
    with torch.no_grad():
        feats = fk(torch.from_numpy((obs - 0.5) / 2.0).float()).numpy().astype(np.float64) * FK_SCALE_M
    tcp = np.stack([kin.forward(q)[:3, 3] for q in obs[:, :6]])
    np.testing.assert_allclose(feats[:, 0:3], tcp, atol=2e-5)
    np.testing.assert_allclose(feats[:, 3:6], obs[:, 7:10] - tcp, atol=2e-5)
    np.testing.assert_allclose(feats[:, 6:9], obs[:, 10:13] - tcp, atol=2e-5)
