"""One loaded ONNX detector model: its session, input/output description and ultralytics metadata.

ultralytics writes ``metadata_props`` as strings: ``names`` (``"{0: 'red_cube', ...}"``), ``imgsz``
(``"[320, 320]"``, height then width), ``stride``, ``head`` (``Detect`` / ``RTDETRDecoder``),
``end2end``, ``description``, ``version``. They are parsed with ``ast.literal_eval`` (never ``eval``).
"""

from __future__ import annotations

import ast
import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

from visuomotor.detection.detector import DetectorConfig
from visuomotor.detection.errors import DetectorError
from visuomotor.detection.providers import create_session

__all__ = ["OnnxDetectorBase", "OnnxModel", "parse_class_names", "to_planes"]

log = logging.getLogger(__name__)

_INPUT_DTYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16}
#: Metadata literals longer than this are refused before parsing (ultralytics writes a few hundred chars).
_MAX_METADATA_CHARS = 100_000


def parse_class_names(text: str) -> tuple[str, ...]:
    """Class names from ultralytics' ``names`` metadata (``"{0: 'a', 1: 'b'}"`` or ``"['a', 'b']"``).

    Raises:
        DetectorError: not a dict with keys 0..n−1 or a list of non-empty strings.
    """
    if len(text) > _MAX_METADATA_CHARS:
        raise DetectorError(f"model metadata 'names' has {len(text)} characters; expected a short literal")
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as err:
        raise DetectorError(f"model metadata 'names' is not a dict or list literal: {text[:80]!r}") from err
    if isinstance(value, dict):
        keys = list(value)
        # Keys of mixed types (0 and '1') cannot even be sorted: check the type first.
        if not all(isinstance(k, int) and not isinstance(k, bool) for k in keys):
            raise DetectorError(
                f"model metadata 'names' must have integer keys 0..n-1, got {[repr(k) for k in keys][:10]}"
            )
        if sorted(keys) != list(range(len(keys))):
            raise DetectorError(f"model metadata 'names' must have keys 0..n-1, got {sorted(keys)[:10]}")
        value = [value[i] for i in range(len(value))]
    if not isinstance(value, list | tuple) or not value or not all(isinstance(v, str) and v for v in value):
        raise DetectorError(f"model metadata 'names' must name every class, got {text[:80]!r}")
    return tuple(value)


