"""Training ACT on recorded demos, ONNX export with metadata, loss plot and model card (needs torch).

``train_act(TrainConfig(...))``: load the successful demos, cut every tick into (observation, next k
actions) pairs (padded with the episode's last action: the arm holds after the release), z-score both with
stats from the training split, train with AdamW + cosine decay on the ACT objective (L1 + β·KL), keep the
epoch with the lowest held-out L1 (z = 0, as at inference), export ``ActInference`` to ONNX with fixed
names (``observation`` → ``actions``), metadata and a numerical check against onnxruntime, and write a
loss plot and a model card. Deterministic for a seed on one machine (torch CPU, fixed thread count).
Importable without torch (CI runs without the training extra); training raises a PolicyError then.
"""

from __future__ import annotations

import json
import math
import platform
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from visuomotor.errors import ConfigError
from visuomotor.kinematics import T_FLANGE_TCP
from visuomotor.policy.configuration import ActConfig
from visuomotor.policy.errors import PolicyError
from visuomotor.policy.observation import ACTION_DIM, ACTION_LAYOUT, TASK_OBS_LAYOUTS, NormStats
from visuomotor.policy.runtime import INPUT_NAME, METADATA_FORMAT, OUTPUT_NAME
from visuomotor.training.policy_demos import Episode, load_episodes
from visuomotor.training.policy_model import ActInference, ActModel, act_loss, require_torch, torch

__all__ = ["TrainConfig", "TrainResult", "build_chunks", "export_onnx", "train_act", "write_model_card"]


@dataclass(frozen=True, slots=True)
class TrainConfig:
    """One training run.

    Attributes:
        demos_dir: dataset from ``visuomotor demos``.
        name: run and model name (``runs/<name>/``, ``models/<name>.onnx``).
        act: network and objective.
        epochs: passes over the training split (an upper bound with ``time_budget_s``).
        time_budget_s: wall-clock budget of the training loop; after the first epoch the epoch count
            (and the cosine schedule) is fitted to it. 0 = no budget. The card records the epochs run;
            ``epochs`` = that number without a budget reproduces the run exactly.
        batch_size: samples per step.
        lr: peak AdamW learning rate (cosine decay to 1 % after a 2 % warm-up).
        weight_decay: AdamW weight decay.
        grad_clip: max gradient norm.
        val_fraction: share of episodes held out (whole episodes, never ticks of a training episode).
        seed: torch/numpy seed (splits, init, dropout, CVAE noise).
        threads: torch intra-op threads (fixed: results depend on it).
        runs_dir, models_dir: outputs.
        progress: show a tqdm bar.
    """

    demos_dir: Path
    name: str = "act_pick"
    act: ActConfig = field(default_factory=ActConfig)
    epochs: int = 100
    time_budget_s: float = 0.0
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 1e-4
    grad_clip: float = 1.0
    val_fraction: float = 0.05
    seed: int = 0
    threads: int = 2
    runs_dir: Path = Path("runs")
    models_dir: Path = Path("models")
    progress: bool = True

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.threads < 1:
            raise ConfigError(
                f"TrainConfig.epochs, batch_size and threads must be ≥ 1, got {self.epochs}, "
                f"{self.batch_size}, {self.threads}"
            )
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ConfigError(f"TrainConfig.lr must be positive, got {self.lr}")
        if not 0.0 <= self.val_fraction < 0.5:
            raise ConfigError(f"TrainConfig.val_fraction must be in [0, 0.5), got {self.val_fraction}")


@dataclass(frozen=True, slots=True)
class TrainResult:
    """What a run produced.

    Attributes:
        onnx_path, card_path, plot_path, checkpoint_path: files written.
        episodes, samples: training data (episodes used, (obs, chunk) pairs).
        epochs: epochs run; best_epoch: the one exported (lowest held-out L1).
        train_seconds: wall time of the training loop.
        final_train_l1, final_val_l1, best_val_l1: normalised-unit L1 losses.
        onnx_max_abs_diff: max |torch − onnxruntime| over check inputs (normalised units).
        onnx_bytes: size of the ONNX file.
        history: per-epoch {"epoch", "train_loss", "train_l1", "train_kl", "val_l1"}.
    """

    onnx_path: Path
    card_path: Path
    plot_path: Path
    checkpoint_path: Path
    episodes: int
    samples: int
    epochs: int
    best_epoch: int
    train_seconds: float
    final_train_l1: float
    final_val_l1: float
    best_val_l1: float
    onnx_max_abs_diff: float
    onnx_bytes: int
    history: list[dict[str, float]]


