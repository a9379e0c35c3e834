"""``ActOnnxPolicy``: the ACT policy at run time — onnxruntime and numpy only (no torch).

The small stateful API of LeRobot's ACT policy: :meth:`~ActOnnxPolicy.reset` at the start of an episode,
:meth:`~ActOnnxPolicy.select_action` once per control tick (served from the temporal ensembler, or from a
queue refilled every ``n_action_steps``), :meth:`~ActOnnxPolicy.predict_action_chunk` for the raw chunk.
Everything the model needs besides weights — normalisation, chunk size, control period, layouts — is read
from the ONNX ``metadata_props`` written by ``visuomotor train act``.

The execution provider in use is logged and exposed as ``policy.provider``; asking for one and getting
another is a warning or a :class:`PolicyError` (``provider_fallback``), never silent — as for the detector.
"""

from __future__ import annotations

import json
import logging
import math
from collections import deque
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort

from visuomotor.detection.errors import DetectorError
from visuomotor.detection.providers import expand_provider_names
from visuomotor.policy.configuration import PROVIDER_FALLBACKS, PolicyConfig
from visuomotor.policy.ensembling import TemporalEnsembler
from visuomotor.policy.errors import PolicyError
from visuomotor.policy.observation import ACTION_DIM, TASK_OBS_LAYOUTS, TASKS, NormStats

__all__ = ["INPUT_NAME", "METADATA_FORMAT", "OUTPUT_NAME", "ActOnnxPolicy"]

log = logging.getLogger(__name__)

INPUT_NAME = "observation"
OUTPUT_NAME = "actions"
#: ``metadata_props["format"]`` of models exported by ``visuomotor train act``.
METADATA_FORMAT = "visuomotor-act-v1"

_CPU = "CPUExecutionProvider"


def _provider_names(requested: Sequence[str]) -> list[str]:
    """The detector's provider-name expansion (one mapping for both models), errors as PolicyError."""
    try:
        return expand_provider_names(requested, ort.get_available_providers())
    except DetectorError as err:
        raise PolicyError(f"policy providers: {err}") from err