@dataclass(frozen=True, slots=True)
class OnnxModel:
    """A detector model opened with ONNX Runtime.

    Attributes:
        path: the model file.
        session: the inference session (not thread-safe to share across detectors with input buffers).
        provider: execution provider in use (the session's first).
        input_name: name of the image input (ultralytics: ``images``).
        input_dtype: numpy dtype the input expects (float32, or float16 for ``half`` exports).
        input_hw: (height, width) of the network input, pixels.
        output_name: name of the first output (the detections).
        output_shape: static output shape; symbolic dimensions are None.
        class_names: class names, from the metadata or the config.
        metadata: the raw ``metadata_props`` strings.
    """

    path: Path
    session: ort.InferenceSession
    provider: str
    input_name: str
    input_dtype: type[np.floating]
    input_hw: tuple[int, int]
    output_name: str
    output_shape: tuple[int | None, ...]
    class_names: tuple[str, ...]
    metadata: dict[str, str]

    @classmethod
    def load(cls, config: DetectorConfig) -> OnnxModel:
        """Open ``config.model_path`` with the configured providers and read its description.

        Raises:
            DetectorError: the file is missing, is not ONNX, has no usable image input, or has no class
                names (neither in its metadata nor in ``config.class_names``).
            ProviderFallbackError: see :func:`~visuomotor.detection.providers.create_session`.
        """
        path = Path(config.model_path)
        if not path.is_file():
            raise DetectorError(
                f"detector model {str(path)!r} not found{' (it is a directory)' if path.is_dir() else ''}: "
                "train and export one with `visuomotor train detector`, or set the detector parameter "
                "model_path to an .onnx file under models/"
            )
        session, provider = create_session(path, config)
        meta = dict(session.get_modelmeta().custom_metadata_map)
        inputs, outputs = session.get_inputs(), session.get_outputs()
        if len(inputs) != 1 or len(inputs[0].shape) != 4:
            shapes = [(i.name, i.shape) for i in inputs]
            raise DetectorError(
                f"{path}: expected one image input of shape (1, 3, H, W), got {shapes}; export the detector "
                "with ultralytics (format=onnx, batch 1)"
            )
        inp = inputs[0]
        if inp.type not in _INPUT_DTYPES:
            raise DetectorError(f"{path}: input {inp.name!r} is {inp.type}; expected float32 or float16")
        if isinstance(inp.shape[1], int) and inp.shape[1] != 3:
            raise DetectorError(f"{path}: input {inp.name!r} has {inp.shape[1]} channels; expected 3 (RGB)")
        names = parse_class_names(meta["names"]) if "names" in meta else config.class_names
        if not names:
            raise DetectorError(
                f"{path} has no class names in its metadata_props and the detector config sets no "
                "class_names: export with ultralytics (which writes 'names') or set class_names"
            )
        if "names" in meta and config.class_names and config.class_names != names:
            log.warning(
                "detector class_names %s differ from the model's %s; using the model's",
                list(config.class_names),
                list(names),
            )
        return cls(
            path=path,
            session=session,
            provider=provider,
            input_name=inp.name,
            input_dtype=_INPUT_DTYPES[inp.type],
            input_hw=_input_hw(path, inp.shape, meta),
            output_name=outputs[0].name,
            output_shape=tuple(d if isinstance(d, int) else None for d in outputs[0].shape),
            class_names=tuple(names),
            metadata=meta,
        )

    def guess_arch(self) -> str:
        """``rtdetr`` or ``yolo``, from the metadata (``head``, ``description``), else the output layout.

        An RT-DETR output is (1, Q, 6) or (1, Q, 4+nc) with Q queries (300); a YOLO output (1, 4+nc, N)
        with N anchors (thousands), or (1, K, 6) when exported end to end (then ``end2end`` is set).
        """
        head = self.metadata.get("head", "") + " " + self.metadata.get("description", "")
        if "RTDETR" in head.upper().replace("-", ""):
            return "rtdetr"
        if self.metadata.get("head") or self.metadata.get("end2end") == "True":
            return "yolo"
        shape = self.output_shape
        nc = len(self.class_names)
        if len(shape) == 3 and shape[2] in (6, 4 + nc) and shape[1] != 4 + nc:
            return "rtdetr"
        return "yolo"

    def warmup(self, tensor: np.ndarray, runs: int) -> np.ndarray:
        """Run ``runs`` ≥ 1 times on ``tensor`` (first-run allocations) and return the last output.

        Raises:
            DetectorError: the model loads but fails to run on a (1, 3, H, W) input.
        """
        try:
            for _ in range(runs):
                out = self.run(tensor)
        except Exception as err:  # onnxruntime's pybind errors derive from Exception only
            raise DetectorError(
                f"{self.path} loads but fails to run on a {tuple(tensor.shape)} input ({err}); re-export it "
                "for batch 1 with a fixed input size"
            ) from err
        return out

    def run(self, tensor: np.ndarray) -> np.ndarray:
        """Run the model on one input tensor (1, 3, H, W) and return its first output as float32."""
        out = self.session.run([self.output_name], {self.input_name: tensor})[0]
        return out if out.dtype == np.float32 else out.astype(np.float32)


def _input_hw(path: Path, shape: list[int | str | None], meta: dict[str, str]) -> tuple[int, int]:
    h, w = shape[2], shape[3]
    if isinstance(h, int) and isinstance(w, int) and h > 0 and w > 0:
        return h, w
    # Dynamic input: ultralytics records the export size in 'imgsz' ([h, w]).
    try:
        text = meta["imgsz"]
        size = ast.literal_eval(text) if len(text) <= _MAX_METADATA_CHARS else None
        size = [size, size] if isinstance(size, int) else list(size)
        if len(size) == 2 and all(isinstance(s, int) and s > 0 for s in size):
            return size[0], size[1]
    except (KeyError, ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        pass  # reported below with the fix
    raise DetectorError(
        f"{path}: the input size is dynamic ({shape}) and the metadata has no valid 'imgsz'; export with a "
        "fixed imgsz (dynamic=False) or with ultralytics, which records imgsz"
    )


class OnnxDetectorBase:
    """What every ONNX detector exposes about its loaded model (``self._model``, set by the subclass)."""

    _model: OnnxModel

    @property
    def class_names(self) -> tuple[str, ...]:
        """Class names from the model's metadata, indexed by ``Detection.class_id``."""
        return self._model.class_names

    @property
    def input_size(self) -> tuple[int, int]:
        """Network input (height, width), pixels."""
        return self._model.input_hw

    @property
    def provider(self) -> str:
        """The execution provider running the model."""
        return self._model.provider

    @property
    def model(self) -> OnnxModel:
        """The loaded model (session, metadata)."""
        return self._model


def to_planes(image: np.ndarray, encoding: str, out: np.ndarray) -> None:
    """Write an (h, w, 3) uint8 image as RGB float planes in [0, 1] into ``out`` (3, h, w).

    ``cv2.split`` + one multiply per plane: ≈ 25 % faster than a strided transpose-multiply here.
    """
    planes = cv2.split(image)
    if encoding == "bgr8":
        planes = planes[::-1]
    for plane, dst in zip(planes, out, strict=True):
        np.multiply(plane, np.float32(1.0 / 255.0), out=dst, casting="unsafe")