def build_chunks(episodes: list[Episode], chunk_size: int) -> tuple[np.ndarray, np.ndarray]:
    """(observation, next k actions) pairs of every tick.

    Returns:
        (N, obs_dim) observations and (N, k, ACTION_DIM) chunks of the valid ticks; a chunk running
        past the episode end repeats the last action (the arm holds).
    """
    obs, chunks = [], []
    for ep in episodes:
        T = ep.actions.shape[0]
        if T == 0:
            continue
        idx = np.minimum(np.arange(T)[:, None] + np.arange(chunk_size)[None, :], T - 1)  # (T, k)
        keep = ep.valid  # forced-miss ticks never start a chunk (their labels assume an aligned arm)
        obs.append(ep.observations[keep])
        chunks.append(ep.actions[idx][keep])  # (T_valid, k, ACTION_DIM)
    if not obs:
        raise PolicyError("no demonstration ticks to train on; record successful demos first")
    return np.concatenate(obs).astype(np.float32), np.concatenate(chunks).astype(np.float32)


def _lr_lambda(plan: dict[str, int]):
    """Warm-up (2 %) then cosine to 1 %, over ``plan["total"]`` steps (mutable: a time budget refits it)."""

    def f(step: int) -> float:
        total = plan["total"]
        warmup = max(1, total // 50)
        if step < warmup:
            return (step + 1) / warmup
        t = (step - warmup) / max(1, total - warmup)
        return 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))

    return f


def _val_l1(model: ActModel, obs: torch.Tensor, act: torch.Tensor) -> float:
    if obs.shape[0] == 0:
        return float("nan")
    model.eval()
    with torch.no_grad():
        total = 0.0
        for i in range(0, obs.shape[0], 1024):
            pred, _ = model(obs[i : i + 1024])
            total += float((pred - act[i : i + 1024]).abs().sum())
    return total / act.numel()


def export_onnx(
    model: ActModel, stats: NormStats, path: Path, extra_metadata: dict[str, str] | None = None
) -> float:
    """Export the inference graph (z = 0) with fixed names and metadata; check it against onnxruntime.

    The metadata names the model's task (``pick``/``conveyor``) and observation layout; the runtime
    refuses a model whose observation does not fit the task it is asked to run.

    Returns:
        max |torch − onnxruntime| over 64 random normalised observations.

    Raises:
        PolicyError: the exported graph disagrees with torch by more than 1e-4.
    """
    import onnx
    import onnxruntime as ort

    require_torch()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    wrapper = ActInference(model).eval()
    obs_dim = model.obs_dim
    task = next(t for t, layout in TASK_OBS_LAYOUTS.items() if layout == model.obs_layout)
    example = torch.zeros(1, obs_dim)
    with warnings.catch_warnings():
        # The TorchScript exporter (no onnxscript needed; plain ops for this small graph) warns that it
        # is legacy; the dynamo exporter needs onnxscript, which the training extra does not install.
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        torch.onnx.export(
            wrapper,
            (example,),
            str(path),
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            opset_version=17,
            dynamo=False,
        )
    proto = onnx.load(str(path))
    cfg = model.cfg
    metadata = {
        "format": METADATA_FORMAT,
        "task": task,
        "chunk_size": str(cfg.chunk_size),
        "control_period_s": repr(cfg.control_period_s),
        "obs_dim": str(obs_dim),
        "action_dim": str(ACTION_DIM),
        "obs_layout": json.dumps(model.obs_layout),
        "action_layout": json.dumps(ACTION_LAYOUT),
        "action_frame": "base_link; TCP position (m) + first two columns of R_base_link_tcp + gripper 0..1",
        "latent": "z = 0 (CVAE prior mean); inputs/outputs are z-scored with the stats below",
        "act_config": json.dumps(cfg.to_flat()),
        # The FK features assume this tool (the sim gripper); a different real TCP needs retraining.
        "fk_T_flange_tcp": json.dumps(np.asarray(T_FLANGE_TCP).tolist()),
        **stats.to_metadata(),
        **(extra_metadata or {}),
    }
    del proto.metadata_props[:]
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    gen = torch.Generator().manual_seed(1)
    worst = 0.0
    with torch.no_grad():
        for _ in range(64):
            x = torch.randn(1, obs_dim, generator=gen)
            ref = wrapper(x).numpy()
            (got,) = session.run([OUTPUT_NAME], {INPUT_NAME: x.numpy()})
            worst = max(worst, float(np.abs(ref - got).max()))
    if worst > 1e-4:
        raise PolicyError(f"exported ONNX differs from torch by {worst:.2e} (> 1e-4); export is broken")
    return worst