class ActOnnxPolicy:
    """Run an exported ACT model.

    Args:
        model_path: ONNX file from ``visuomotor train act``.
        temporal_ensembling: override the model's default (its ``act_config``); None = the model's.
        ensemble_coeff: m of the ensembler weights exp(−m·i); None = the model's.
        n_action_steps: actions played per chunk without ensembling; None = the model's.
        providers: execution providers, best first (``cpu``, ``cuda``, ``tensorrt`` or full names).
        provider_fallback: ``warn`` or ``error`` when the provider in use is not the first asked for.
        intra_op_threads: ONNX Runtime threads per operator.
        task: the task the caller will run (``pick`` or ``conveyor``); the model's observation must be
            that task's. None = whatever the model was trained for (its ``task`` metadata; ``pick`` for
            models that predate it).

    Raises:
        PolicyError: missing file, not an ACT export (metadata), unexpected input/output shapes, a model
            for another task than ``task`` (one line naming both and the fix), a bad combination
            (ensembling with ``n_action_steps`` > 1), or a provider fallback with ``error``.
    """

    def __init__(
        self,
        model_path: str | Path,
        *,
        temporal_ensembling: bool | None = None,
        ensemble_coeff: float | None = None,
        n_action_steps: int | None = None,
        providers: Sequence[str] = ("cpu",),
        provider_fallback: str = "warn",
        intra_op_threads: int = 2,
        task: str | None = None,
    ) -> None:
        path = Path(model_path)
        if not path.is_file():
            raise PolicyError(
                f"ACT model {path} not found; train and export one with `visuomotor train act --demos DIR` "
                "or set policy model_path"
            )
        if provider_fallback not in PROVIDER_FALLBACKS:
            raise PolicyError(
                f"provider_fallback must be one of {PROVIDER_FALLBACKS}, got {provider_fallback!r}"
            )
        self.path = path
        wanted = _provider_names(providers)
        available = ort.get_available_providers()
        usable = [p for p in wanted if p in available] or [_CPU]
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = intra_op_threads
        opts.inter_op_num_threads = 1
        # A 0.2 ms model: spinning workers would hold a core between ticks that perception needs.
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(path), sess_options=opts, providers=usable)
        except Exception as err:  # onnxruntime's pybind errors derive from Exception only
            raise PolicyError(
                f"onnxruntime cannot load {path} ({type(err).__name__}: {err}); re-export it with "
                "`visuomotor train act`"
            ) from err
        self.provider: str = self.session.get_providers()[0]
        if self.provider != wanted[0]:
            message = (
                f"ACT policy asked for {wanted[0]} but runs on {self.provider} (available: "
                f"{', '.join(available)}); set policy providers to [cpu] to run on CPU on purpose"
            )
            if provider_fallback == "error":
                raise PolicyError(message)
            log.warning(message)
        else:
            log.info("ACT policy runs on %s", self.provider)

        self.metadata: dict[str, str] = dict(self.session.get_modelmeta().custom_metadata_map)
        if self.metadata.get("format") != METADATA_FORMAT:
            raise PolicyError(
                f"{path} is not an ACT export of this project (metadata format "
                f"{self.metadata.get('format')!r}, expected {METADATA_FORMAT!r}); export it with "
                "`visuomotor train act`"
            )
        self.stats = NormStats.from_metadata(self.metadata)
        try:
            self.chunk_size = int(self.metadata["chunk_size"])
            self.control_period_s = float(self.metadata["control_period_s"])
            act_config = json.loads(self.metadata.get("act_config", "{}"))
        except (KeyError, ValueError) as err:
            raise PolicyError(
                f"{path}: ACT metadata lacks or garbles chunk_size/control_period_s: {err}"
            ) from err
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        self.task: str = self.metadata.get("task", "pick")
        if self.task not in TASKS:
            raise PolicyError(f"{path}: metadata task {self.task!r} is none of {TASKS}")
        #: Numbers in one observation (``TASK_OBS_LAYOUTS[task]``).
        self.obs_dim = max(b for _, b in TASK_OBS_LAYOUTS[self.task].values())
        width = inputs[0].shape[1] if inputs and len(inputs[0].shape) == 2 else None
        if task is not None:
            if task not in TASKS:
                raise PolicyError(f"unknown task {task!r}; the policy knows {TASKS}")
            need = max(b for _, b in TASK_OBS_LAYOUTS[task].values())
            if width != need or self.task != task:
                raise PolicyError(
                    f"{path} takes a {width}-number observation ({self.task} task) but the {task} task needs "
                    f"{need}: set policy model_path to a {task} model (models/act_{task}.onnx)"
                )
        if [i.name for i in inputs] != [INPUT_NAME] or list(inputs[0].shape) != [1, self.obs_dim]:
            raise PolicyError(
                f"{path}: expected one input {INPUT_NAME!r} of shape [1, {self.obs_dim}], got "
                f"{[(i.name, i.shape) for i in inputs]}"
            )
        if outputs[0].name != OUTPUT_NAME or list(outputs[0].shape) != [1, self.chunk_size, ACTION_DIM]:
            raise PolicyError(
                f"{path}: expected output {OUTPUT_NAME!r} of shape [1, {self.chunk_size}, {ACTION_DIM}], got "
                f"{[(o.name, o.shape) for o in outputs]}"
            )

        self.temporal_ensembling = bool(
            act_config.get("temporal_ensembling", True)
            if temporal_ensembling is None
            else temporal_ensembling
        )
        coeff = float(act_config.get("ensemble_coeff", 0.01) if ensemble_coeff is None else ensemble_coeff)
        steps = int(act_config.get("n_action_steps", 1) if n_action_steps is None else n_action_steps)
        if self.temporal_ensembling and steps != 1:
            raise PolicyError(f"temporal ensembling needs n_action_steps = 1, got {steps}")
        if not 1 <= steps <= self.chunk_size:
            raise PolicyError(f"n_action_steps must be in [1, chunk_size={self.chunk_size}], got {steps}")
        self.n_action_steps = steps
        self.ensembler: TemporalEnsembler | None = (
            TemporalEnsembler(self.chunk_size, coeff, round(self.control_period_s * 1e9))
            if self.temporal_ensembling
            else None
        )
        self._queue: deque[np.ndarray] = deque()
        # Warm-up on the mean observation: first-run allocations happen here, not in the first control
        # tick, and a graph whose real output disagrees with its declared shape is caught at load.
        (y,) = self.session.run([OUTPUT_NAME], {INPUT_NAME: np.zeros((1, self.obs_dim), np.float32)})
        if y.shape != (1, self.chunk_size, ACTION_DIM):
            raise PolicyError(
                f"{path}: output {OUTPUT_NAME!r} has shape {list(y.shape)} at run time, "
                f"expected [1, {self.chunk_size}, {ACTION_DIM}]"
            )

    @classmethod
    def from_config(cls, config: PolicyConfig) -> ActOnnxPolicy:
        """Open ``config.model_path`` as configured; the control rate must match the model's.

        Raises:
            PolicyError: as the constructor, or ``control_rate_hz`` ≠ 1 / the model's control period.
        """
        policy = cls(
            config.model_path,
            temporal_ensembling=config.temporal_ensembling,
            ensemble_coeff=config.ensemble_coeff,
            n_action_steps=config.n_action_steps,
            providers=config.providers,
            provider_fallback=config.provider_fallback,
            intra_op_threads=config.intra_op_threads,
            task=config.task,
        )
        if not math.isclose(config.control_period_s, policy.control_period_s, rel_tol=0.01):
            raise PolicyError(
                f"policy.control_rate_hz = {config.control_rate_hz} but {config.model_path} was trained at "
                f"{1.0 / policy.control_period_s:g} Hz (a chunk is a time series at that rate); set "
                "control_rate_hz to the model's rate or retrain"
            )
        return policy

    def reset(self) -> None:
        """Forget queued/ensembled actions (call at the start of every episode)."""
        self._queue.clear()
        if self.ensembler is not None:
            self.ensembler.reset()

    def predict_action_chunk(self, observation: np.ndarray) -> np.ndarray:
        """One inference: (obs_dim,) raw observation → (k, ACTION_DIM) float32 raw actions.

        Raises:
            PolicyError: wrong shape, NaN/inf in the observation or in the model's output.
        """
        obs = np.asarray(observation, dtype=np.float32)
        n = self.obs_dim
        if obs.shape not in ((n,), (1, n)):
            raise PolicyError(f"ACT observation must have shape ({n},), got {obs.shape}")
        if not np.isfinite(obs).all():
            raise PolicyError("ACT observation contains NaN or inf; check the joint states and tracks")
        x = self.stats.normalize_obs(obs.reshape(1, n))
        (y,) = self.session.run([OUTPUT_NAME], {INPUT_NAME: x})
        chunk = self.stats.unnormalize_action(y[0])  # (k, ACTION_DIM)
        if not np.isfinite(chunk).all():
            raise PolicyError(f"the ACT model {self.path} produced NaN or inf; the model file is broken")
        return chunk

    def select_action(self, observation: np.ndarray, stamp_ns: int | None = None) -> np.ndarray:
        """The action to execute at this tick, (ACTION_DIM,) float64 raw units.

        With temporal ensembling: one inference per call, averaged with the earlier chunks' predictions for
        ``stamp_ns`` (the observation's time; ticks may come faster than the model's control rate, e.g.
        every camera frame; None = one control period after the last tick). Without: an inference every
        ``n_action_steps`` calls, actions served from the queue in between.
        """
        if self.ensembler is not None:
            return self.ensembler.update(self.predict_action_chunk(observation), stamp_ns)
        if not self._queue:
            chunk = self.predict_action_chunk(observation)
            self._queue.extend(np.asarray(a, dtype=np.float64) for a in chunk[: self.n_action_steps])
        return self._queue.popleft()

    def select_chunk(self, observation: np.ndarray, stamp_ns: int | None = None) -> np.ndarray:
        """The plan from this tick on, (n, ACTION_DIM) float64, one row per control period: row 0 is
        ``select_action(observation, stamp_ns)``.

        The rows after it are the steps still pending: the ensembled averages so far (ensembling) or the
        queued actions (queue). This is what the policy node publishes; the commander replans every tick,
        so the later rows only shape the trajectory between ticks (its velocity), never override row 0.
        """
        first = self.select_action(observation, stamp_ns)
        if self.ensembler is not None:
            rest = self.ensembler.pending_actions()
            return np.vstack([first[None, :], rest]) if rest.size else first[None, :]
        return np.vstack([first[None, :], *(a[None, :] for a in self._queue)])
