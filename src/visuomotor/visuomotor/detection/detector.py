"""The detector interface: ``Detector`` protocol, its configuration, its result and ``make_detector``.

A detector turns one colour image into 2D boxes (:class:`~visuomotor.interfaces.Detection`) and reports
how long each step took (pre-process, inference, post-process, in ns of ``time.monotonic_ns()``). The
pipeline node records those steps as sub-stages with ``LatencyRecorder.record_stage``; they never enter
a ``FrameTrail`` (a trail is a chain of whole stages).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from visuomotor.config import config_from_flat, config_to_flat
from visuomotor.detection.errors import DetectorError, InvalidImageError
from visuomotor.errors import ConfigError
from visuomotor.interfaces import Detection
from visuomotor.latency import StageTiming

__all__ = [
    "ARCHS",
    "ENCODINGS",
    "GRAPH_OPTIMIZATIONS",
    "PIXEL_CENTRE_OFFSET",
    "PROVIDER_FALLBACKS",
    "DetectionResult",
    "Detector",
    "DetectorConfig",
    "DetectorError",
    "InvalidImageError",
    "check_image",
]

#: ``auto`` reads the architecture from the model (metadata, then output layout).
ARCHS = ("auto", "yolo", "rtdetr")
#: What a failed request for an accelerated provider does: log a warning and run on what is left, or raise.
PROVIDER_FALLBACKS = ("warn", "error")
#: ONNX Runtime graph optimisation levels (``all`` = layout + extended fusions; the fastest on CPU).
GRAPH_OPTIMIZATIONS = ("disable", "basic", "extended", "all")
#: sensor_msgs/Image encodings a detector accepts (3 channels, 8 bits each).
ENCODINGS = ("rgb8", "bgr8")
#: The models learn boxes in the COCO/ultralytics convention of their labels (pixel i spans [i, i+1));
#: ``Detection.box_px`` puts pixel centres at integers (as the intrinsics do), i.e. 0.5 px less.
PIXEL_CENTRE_OFFSET = 0.5


@dataclass(frozen=True, slots=True)
class DetectorConfig:
    """Parameters of a detector (``config/detector.yaml``: ``detector: ros__parameters:``, keys = fields).

    Attributes:
        model_path: the ONNX model file (relative paths are resolved from the working directory).
        arch: ``yolo`` (letterbox, (1, 4+nc, N) output, NMS), ``rtdetr`` (resize, (1, 300, 4+nc), no
            NMS) or ``auto`` (from the model's metadata, then its output layout).
        score_threshold: lowest class score kept, in [0, 1]; COCO evaluation uses 0.001.
        iou_threshold: IoU above which NMS suppresses the lower-scored box of the same class (YOLO).
        max_detections: at most this many detections per image, highest scores first.
        class_agnostic_nms: suppress overlapping boxes across classes too (YOLO); default is per class.
        class_names: class names when the model's metadata has none; empty = from the model (preferred).
        providers: execution providers in order of preference, full ONNX Runtime names
            (``CUDAExecutionProvider``) or short ones (``tensorrt``, ``cuda``, ``cpu``); ``[auto]`` = the
            best the installed onnxruntime build offers (TensorRT → CUDA → CPU).
        provider_fallback: ``warn`` or ``error`` when the provider in use is not the first one asked for
            (e.g. CUDA asked, CPU given); never silent.
        intra_op_threads: threads inside one operator (ONNX Runtime), ≥ 1; 0 = one per physical core.
        inter_op_threads: threads across operators (only used by parallel execution), ≥ 0.
        thread_spinning: let ONNX Runtime's idle worker threads spin-wait for the next operator. Off by
            default: on a small machine the spinning burns the cores the policy, the commander and the
            camera need between frames (``session.intra_op.allow_spinning``).
        graph_optimization: ONNX Runtime graph optimisation level, see ``GRAPH_OPTIMIZATIONS``.
        device_id: GPU index for CUDA/TensorRT.
        tensorrt_fp16: let TensorRT build FP16 engines.
        tensorrt_cache_dir: directory for TensorRT engine caches (a first start builds for minutes);
            empty = no cache.
        warmup_runs: inference runs on a blank image when the model is loaded (≥ 1: the first run also
            checks the output shape and pays one-time allocation costs outside the frame loop).
    """

    model_path: str = "models/detector_yolov8n_int8.onnx"
    arch: str = "auto"
    score_threshold: float = 0.25
    iou_threshold: float = 0.45
    max_detections: int = 100
    class_agnostic_nms: bool = False
    class_names: tuple[str, ...] = ()
    providers: tuple[str, ...] = ("auto",)
    provider_fallback: str = "warn"
    intra_op_threads: int = 2
    inter_op_threads: int = 1
    thread_spinning: bool = False
    graph_optimization: str = "all"
    device_id: int = 0
    tensorrt_fp16: bool = True
    tensorrt_cache_dir: str = ""
    warmup_runs: int = 2

    def __post_init__(self) -> None:
        if not isinstance(self.model_path, str) or not self.model_path:
            raise ConfigError(f"detector: model_path must be a non-empty path, got {self.model_path!r}")
        _choice("arch", self.arch, ARCHS)
        _choice("provider_fallback", self.provider_fallback, PROVIDER_FALLBACKS)
        _choice("graph_optimization", self.graph_optimization, GRAPH_OPTIMIZATIONS)
        for key in ("score_threshold", "iou_threshold"):
            value = getattr(self, key)
            if not (math.isfinite(value) and 0.0 <= value <= 1.0):
                raise ConfigError(f"detector: {key} must be in [0, 1], got {value}")
        for key, lo, hi in (
            ("max_detections", 1, 10000),
            ("intra_op_threads", 0, 256),
            ("inter_op_threads", 0, 256),
            ("device_id", 0, 64),
            ("warmup_runs", 1, 100),
        ):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
                raise ConfigError(f"detector: {key} must be an integer in [{lo}, {hi}], got {value!r}")
        if not isinstance(self.thread_spinning, bool):
            raise ConfigError(
                f"detector: thread_spinning must be true or false, got {self.thread_spinning!r}"
            )
        if not self.providers or any(not isinstance(p, str) or not p for p in self.providers):
            raise ConfigError(
                f"detector: providers must be a non-empty list of provider names (or [auto]), got "
                f"{list(self.providers)}"
            )
        if "auto" in self.providers and len(self.providers) > 1:
            raise ConfigError(
                f"detector: providers [auto] stands alone, got {list(self.providers)}; list providers "
                "explicitly (e.g. [tensorrt, cuda, cpu]) or write [auto]"
            )
        if any(not isinstance(n, str) or not n for n in self.class_names):
            raise ConfigError(
                f"detector: class_names must be non-empty strings, got {list(self.class_names)}"
            )
        if len(set(self.class_names)) != len(self.class_names):
            raise ConfigError(f"detector: class_names has duplicates: {list(self.class_names)}")

    @classmethod
    def from_flat(cls, d: Mapping[str, Any]) -> DetectorConfig:
        """Build from ROS-style parameters (``{"score_threshold": 0.3, ...}``); missing keys keep defaults.

        Lists are accepted for tuple fields and ints for floats (ROS parameter files write ``1`` for
        ``1.0``).

        Raises:
            ConfigError: an unknown key, a wrong type or a value out of range; the message names the key.
        """
        return config_from_flat(cls, d, "detector")

    def to_flat_dict(self) -> dict[str, Any]:
        """The inverse of :meth:`from_flat` (tuples as lists, ROS-parameter friendly)."""
        return config_to_flat(self)


def _choice(key: str, value: object, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"detector: {key} must be one of {list(allowed)}, got {value!r}")


@dataclass(frozen=True, slots=True)
class DetectionResult:
    """Output of :meth:`Detector.detect`.

    Attributes:
        detections: boxes in source-image pixels, highest score first.
        pre_ns: colour conversion + resize/letterbox + tensor layout (ns).
        infer_ns: ``InferenceSession.run`` (ns).
        post_ns: decode + thresholds + NMS + box mapping back to the source image (ns).
    """

    detections: tuple[Detection, ...]
    pre_ns: int
    infer_ns: int
    post_ns: int

    @property
    def total_ns(self) -> int:
        """pre + infer + post (ns)."""
        return self.pre_ns + self.infer_ns + self.post_ns

    def stage_timings(self, start_ns: int, end_ns: int) -> tuple[StageTiming, ...]:
        """``detect.pre``, ``detect.infer``, ``detect.post`` laid end to end over the call, from
        ``start_ns`` to ``end_ns`` (monotonic ns): the detector reports durations, and the call's own
        overhead lands in ``post`` so that the stages tile the call."""
        t1 = min(start_ns + self.pre_ns, end_ns)
        t2 = min(t1 + self.infer_ns, end_ns)
        return (
            StageTiming("detect.pre", start_ns, t1),
            StageTiming("detect.infer", t1, t2),
            StageTiming("detect.post", t2, end_ns),
        )

    def sub_stages(self, prefix: str = "detect") -> tuple[tuple[str, int], ...]:
        """``(("detect.pre", ns), ("detect.infer", ns), ("detect.post", ns))`` for ``record_stage``."""
        return (
            (f"{prefix}.pre", self.pre_ns),
            (f"{prefix}.infer", self.infer_ns),
            (f"{prefix}.post", self.post_ns),
        )


@runtime_checkable
class Detector(Protocol):
    """A 2D object detector on colour images. Implementations are not thread-safe: one per thread."""

    @property
    def class_names(self) -> tuple[str, ...]:
        """Class names, indexed by ``Detection.class_id``."""
        ...

    @property
    def input_size(self) -> tuple[int, int]:
        """Network input (height, width) in pixels."""
        ...

    @property
    def provider(self) -> str:
        """The ONNX Runtime execution provider actually running the model (e.g. ``CPUExecutionProvider``)."""
        ...

    def detect(self, image: np.ndarray, encoding: str = "rgb8") -> DetectionResult:
        """Detect objects in one image.

        Args:
            image: (H, W, 3) uint8 colour image.
            encoding: channel order of ``image``, ``rgb8`` or ``bgr8``.

        Returns:
            The detections (source-image pixels) and the per-step timings.

        Raises:
            InvalidImageError: wrong type, dtype, shape or encoding, or an empty image.
        """
        ...


def check_image(image: object, encoding: str) -> np.ndarray:
    """Validate a colour image for a detector and return it C-contiguous (a copy only when needed).

    Args:
        image: expected (H, W, 3) uint8 with H, W ≥ 1.
        encoding: ``rgb8`` or ``bgr8``.

    Raises:
        InvalidImageError: the message says what was wrong and what is expected.
    """
    if encoding not in ENCODINGS:
        raise InvalidImageError(
            f"image encoding {encoding!r} is not supported: convert to rgb8 or bgr8 before detection"
        )
    if not isinstance(image, np.ndarray):
        raise InvalidImageError(f"image must be a numpy array (H, W, 3) uint8, got {type(image).__name__}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise InvalidImageError(
            f"image must have shape (H, W, 3) for {encoding}, got {image.shape}: pass a colour image"
        )
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise InvalidImageError(f"image is empty ({image.shape[0]}×{image.shape[1]} pixels): skip the frame")
    if image.dtype != np.uint8:
        raise InvalidImageError(
            f"image dtype must be uint8 ({encoding}), got {image.dtype}: convert 16-bit or float images first"
        )
    return image if image.flags.c_contiguous else np.ascontiguousarray(image)