def _plot(history: list[dict[str, float]], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [h["epoch"] for h in history]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.semilogy(epochs, [h["train_l1"] for h in history], label="train L1")
    ax.semilogy(epochs, [h["val_l1"] for h in history], label="held-out L1 (z = 0)")
    ax.semilogy(epochs, [max(h["train_kl"], 1e-8) for h in history], label="train KL", alpha=0.6)
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss (normalised units)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def train_act(config: TrainConfig, command: str = "") -> TrainResult:
    """Train, export and document one ACT model (see the module docstring).

    Raises:
        PolicyError: no usable demos or a broken export.
    """
    require_torch()
    torch.manual_seed(config.seed)
    torch.set_num_threads(config.threads)
    rng = np.random.default_rng(config.seed)
    episodes, manifest = load_episodes(config.demos_dir)
    task = manifest.get("task", "pick")
    layout = TASK_OBS_LAYOUTS[task]
    if len(episodes) < 2:
        raise PolicyError(f"{config.demos_dir} has {len(episodes)} successful demos; record at least 2")
    if not math.isclose(manifest["control_period_s"], config.act.control_period_s):
        raise ConfigError(
            f"ActConfig.control_period_s ({config.act.control_period_s}) differs from the demos' "
            f"control_period_s ({manifest['control_period_s']}); they must match"
        )
    order = rng.permutation(len(episodes))
    n_val = max(1, round(config.val_fraction * len(episodes))) if config.val_fraction > 0 else 0
    val_eps = [episodes[i] for i in order[:n_val]]
    train_eps = [episodes[i] for i in order[n_val:]]
    k = config.act.chunk_size
    obs_tr, act_tr = build_chunks(train_eps, k)
    stats = NormStats.from_data(obs_tr, np.concatenate([ep.actions for ep in train_eps]))
    x_tr = torch.from_numpy(stats.normalize_obs(obs_tr))
    y_tr = torch.from_numpy(stats.normalize_action(act_tr))
    if val_eps:
        obs_va, act_va = build_chunks(val_eps, k)
        x_va = torch.from_numpy(stats.normalize_obs(obs_va))
        y_va = torch.from_numpy(stats.normalize_action(act_va))
    else:
        x_va, y_va = torch.zeros(0, x_tr.shape[1]), torch.zeros(0, k, ACTION_DIM)

    model = ActModel(config.act, layout)
    if model.fk is not None:
        model.fk.set_obs_stats(stats.obs_mean, stats.obs_std)
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    n = x_tr.shape[0]
    steps_per_epoch = max(1, n // config.batch_size)
    plan = {"epochs": config.epochs, "total": config.epochs * steps_per_epoch}
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _lr_lambda(plan))

    run_dir = Path(config.runs_dir) / config.name
    run_dir.mkdir(parents=True, exist_ok=True)
    ckpt = run_dir / "best.pt"
    history: list[dict[str, float]] = []
    best_val, best_epoch = math.inf, 0
    bar = None
    if config.progress:
        from tqdm import tqdm

        bar = tqdm(total=config.epochs, desc=f"train {config.name}", unit="epoch")
    t0 = time.perf_counter()
    gen = torch.Generator().manual_seed(config.seed)
    epoch = 0
    while epoch < plan["epochs"]:
        epoch += 1
        model.train()
        perm = torch.randperm(n, generator=gen)
        sums = {"loss": 0.0, "l1": 0.0, "kl": 0.0}
        for s in range(steps_per_epoch):
            idx = perm[s * config.batch_size : (s + 1) * config.batch_size]
            loss, parts = act_loss(model, x_tr[idx], y_tr[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            opt.step()
            sched.step()
            sums["loss"] += float(loss.detach())
            sums["l1"] += parts["l1"]
            sums["kl"] += parts["kl"]
        val = _val_l1(model, x_va, y_va)
        row = {
            "epoch": epoch,
            "train_loss": sums["loss"] / steps_per_epoch,
            "train_l1": sums["l1"] / steps_per_epoch,
            "train_kl": sums["kl"] / steps_per_epoch,
            "val_l1": val,
        }
        history.append(row)
        score = val if math.isfinite(val) else row["train_l1"]
        if score < best_val:
            best_val, best_epoch = score, epoch
            torch.save(model.state_dict(), ckpt)
        if epoch == 1 and config.time_budget_s > 0:
            fit = max(1, int(config.time_budget_s / (time.perf_counter() - t0)))
            if fit < plan["epochs"]:
                plan["epochs"], plan["total"] = fit, fit * steps_per_epoch
                if bar is not None:
                    bar.total = fit
                    bar.refresh()
        if bar is not None:
            bar.set_postfix(l1=f"{row['train_l1']:.4f}", kl=f"{row['train_kl']:.3f}", val=f"{val:.4f}")
            bar.update(1)
    if bar is not None:
        bar.close()
    train_seconds = time.perf_counter() - t0
    model.load_state_dict(torch.load(ckpt, weights_only=True))
    model.eval()

    (run_dir / "history.json").write_text(json.dumps(history, indent=1))
    plot_path = run_dir / "loss.png"
    _plot(history, plot_path, f"{config.name}: ACT k={k}, {len(train_eps)} demos")
    onnx_path = Path(config.models_dir) / f"{config.name}.onnx"
    diff = export_onnx(
        model,
        stats,
        onnx_path,
        {"training_command": command, "demos": str(config.demos_dir), "best_epoch": str(best_epoch)},
    )
    result = TrainResult(
        onnx_path=onnx_path,
        card_path=Path(config.models_dir) / f"{config.name}.md",
        plot_path=plot_path,
        checkpoint_path=ckpt,
        episodes=len(episodes),
        samples=int(n),
        epochs=plan["epochs"],
        best_epoch=best_epoch,
        train_seconds=train_seconds,
        final_train_l1=history[-1]["train_l1"],
        final_val_l1=history[-1]["val_l1"],
        best_val_l1=best_val,
        onnx_max_abs_diff=diff,
        onnx_bytes=onnx_path.stat().st_size,
        history=history,
    )
    write_model_card(result, config, manifest, command)
    return result


def write_model_card(
    result: TrainResult, config: TrainConfig, manifest: dict, command: str, evaluation: dict | None = None
) -> Path:
    """Write ``models/<name>.md``: data, command, architecture, time, losses, export check, evaluation."""
    cfg = config.act
    task = manifest.get("task", "pick")
    layout = TASK_OBS_LAYOUTS[task]
    obs_dim = max(b for _, b in layout.values())
    n_params = sum(p.numel() for p in ActModel(cfg, layout).parameters())
    noise, expert = manifest["config"]["noise"], manifest["config"]["expert"]
    horizon_s = cfg.chunk_size * cfg.control_period_s
    cpu = platform.processor() or platform.machine()
    conveyor = task == "conveyor"
    lines = [
        f"# {config.name} — ACT {'conveyor ' if conveyor else ''}pick-and-place policy (state observation)",
        "",
        "Action Chunking with Transformers (CVAE in training, z = 0 at inference) trained on",
        "scripted-expert demos in the MuJoCo sim; runs with onnxruntime only",
        "(`visuomotor.policy.ActOnnxPolicy`).",
        "",
        "## Interface",
        f"- input `{INPUT_NAME}` [1, {obs_dim}] float32: joints (6, rad), gripper closure (1), target",
        "  cube centre (3, m), bin centre (3, m)"
        + (", target velocity (3, m/s)" if conveyor else "")
        + ", all base_link; z-scored with `obs_mean`/`obs_std`.",
        *([f"- task `{task}` in the metadata: the runtime refuses it for another task"] if conveyor else []),
        f"- output `{OUTPUT_NAME}` [1, {cfg.chunk_size}, {ACTION_DIM}]: per step TCP position (3, m,",
        "  base_link), 6D rotation (first two columns of R_base_link_tcp), gripper 0..1;",
        "  un-z-score with `action_mean`/`action_std`.",
        f"- chunk k = {cfg.chunk_size} at {cfg.control_period_s} s per step ({horizon_s:g} s); temporal",
        f"  ensembling m = {cfg.ensemble_coeff} by default.",
        "",
        "## Data",
        f"- `{config.demos_dir}`: {len(manifest['episodes'])} episodes recorded "
        f"({manifest['successes']} successful, used: {result.episodes}), {result.samples} training ticks;",
        f"  recorded by `{manifest.get('command') or 'visuomotor demos'}` "
        f"in {manifest.get('record_seconds')} s.",
        *(
            [
                "- the leading cube on a conveyor belt (+y) at "
                f"{manifest['config']['conveyor_speed_m_s'][0]:g}–{manifest['config']['conveyor_speed_m_s'][1]:g}"
                " m/s (uniform per episode); intercepting expert (`visuomotor.training.conveyor_expert`): "
                "aim above",
                "  where the cube will be, descend, settle and close moving with the belt (command leads the",
                "  cube by the arm's 0.15 s lag), lift, carry; observed velocity noise σ bias "
                f"{manifest['config']['velocity_noise_m_s'][0] * 1000:g} mm/s, jitter "
                f"{manifest['config']['velocity_noise_m_s'][1] * 1000:g} mm/s;",
            ]
            if conveyor
            else []
        ),
        "- closed-loop scripted expert (top-down grasp at a fixed yaw; approach, descend, settle, close,",
        "  lift, carry, release), tracker-like noise on target/bin "
        f"(σ bias {noise['bias_std_m'] * 1000:g} mm,",
        f"  jitter {noise['jitter_std_m'] * 1000:g} mm), DART command noise "
        f"{expert['action_noise_m'] * 1000:g} mm, random target cube and start joints;",
        f"  {manifest['config']['miss_probability'] * 100:g} % of episodes force a first-grasp miss "
        "(executed commands shifted sideways) to record the open-retreat-retry recovery; those shifted",
        "  ticks start no training chunk.",
        "",
        "## Training",
        f"- command: `{command}`",
        f"- model: d_model {cfg.d_model}, heads {cfg.n_heads}, ff {cfg.dim_feedforward}, layers: encoder "
        f"{cfg.n_encoder_layers}, decoder {cfg.n_decoder_layers}, CVAE encoder {cfg.n_vae_encoder_layers};",
        f"  latent {cfg.latent_dim}, KL weight {cfg.kl_weight}, dropout {cfg.dropout}; "
        f"{n_params:,} parameters",
        f"- {result.epochs} epochs, batch {config.batch_size}, AdamW lr {config.lr} (cosine), seed "
        f"{config.seed}, {config.threads} CPU threads: {result.train_seconds / 60:.1f} min on {cpu}",
        *(
            [
                f"- the {config.time_budget_s / 60:g} min budget fitted {result.epochs} epochs; "
                f"`--epochs {result.epochs}` without a budget reproduces this run exactly"
            ]
            if config.time_budget_s > 0
            else []
        ),
        f"- L1 (normalised units): final train {result.final_train_l1:.4f}, final held-out "
        f"{result.final_val_l1:.4f};",
        f"  best held-out {result.best_val_l1:.4f} at epoch {result.best_epoch} (the exported weights)",
        f"- loss plot: `{result.plot_path}`; checkpoint: `{result.checkpoint_path}`",
        f"- ONNX: {result.onnx_bytes / 1024:.0f} KiB, opset 17, max |torch − onnxruntime| = "
        f"{result.onnx_max_abs_diff:.1e}",
    ]
    if evaluation:
        lines += ["", "## Measurements", *[f"- {k}: {v}" for k, v in evaluation.items()]]
    path = result.card_path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path
