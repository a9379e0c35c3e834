"""ONNX Runtime execution providers and session options: what was asked for, what runs, and saying so.

Asking for an accelerated provider and getting another one (CUDA asked, CPU given) is a warning or an
error, by ``DetectorConfig.provider_fallback``; it is never silent. Two ways to get there exist: the
installed build lacks the provider (plain ``onnxruntime`` has no CUDA), or the provider is in the build
but fails to start (``onnxruntime-gpu`` without a CUDA driver logs an error and runs on CPU). Both are
caught by comparing the first provider asked for with the session's first provider.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import onnxruntime as ort

from visuomotor.detection.detector import DetectorConfig
from visuomotor.detection.errors import DetectorError, ProviderFallbackError

__all__ = [
    "AUTO_PROVIDERS",
    "CPU",
    "SHORT_PROVIDER_NAMES",
    "ProviderFallbackError",
    "check_provider",
    "create_session",
    "expand_provider_names",
    "session_options",
]

log = logging.getLogger(__name__)

CPU = "CPUExecutionProvider"
#: What ``providers: [auto]`` tries, best first; only those in the installed build are asked for.
AUTO_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider", CPU)
#: Short names accepted in the config for the providers this project deploys on.
SHORT_PROVIDER_NAMES = {
    "tensorrt": "TensorrtExecutionProvider",
    "trt": "TensorrtExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "cpu": CPU,
    "openvino": "OpenVINOExecutionProvider",
    "dnnl": "DnnlExecutionProvider",
}
_GRAPH_LEVELS = {
    "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}


def expand_provider_names(requested: Sequence[str], available: Sequence[str]) -> list[str]:
    """Turn the config's provider list into full ONNX Runtime names, best first.

    Args:
        requested: ``["auto"]`` or names such as ``["tensorrt", "CUDAExecutionProvider", "cpu"]``.
        available: ``onnxruntime.get_available_providers()`` of the installed build.

    Returns:
        Full provider names in order of preference. For ``auto``: the accelerated providers the build
        offers, then CPU (a CPU-only build asks for CPU only, which is then no fallback).

    Raises:
        DetectorError: a name ONNX Runtime does not know (the message lists the valid ones).
    """
    if list(requested) == ["auto"]:
        return [p for p in AUTO_PROVIDERS if p in available or p == CPU]
    known = ort.get_all_providers()
    lower = {name.lower(): name for name in known}
    names = []
    for raw in requested:
        name = SHORT_PROVIDER_NAMES.get(raw.lower()) or lower.get(raw.lower())
        if name is None:
            raise DetectorError(
                f"unknown execution provider {raw!r} in detector providers; use auto, one of "
                f"{sorted(SHORT_PROVIDER_NAMES)} or a full ONNX Runtime name ({', '.join(known)})"
            )
        if name not in names:
            names.append(name)
    return names


def session_options(config: DetectorConfig) -> ort.SessionOptions:
    """ONNX Runtime session options from the config (threads, graph optimisation, sequential execution)."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = config.intra_op_threads
    opts.inter_op_num_threads = config.inter_op_threads
    opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if config.thread_spinning else "0")
    opts.graph_optimization_level = _GRAPH_LEVELS[config.graph_optimization]
    # A detector is one chain of convolutions: parallel operator execution only adds scheduling cost.
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.log_severity_level = 3  # errors only; the provider check below reports fallbacks itself
    return opts


def _provider_options(name: str, config: DetectorConfig) -> dict[str, Any]:
    if name == "CUDAExecutionProvider":
        return {"device_id": config.device_id}
    if name == "TensorrtExecutionProvider":
        opts: dict[str, Any] = {"device_id": config.device_id, "trt_fp16_enable": config.tensorrt_fp16}
        if config.tensorrt_cache_dir:
            opts |= {"trt_engine_cache_enable": True, "trt_engine_cache_path": config.tensorrt_cache_dir}
        return opts
    return {}


def create_session(path: Path, config: DetectorConfig) -> tuple[ort.InferenceSession, str]:
    """Open ``path`` with the providers and options of ``config`` and check the provider in use.

    Args:
        path: an existing ONNX file.
        config: providers, fallback policy, threads and graph optimisation.

    Returns:
        (session, provider in use), e.g. ``(session, "CPUExecutionProvider")``.

    Raises:
        DetectorError: ONNX Runtime cannot load the file (not ONNX, unsupported operators or opset).
        ProviderFallbackError: the provider in use is not the first one asked for and
            ``provider_fallback`` is ``error``.
    """
    available = ort.get_available_providers()
    wanted = expand_provider_names(config.providers, available)
    usable = [p for p in wanted if p in available]
    if not usable or (CPU not in usable and config.provider_fallback == "warn"):
        # Nothing asked for is in this build: CPU is the only way to run; check_provider says so.
        usable.append(CPU)
    try:
        session = ort.InferenceSession(
            str(path),
            sess_options=session_options(config),
            providers=usable,
            provider_options=[_provider_options(p, config) for p in usable],
        )
    except Exception as err:  # onnxruntime's pybind errors derive from Exception only
        raise DetectorError(
            f"onnxruntime cannot load {path} ({type(err).__name__}: {err}); the file is not a valid ONNX "
            "model for this onnxruntime: re-export it with `visuomotor train detector` (or ultralytics "
            "export format=onnx) and check that it is not a Git LFS pointer or a .pt file"
        ) from err
    in_use = session.get_providers()[0]
    check_provider(wanted, in_use, available, config.provider_fallback)
    return session, in_use


def check_provider(wanted: Sequence[str], in_use: str, available: Sequence[str], fallback: str) -> None:
    """Compare the provider running with the first one asked for; warn or raise on a difference.

    Args:
        wanted: full provider names asked for, best first.
        in_use: the session's first provider.
        available: providers of the installed build (for the message).
        fallback: ``warn`` (log a warning) or ``error`` (raise).

    Raises:
        ProviderFallbackError: a difference and ``fallback == "error"``.
    """
    if in_use == wanted[0]:
        log.info("detector runs on %s (asked for %s)", in_use, ", ".join(wanted))
        return
    why = (
        "it is not in this onnxruntime build"
        if wanted[0] not in available
        else "it is in this build but failed to start (driver, CUDA/cuDNN or TensorRT libraries)"
    )
    message = (
        f"detector asked for {wanted[0]} but runs on {in_use}: {why} (available: {', '.join(available)}). "
        "Install onnxruntime-gpu (not beside onnxruntime) with matching CUDA/cuDNN/TensorRT, or set "
        "detector providers to [cpu] to run on CPU on purpose"
    )
    if fallback == "error":
        raise ProviderFallbackError(message)
    log.warning(message)
