"""The ACT network in PyTorch: a stateless module (LeRobot ``modeling_act.py`` in spirit, state-only).

Structure (Zhao et al., "Learning Fine-Grained Bimanual Manipulation with Low-Cost Hardware", RSS 2023):

- CVAE encoder (training only): [CLS, observation, a_1 … a_k] tokens → transformer encoder → the CLS
  output → (μ, log σ²) of the style latent z (LeRobot feeds the robot state; here the whole observation).
- Encoder: [z, robot state, target, bin, FK features] tokens (each projected to d_model, plus a learned
  position embedding) → transformer encoder. ACT's image features would be further tokens; we have none.
  The FK token (ours, ``TcpFeatures``): the TCP position from the observed joints and the target/bin
  offsets from it, computed exactly in the graph — the observation interface stays the 13 numbers.
- Decoder: k learned queries cross-attend to the encoder output → linear head → k actions, plus a
  linear skip from the observation (ours, see ``ActModel``: it makes "grasp at the target" exact).

At inference z = 0 (the prior mean, ACT §IV-B), so the exported ONNX graph is the encoder/decoder path
only: ``observation`` (1, obs_dim) normalised → ``actions`` (1, k, ACTION_DIM) normalised.

Attention is written out (no ``nn.MultiheadAttention``) so the module exports to ONNX with plain
MatMul/Softmax and has no fused fast path that behaves differently in eval mode. Blocks are pre-norm
(more stable on small data than ACT's default post-norm).
"""

from __future__ import annotations

import math

import numpy as np

from visuomotor.kinematics import T_BASE_LINK_BASE, T_FLANGE_TCP, UR10E_DH
from visuomotor.policy.configuration import ActConfig
from visuomotor.policy.errors import PolicyError
from visuomotor.policy.observation import ACTION_DIM, OBS_LAYOUT

try:
    import torch
    from torch import Tensor, nn

    _Module: type = nn.Module
except ModuleNotFoundError:  # the optional training extra is absent: importable, not usable
    torch = None  # type: ignore[assignment]
    _Module = object

__all__ = [
    "FK_FEATURE_DIM",
    "OBS_TOKENS",
    "ActInference",
    "ActModel",
    "TcpFeatures",
    "act_loss",
    "obs_tokens",
    "require_torch",
]


def require_torch() -> None:
    """Raise a PolicyError naming the fix when torch (the training extra) is not installed."""
    if torch is None:
        raise PolicyError(
            "ACT training and export need torch, the optional training extra: "
            "pip install -r requirements/train.txt (the runtime, ActOnnxPolicy, does not)"
        )


def obs_tokens(layout: dict[str, tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    """Observation slices that become one encoder token each: robot state (joints + gripper), target,
    bin, and the target's velocity where the layout has it (the conveyor task)."""
    tokens = [
        (layout["joint_positions_rad"][0], layout["gripper_closure"][1]),
        layout["p_base_link_target_m"],
        layout["p_base_link_bin_m"],
    ]
    if "v_base_link_target_m_s" in layout:
        tokens.append(layout["v_base_link_target_m_s"])
    return tuple(tokens)


def _obs_dim(layout: dict[str, tuple[int, int]]) -> int:
    return max(b for _, b in layout.values())


#: The pick task's tokens (``obs_tokens(OBS_LAYOUT)``).
OBS_TOKENS: tuple[tuple[int, int], ...] = obs_tokens(OBS_LAYOUT)


#: TCP position, target − TCP, bin − TCP (metres / FK_SCALE_M).
FK_FEATURE_DIM = 9
#: Fixed scale of the FK features (≈ the workspace half-size), so they enter the network at O(1).
FK_SCALE_M = 0.3


class TcpFeatures(_Module):
    """Geometric features computed in the graph: UR10e forward kinematics of the observed joints.

    The network would otherwise have to learn FK from six angles to centimetre precision to know how far
    the gripper is from the cube; the published DH chain does it exactly (``visuomotor.kinematics``,
    same tool transform as the sim). Inputs are the NORMALISED observation, so the observation stats are
    buffers of this module (set by :meth:`set_obs_stats` before training; saved with the weights).

    Returns (B, FK_FEATURE_DIM): [p_tcp, p_target − p_tcp, p_bin − p_tcp] / FK_SCALE_M, base_link.

    Args:
        layout: the observation layout (``OBS_LAYOUT`` or the conveyor's; only its shared fields are read).
    """

    def __init__(self, layout: dict[str, tuple[int, int]] = OBS_LAYOUT) -> None:
        require_torch()
        super().__init__()
        self.layout = dict(layout)
        self.register_buffer("obs_mean", torch.zeros(_obs_dim(layout)))
        self.register_buffer("obs_std", torch.ones(_obs_dim(layout)))
        self.register_buffer("dh_d", torch.tensor(UR10E_DH.d, dtype=torch.float32))
        self.register_buffer("dh_a", torch.tensor(UR10E_DH.a, dtype=torch.float32))
        self.register_buffer("dh_cos_alpha", torch.tensor(np.cos(UR10E_DH.alpha), dtype=torch.float32))
        self.register_buffer("dh_sin_alpha", torch.tensor(np.sin(UR10E_DH.alpha), dtype=torch.float32))
        self.register_buffer("T_base_link_base", torch.tensor(T_BASE_LINK_BASE, dtype=torch.float32))
        self.register_buffer("T_flange_tcp", torch.tensor(T_FLANGE_TCP, dtype=torch.float32))

    def set_obs_stats(self, mean: np.ndarray, std: np.ndarray) -> None:
        """Copy the observation normalisation (obs_dim,) into the buffers."""
        self.obs_mean.copy_(torch.tensor(np.array(mean, dtype=np.float32)))  # copy: stats are read-only
        self.obs_std.copy_(torch.tensor(np.array(std, dtype=np.float32)))

    def tcp_position(self, q: Tensor) -> Tensor:
        """(B, 6) joints, rad → (B, 3) TCP position in base_link, metres (standard DH, as ``dh.py``)."""
        B = q.shape[0]
        T = self.T_base_link_base.expand(B, 4, 4)
        zero, one = q.new_zeros(B), q.new_ones(B)
        for i in range(6):
            ct, st = torch.cos(q[:, i]), torch.sin(q[:, i])
            ca, sa = self.dh_cos_alpha[i], self.dh_sin_alpha[i]
            a, d = self.dh_a[i], self.dh_d[i]
            # T_{i-1,i} = Rz(θ)·Tz(d)·Tx(a)·Rx(α), rows stacked → (B, 4, 4)
            A = torch.stack(
                [
                    torch.stack([ct, -st * ca, st * sa, a * ct], dim=-1),
                    torch.stack([st, ct * ca, -ct * sa, a * st], dim=-1),
                    torch.stack([zero, sa * one, ca * one, d * one], dim=-1),
                    torch.stack([zero, zero, zero, one], dim=-1),
                ],
                dim=1,
            )
            T = T @ A
        return (T @ self.T_flange_tcp)[:, :3, 3]

    def forward(self, obs_n: Tensor) -> Tensor:
        obs = obs_n * self.obs_std + self.obs_mean  # (B, obs_dim) raw units
        j0, j1 = self.layout["joint_positions_rad"]
        t0, t1 = self.layout["p_base_link_target_m"]
        b0, b1 = self.layout["p_base_link_bin_m"]
        tcp = self.tcp_position(obs[:, j0:j1])
        return torch.cat([tcp, obs[:, t0:t1] - tcp, obs[:, b0:b1] - tcp], dim=-1) / FK_SCALE_M


class _Attention(_Module):
    def __init__(self, d_model: int, n_heads: int) -> None:
        super().__init__()
        self.n_heads, self.d_head = n_heads, d_model // n_heads
        self.q, self.k, self.v = (nn.Linear(d_model, d_model) for _ in range(3))
        self.out = nn.Linear(d_model, d_model)

    def forward(self, x: Tensor, memory: Tensor) -> Tensor:
        B, Lq, D = x.shape
        Lk = memory.shape[1]
        # (B, L, D) → (B, H, L, Dh)
        q = self.q(x).view(B, Lq, self.n_heads, self.d_head).transpose(1, 2)
        k = self.k(memory).view(B, Lk, self.n_heads, self.d_head).transpose(1, 2)
        v = self.v(memory).view(B, Lk, self.n_heads, self.d_head).transpose(1, 2)
        att = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(self.d_head), dim=-1)  # (B, H, Lq, Lk)
        # (B, H, Lq, Dh) → (B, Lq, H, Dh) → (B, Lq, D)
        return self.out((att @ v).transpose(1, 2).reshape(B, Lq, D))


class _FeedForward(_Module):
    def __init__(self, d_model: int, dim_ff: int, dropout: float) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(d_model, dim_ff), nn.GELU(), nn.Dropout(dropout), nn.Linear(dim_ff, d_model)
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class _EncoderLayer(_Module):
    def __init__(self, cfg: ActConfig) -> None:
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(cfg.d_model), nn.LayerNorm(cfg.d_model)
        self.attn = _Attention(cfg.d_model, cfg.n_heads)
        self.ff = _FeedForward(cfg.d_model, cfg.dim_feedforward, cfg.dropout)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: Tensor) -> Tensor:
        h = self.norm1(x)
        x = x + self.drop(self.attn(h, h))
        return x + self.drop(self.ff(self.norm2(x)))


class _DecoderLayer(_Module):
    def __init__(self, cfg: ActConfig) -> None:
        super().__init__()
        self.norm1, self.norm2, self.norm3 = (nn.LayerNorm(cfg.d_model) for _ in range(3))
        self.self_attn = _Attention(cfg.d_model, cfg.n_heads)
        self.cross_attn = _Attention(cfg.d_model, cfg.n_heads)
        self.ff = _FeedForward(cfg.d_model, cfg.dim_feedforward, cfg.dropout)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: Tensor, memory: Tensor) -> Tensor:
        h = self.norm1(x)
        x = x + self.drop(self.self_attn(h, h))
        x = x + self.drop(self.cross_attn(self.norm2(x), memory))
        return x + self.drop(self.ff(self.norm3(x)))


class ActModel(_Module):
    """ACT over a state observation. Inputs and outputs are NORMALISED (see ``observation.NormStats``).

    Args:
        cfg: architecture (chunk size, widths, depths, latent size, CVAE on/off).
        obs_layout: the task's observation layout (``OBS_LAYOUT``: pick; ``CONVEYOR_OBS_LAYOUT``: one more
            token, the target's velocity).
    """

    def __init__(self, cfg: ActConfig, obs_layout: dict[str, tuple[int, int]] = OBS_LAYOUT) -> None:
        require_torch()
        super().__init__()
        self.cfg = cfg
        self.obs_layout = dict(obs_layout)
        self.obs_dim = _obs_dim(obs_layout)
        self.tokens = obs_tokens(obs_layout)
        d, k = cfg.d_model, cfg.chunk_size
        self.obs_proj = nn.ModuleList(nn.Linear(b - a, d) for a, b in self.tokens)
        self.fk = TcpFeatures(obs_layout) if cfg.fk_features else None
        n_feat = FK_FEATURE_DIM if cfg.fk_features else 0
        self.fk_proj = nn.Linear(FK_FEATURE_DIM, d) if cfg.fk_features else None
        self.latent_proj = nn.Linear(cfg.latent_dim, d)
        n_tokens = 1 + len(self.tokens) + (1 if cfg.fk_features else 0)
        self.enc_pos = nn.Parameter(torch.randn(1, n_tokens, d) * 0.02)  # learned, like ACT's
        self.encoder = nn.ModuleList(_EncoderLayer(cfg) for _ in range(cfg.n_encoder_layers))
        self.enc_norm = nn.LayerNorm(d)
        self.queries = nn.Parameter(torch.randn(1, k, d) * 0.02)  # ACT: query_embed, decoder input = 0 + pos
        self.decoder = nn.ModuleList(_DecoderLayer(cfg) for _ in range(cfg.n_decoder_layers))
        self.dec_norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, ACTION_DIM)
        # Linear skip observation → chunk, zero-initialised. The precision-critical actions are affine in
        # the observation (grasp at the target centre, release above the bin centre: in z-scored units
        # a_n = A·o_n + b exactly), so the transformer only has to learn the phase-dependent part.
        self.skip = nn.Linear(self.obs_dim + n_feat, cfg.chunk_size * ACTION_DIM)
        nn.init.zeros_(self.skip.weight)
        nn.init.zeros_(self.skip.bias)
        if cfg.use_vae:
            self.vae_cls = nn.Parameter(torch.zeros(1, 1, d))
            self.vae_obs_proj = nn.Linear(self.obs_dim, d)
            self.vae_action_proj = nn.Linear(ACTION_DIM, d)
            self.vae_pos = nn.Parameter(torch.randn(1, 2 + k, d) * 0.02)
            self.vae_encoder = nn.ModuleList(_EncoderLayer(cfg) for _ in range(cfg.n_vae_encoder_layers))
            self.vae_norm = nn.LayerNorm(d)
            self.latent_out = nn.Linear(d, 2 * cfg.latent_dim)

    def encode_latent(self, obs: Tensor, actions: Tensor) -> tuple[Tensor, Tensor]:
        """CVAE posterior q(z | obs, actions).

        Args:
            obs: (B, obs_dim) normalised observation.
            actions: (B, k, ACTION_DIM) normalised action chunk.

        Returns:
            (μ, log σ²), each (B, latent_dim).
        """
        B = obs.shape[0]
        tokens = torch.cat(
            [self.vae_cls.expand(B, -1, -1), self.vae_obs_proj(obs)[:, None], self.vae_action_proj(actions)],
            dim=1,
        )  # (B, 2+k, D)
        x = tokens + self.vae_pos
        for layer in self.vae_encoder:
            x = layer(x)
        stats = self.latent_out(self.vae_norm(x[:, 0]))  # CLS output (B, D) → (B, 2·latent)
        mu, logvar = stats.chunk(2, dim=-1)
        return mu, logvar

    def decode(self, obs: Tensor, z: Tensor) -> Tensor:
        """Actions from an observation and a latent.

        Args:
            obs: (B, obs_dim) normalised observation.
            z: (B, latent_dim).

        Returns:
            (B, k, ACTION_DIM) normalised actions.
        """
        B = obs.shape[0]
        tokens = [self.latent_proj(z)] + [
            proj(obs[:, a:b]) for proj, (a, b) in zip(self.obs_proj, self.tokens, strict=True)
        ]
        skip_in = obs
        if self.fk is not None and self.fk_proj is not None:
            feats = self.fk(obs)  # (B, FK_FEATURE_DIM)
            tokens.append(self.fk_proj(feats))
            skip_in = torch.cat([obs, feats], dim=-1)
        x = torch.stack(tokens, dim=1) + self.enc_pos  # (B, n_tokens, D)
        for layer in self.encoder:
            x = layer(x)
        memory = self.enc_norm(x)
        y = self.queries.expand(B, -1, -1)  # (B, k, D)
        for layer in self.decoder:
            y = layer(y, memory)
        skip = self.skip(skip_in).view(B, self.cfg.chunk_size, ACTION_DIM)  # (B, k·A) → (B, k, A)
        return self.head(self.dec_norm(y)) + skip

    def forward(
        self, obs: Tensor, actions: Tensor | None = None
    ) -> tuple[Tensor, tuple[Tensor, Tensor] | None]:
        """Training/inference pass.

        Args:
            obs: (B, obs_dim) normalised observation.
            actions: (B, k, ACTION_DIM) normalised target chunk; used by the CVAE encoder in training.

        Returns:
            (predicted chunk (B, k, ACTION_DIM), (μ, log σ²) or None when z = 0 was used).
        """
        B = obs.shape[0]
        if self.cfg.use_vae and self.training and actions is not None:
            mu, logvar = self.encode_latent(obs, actions)
            z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)  # reparameterisation trick
            return self.decode(obs, z), (mu, logvar)
        z = obs.new_zeros(B, self.cfg.latent_dim)
        return self.decode(obs, z), None


def act_loss(model: ActModel, obs: Tensor, actions: Tensor) -> tuple[Tensor, dict[str, float]]:
    """ACT objective: L1 reconstruction + kl_weight · KL(q(z|·) ‖ N(0, I)) (ACT eq. 1; LeRobot's form).

    Args:
        obs: (B, obs_dim), actions: (B, k, ACTION_DIM), both normalised.

    Returns:
        (loss, {"l1": …, "kl": …}).
    """
    pred, latent = model(obs, actions)
    l1 = (pred - actions).abs().mean()
    if latent is None:
        return l1, {"l1": float(l1.detach()), "kl": 0.0}
    mu, logvar = latent
    kl = (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp())).sum(-1).mean()
    return l1 + model.cfg.kl_weight * kl, {"l1": float(l1.detach()), "kl": float(kl.detach())}


class ActInference(_Module):
    """The exported graph: ``observation`` (B, obs_dim) → ``actions`` (B, k, ACTION_DIM), z = 0."""

    def __init__(self, model: ActModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, observation: Tensor) -> Tensor:
        z = observation.new_zeros(observation.shape[0], self.model.cfg.latent_dim)
        return self.model.decode(observation, z)
