"""Whole-video prediction with ONNX Runtime or PyTorch (`movinet predict`).

    predictor = OnnxPredictor("export/movinet_a0_base.onnx")          # or TorchPredictor("a0.safetensors")
    results = predict_files("videos/", predictor, top_k=1)
    failures = print_results(results, top_k=1)

A `Predictor` knows its model's input pipeline (the `Preprocessing` record of the ONNX sidecar or
of the weights' metadata): frames are decoded with PyAV, sampled, resized, centre-cropped and
normalised exactly as the model family expects, then classified. Stream (causal) predictors also
expose `init_state` / `step`; for whole-video prediction they run the clip through the step graph
and return the logits after its last frame, which equal the whole-clip logits of the causal model.

The printed format follows the seed's `tools/predict.py` (softmax scores):

    Current video file: data/example.avi
    	top-1 class: 5
    	top-1 label: archery
    	top-1 score: 0.9621570706367493

With `top_k > 1` the three lines hold lists, best first (`top-5 class: [5, 12, ...]`, the seed
printed numpy arrays there). `json_lines=True` prints one JSON object per file instead.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from movinet.data.preprocessing import Preprocessing
from movinet.inference.readahead import read_ahead
from movinet.models.streaming import stream_clip

State = dict[str, Any]

log = logging.getLogger(__name__)


class PredictorError(ValueError):
    """A model file cannot be used for prediction (missing sidecar, wrong model, bad provider)."""


class SidecarError(PredictorError):
    """The JSON sidecar of an ONNX file is missing, unreadable or made for another graph."""


class ProviderNotAvailableError(PredictorError):
    """The requested ONNX Runtime execution provider is not in the installed onnxruntime."""


# ------------------------------------------------------------------------------------------------
# predictors


class Predictor(ABC):
    """A classifier of preprocessed clips, plus what is needed to preprocess and name classes.

    Attributes:
        model_name: registry name.
        family: "official" or "paddle".
        kind: "base" (whole clips) or "stream" (step function with a state).
        num_classes: logits per clip.
        labels: class names, or None.
        preprocessing: the input pipeline of the model.
    """

    backend: str = ""
    max_chunk: int | None = None  # the most frames one `step` accepts (None: any number)

    def __init__(self, *, model_name: str, family: str, kind: str, num_classes: int,
                 labels: list[str] | None, preprocessing: Preprocessing) -> None:
        self.model_name, self.family, self.kind = model_name, family, kind
        self.num_classes, self.labels, self.preprocessing = num_classes, labels, preprocessing

    @property
    def is_stream(self) -> bool:
        return self.kind == "stream"

    def label(self, index: int) -> str | None:
        """Name of class `index`, or None without labels."""
        return self.labels[index] if self.labels is not None and 0 <= index < len(self.labels) else None

    def predict_clips(self, video: np.ndarray) -> np.ndarray:
        """Logits of preprocessed clips.

        Args:
            video: (B, 3, T, H, W) float32, as `Preprocessing.transform` makes them.

        Returns:
            (B, num_classes) float32 logits (stream models: after the last frame).
        """
        video = np.ascontiguousarray(video, dtype=np.float32)
        if video.ndim != 5 or video.shape[1] != 3:
            raise ValueError(f"expected clips of shape (B, 3, T, H, W), got {video.shape}")
        if not self.is_stream:
            return self._forward(video)
        return stream_clip(self.step, video, self.init_state(video.shape[0]), self.max_chunk)[0]

    @abstractmethod
    def _forward(self, video: np.ndarray) -> np.ndarray:
        """Base models: (B, 3, T, H, W) -> (B, classes)."""

    def init_state(self, batch_size: int = 1) -> State:
        """Zero state of a fresh stream (stream models only)."""
        raise PredictorError(f"{self.model_name} is a base model: it has no stream state; use a *_stream model")

    def step(self, clip: np.ndarray, state: State) -> tuple[np.ndarray, State]:
        """One stream step. clip (B, 3, t, H, W) float32 -> (logits (B, classes), new state)."""
        raise PredictorError(f"{self.model_name} is a base model: it cannot run frame by frame; "
                             "use a *_stream model (weights or stream ONNX export)")

    def describe(self) -> str:
        prep = self.preprocessing
        return (f"{self.model_name} ({self.kind}, {self.backend}), input {prep.frames}x{prep.height}x{prep.width}, "
                f"{self.num_classes} classes")


class TorchPredictor(Predictor):
    """PyTorch backend over weights `movinet.load_model` reads.

    Args:
        weights: our `.safetensors` (from `movinet convert`, training or `save_weights`), a
            training checkpoint `.pt` or a PaddleVideo `.pdparams`.
        device: torch device ("cpu", "cuda", "cuda:1", ...).
        model_name: the expected model; a file holding another model is an error.
        preprocessing: the input pipeline (e.g. a config's `Preprocessing.from_config`); default
            the weights' own.
    """

    backend = "pytorch"

    def __init__(self, weights: str | os.PathLike, *, device: str = "cpu", model_name: str | None = None,
                 preprocessing: Preprocessing | None = None) -> None:
        from movinet.loading import load_model
        from movinet.weights import WeightsError

        try:
            model, meta = load_model(weights, model_name=model_name)
        except WeightsError as error:
            raise PredictorError(str(error)) from None
        self._setup(model, meta.name, device=device, labels=meta.labels,
                    preprocessing=preprocessing or meta.preprocessing)

    @classmethod
    def from_model(cls, model: Any, model_name: str, *, device: str = "cpu", labels: list[str] | None = None,
                   preprocessing: Preprocessing | None = None) -> TorchPredictor:
        """Wrap an in-memory MoViNet (tests, notebooks; default preprocessing: the registry's).
        It runs in its inference form (`optimize_for_inference`)."""
        self = cls.__new__(cls)
        self._setup(model, model_name, device=device, labels=labels, preprocessing=preprocessing)
        return self

    def _setup(self, model: Any, model_name: str, *, device: str, labels: list[str] | None,
               preprocessing: Preprocessing | None) -> None:
        import torch

        from movinet.models.movinet import MoViNet
        from movinet.models.optimize import optimize_for_inference
        from movinet.models.registry import get_model_info

        try:
            self.device = torch.device(device)
            model = model.to(self.device).eval()
            # A MoViNet runs in its inference form (same logits, faster); anything else as given.
            self.model = optimize_for_inference(model) if isinstance(model, MoViNet) else model
        except (RuntimeError, AssertionError) as error:
            raise PredictorError(f"cannot use device {device!r}: {error}") from None
        info = get_model_info(model_name)
        prep = preprocessing if preprocessing is not None else Preprocessing.from_model(info)
        super().__init__(model_name=model_name, family=info.family, kind="stream" if model.is_causal else "base",
                         num_classes=model.num_classes, labels=labels,
                         preprocessing=prep.for_causality(model.is_causal, info.family))

    def _tensor(self, array: np.ndarray) -> Any:
        import torch

        return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32)).to(self.device)

    def _forward(self, video: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            return self.model(self._tensor(video)).float().cpu().numpy()

    def init_state(self, batch_size: int = 1) -> State:
        if not self.is_stream:
            return super().init_state(batch_size)
        prep = self.preprocessing
        return self.model.init_state(batch_size, prep.height, prep.width)

    def step(self, clip: np.ndarray, state: State) -> tuple[np.ndarray, State]:
        import torch

        if not self.is_stream:
            return super().step(clip, state)
        with torch.inference_mode():
            logits, state = self.model.stream_step(self._tensor(clip), state)
        return logits.float().cpu().numpy(), state


def sidecar_path(model_file: str | os.PathLike) -> Path:
    """`<name>.json` beside `<name>.onnx`."""
    return Path(model_file).with_suffix(".json")


def read_sidecar(model_file: str | os.PathLike) -> dict[str, Any]:
    """The sidecar JSON of an exported ONNX file.

    Raises:
        SidecarError: missing, unreadable, or not a movinet ONNX sidecar.
    """
    path = sidecar_path(model_file)
    if not path.is_file():
        raise SidecarError(f"{model_file} has no sidecar {path.name} beside it; it holds the model name, labels "
                           "and preprocessing. Keep both files of `movinet export` together, or re-export")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise SidecarError(f"cannot read sidecar {path}: {error}; re-export the model") from None
    if not isinstance(data, dict) or data.get("format") != "movinet-onnx":
        raise SidecarError(f"{path} is not a movinet ONNX sidecar (no \"format\": \"movinet-onnx\"); "
                           "re-export the model")
    for key in ("model_name", "kind", "num_classes", "preprocessing", "inputs", "outputs"):
        if key not in data:
            raise SidecarError(f"sidecar {path} lacks {key!r}; re-export the model with `movinet export`")
    return data


def _providers(use_gpu: bool, use_tensorrt: bool) -> list[str]:
    import onnxruntime as ort

    wanted = []
    if use_tensorrt:
        wanted.append("TensorrtExecutionProvider")
    if use_gpu or use_tensorrt:
        wanted.append("CUDAExecutionProvider")
    available = ort.get_available_providers()
    missing = [name for name in wanted if name not in available]
    if missing:
        tensorrt = "TensorrtExecutionProvider" in missing
        package = "onnxruntime-gpu (with TensorRT installed)" if tensorrt else "onnxruntime-gpu"
        flag = "--use_tensorrt" if tensorrt else "--use_gpu"
        raise ProviderNotAvailableError(
            f"{', '.join(missing)} is not available in the installed onnxruntime {ort.__version__} (available: "
            f"{', '.join(available)}). Install {package}: `pip uninstall onnxruntime && pip install onnxruntime-gpu`, "
            f"with CUDA and cuDNN versions it supports; or run on the CPU without {flag} (or with {flag}=False)")
    return wanted + ["CPUExecutionProvider"]


def _shapes_agree(declared: list[Any], actual: list[Any]) -> bool:
    """Same rank, and equal sizes wherever both are fixed (named axes are dynamic)."""
    fixed = [(a, b) for a, b in zip(declared, actual) if isinstance(a, int) and isinstance(b, int)]
    return len(declared) == len(actual) and all(a == b for a, b in fixed)


class OnnxPredictor(Predictor):
    """ONNX Runtime backend over a `movinet export` graph and its JSON sidecar.

    Args:
        model_file: `<name>.onnx`; `<name>.json` must lie beside it.
        use_gpu: run on CUDAExecutionProvider (needs `onnxruntime-gpu`).
        use_tensorrt: run on TensorrtExecutionProvider, CUDA and CPU as fallbacks.
        num_threads: intra-op CPU threads (None: ONNX Runtime's default, all cores).
        model_name: the expected model (e.g. from a config); another one is an error.

    Raises:
        FileNotFoundError: `model_file` does not exist.
        SidecarError: the sidecar is missing, or describes another graph or model.
        ProviderNotAvailableError: a requested provider is not installed or failed to load.
    """

    backend = "onnxruntime"

    def __init__(self, model_file: str | os.PathLike, *, use_gpu: bool = False, use_tensorrt: bool = False,
                 num_threads: int | None = None, model_name: str | None = None) -> None:
        import onnxruntime as ort

        path = Path(model_file).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"ONNX model {str(path)!r} does not exist; create it with "
                                    "`movinet export -c CONFIG -p WEIGHTS -o OUT_DIR`")
        sidecar = read_sidecar(path)
        if model_name is not None and sidecar["model_name"] != model_name:
            raise SidecarError(f"{path} is an export of {sidecar['model_name']!r}, but {model_name!r} was asked for "
                               "(check the config's model name)")
        providers = _providers(use_gpu, use_tensorrt)
        options = onnx_session_options(num_threads)
        try:
            self.session = ort.InferenceSession(str(path), options, providers=providers)
        except Exception as error:  # noqa: BLE001 - onnxruntime raises its own exception types
            raise PredictorError(f"ONNX Runtime cannot load {path}: {error}") from None
        active = self.session.get_providers()
        if providers[0] not in active:
            raise ProviderNotAvailableError(
                f"{providers[0]} failed to start (active: {', '.join(active)}); check the CUDA/cuDNN/TensorRT "
                "libraries that onnxruntime-gpu needs, or run on the CPU")
        self.sidecar = sidecar
        self._check_graph(path)
        self.state_specs: list[dict[str, Any]] = list(sidecar.get("states") or [])
        kind = sidecar["kind"]
        if kind == "stream" and not self.state_specs:
            raise SidecarError(f"sidecar of {path} describes a stream graph without states; re-export the model")
        super().__init__(model_name=sidecar["model_name"], family=sidecar.get("family", "official"), kind=kind,
                         num_classes=int(sidecar["num_classes"]), labels=sidecar.get("labels"),
                         preprocessing=Preprocessing.from_dict(sidecar["preprocessing"]))
        if not sidecar.get("dynamic_axes", {}).get("frames", True):
            self.max_chunk = 1

    def _check_graph(self, path: Path) -> None:
        """The sidecar must describe this very graph: same model, same inputs and outputs."""
        sidecar = self.sidecar
        meta = self.session.get_modelmeta().custom_metadata_map
        graph_model = meta.get("movinet.model_name")
        if graph_model is not None and graph_model != sidecar["model_name"]:
            raise SidecarError(f"sidecar {sidecar_path(path).name} is for {sidecar['model_name']!r}, but {path.name} "
                               f"is an export of {graph_model!r}; use the JSON written with this ONNX file")
        for role, declared, actual in (("inputs", sidecar["inputs"], self.session.get_inputs()),
                                       ("outputs", sidecar["outputs"], self.session.get_outputs())):
            names = [entry["name"] for entry in declared]
            if names != [node.name for node in actual]:
                raise SidecarError(f"sidecar {sidecar_path(path).name} does not match {path.name}: its {role} are "
                                   f"{names[:3]}..., the graph's {[n.name for n in actual][:3]}...; use the JSON "
                                   "written with this ONNX file")
            for entry, node in zip(declared, actual):
                if not _shapes_agree(entry["shape"], node.shape):
                    raise SidecarError(f"sidecar {sidecar_path(path).name} gives {entry['name']} shape "
                                       f"{entry['shape']}, the graph {node.shape}; use the JSON written with this "
                                       "ONNX file")

    def _forward(self, video: np.ndarray) -> np.ndarray:
        return self.session.run(["logits"], {"video": video})[0]

    def init_state(self, batch_size: int = 1) -> State:
        if not self.is_stream:
            return super().init_state(batch_size)
        state = {}
        for spec in self.state_specs:
            shape = list(spec["shape"])
            if spec.get("batch_axis") is not None:
                shape[spec["batch_axis"]] = batch_size
            state[spec["input"]] = np.zeros(shape, dtype=np.dtype(spec["dtype"]))
        return state

    def step(self, clip: np.ndarray, state: State) -> tuple[np.ndarray, State]:
        if not self.is_stream:
            return super().step(clip, state)
        clip = np.ascontiguousarray(clip, dtype=np.float32)
        outputs = self.session.run(None, {"video": clip, **state})
        new_state = {spec["input"]: value for spec, value in zip(self.state_specs, outputs[1:])}
        return outputs[0], new_state


def onnx_session_options(num_threads: int | None = None) -> Any:
    """ONNX Runtime session options for movinet graphs (every ONNX session of movinet uses these).

    Full graph optimisation (NCHWc conv layouts with fused activations on x86), `num_threads`
    intra-op threads (None: one per core), sequential execution with one inter-op thread, and no
    spin-waiting: an idle pool that spins burns the cores the video decoder and the rest of the
    process need, and a per-frame stream step is too short to gain from it.
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.inter_op_num_threads = 1
    if num_threads is not None:
        options.intra_op_num_threads = int(num_threads)
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


_PADDLE_INFERENCE_SUFFIXES = (".pdmodel", ".pdiparams")


def _export_in(directory: Path, model_name: str | None) -> Path | None:
    """The one movinet ONNX export (an .onnx with its sidecar) in `directory`, of `model_name` if given."""
    found = [path for path in sorted(directory.glob("*.onnx")) if sidecar_path(path).is_file()]
    if model_name is not None:
        found = [path for path in found if path.stem == model_name] or found
    return found[0] if len(found) == 1 else None


def resolve_model_files(model_file: str | os.PathLike | None, weights: str | os.PathLike | None, *,
                        model_name: str | None = None) -> str:
    """The one file to predict with, from `--model_file` and `-w/--params_file` as the seed writes them.

    PaddleVideo's `predict.py` takes `--model_file DIR/MoViNet.pdmodel --params_file DIR/MoViNet.pdiparams`
    (graph + parameters). movinet's export is one ONNX file with its sidecar: a Paddle file name that does
    not exist stands for the movinet export in the same directory, and a `.pdiparams` next to an ONNX model
    is ignored (the ONNX file holds its weights).

    Raises:
        ValueError: nothing given, both an ONNX model and weights given, or a real Paddle Inference file.
    """
    if model_file is None and weights is None:
        raise ValueError("give --model_file OUT_DIR/<model>.onnx (from `movinet export`) or -w WEIGHTS.safetensors")
    if model_file is None:
        if Path(weights).suffix == ".pdiparams":
            raise ValueError(f"{weights} is a Paddle Inference parameter file, which only Paddle runs; give the "
                             "training weights (.pdparams or .safetensors) with -w, or a movinet ONNX export with "
                             "--model_file")
        return str(weights)
    model = Path(model_file)
    if model.suffix in _PADDLE_INFERENCE_SUFFIXES:
        if model.is_file():
            raise ValueError(f"{model} is a Paddle Inference model, which only Paddle runs; movinet runs ONNX: "
                             f"`movinet export -c CONFIG -p WEIGHTS -o {model.parent}`, then --model_file "
                             f"{model.parent}/<model>.onnx (or -w WEIGHTS to predict with PyTorch)")
        export = _export_in(model.parent, model_name) if model.parent.is_dir() else None
        if export is None:
            raise ValueError(f"{model} does not exist and {model.parent} holds no single movinet ONNX export to "
                             f"stand for it; export one with `movinet export -c CONFIG -p WEIGHTS -o {model.parent}` "
                             "and pass --model_file <dir>/<model>.onnx")
        log.warning("%s is a Paddle Inference name; using the movinet export %s in the same directory", model, export)
        model = export
    if weights is not None and Path(weights).suffix != ".pdiparams":
        raise ValueError(f"give either --model_file {model} (an ONNX export holds its weights) or -w {weights}, "
                         "not both")
    return str(model)


def load_predictor(model_file: str | os.PathLike, *, use_gpu: bool = False, use_tensorrt: bool = False,
                   num_threads: int | None = None, model_name: str | None = None,
                   preprocessing: Preprocessing | None = None) -> Predictor:
    """An `OnnxPredictor` for `.onnx` files, a `TorchPredictor` for weights (`movinet.load_model`).

    `preprocessing` (e.g. a config's) applies to weights only: an ONNX graph is fixed to its sidecar.
    """
    if str(model_file).endswith(".onnx"):
        return OnnxPredictor(model_file, use_gpu=use_gpu, use_tensorrt=use_tensorrt, num_threads=num_threads,
                             model_name=model_name)
    if num_threads is not None:
        import torch

        torch.set_num_threads(int(num_threads))
    return TorchPredictor(model_file, device="cuda" if use_gpu else "cpu", model_name=model_name,
                          preprocessing=preprocessing)


# ------------------------------------------------------------------------------------------------
# files -> results


@dataclass
class Result:
    """Prediction for one file, or the reason there is none.

    Attributes:
        path: the input as given.
        classes / labels / scores: top-k class indices, names (None without labels) and softmax
            probabilities, best first; empty when `error` is set.
        error: why the file could not be classified.
        timings: seconds spent on "decode", "preprocess" and "model" (the batch's model time is
            split evenly over its files).
    """

    path: str
    classes: list[int] = field(default_factory=list)
    labels: list[str | None] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    error: str | None = None
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        if not self.ok:
            return {"file": self.path, "error": self.error}
        return {"file": self.path, "top_k": [{"class": c, "label": l, "score": s}
                                            for c, l, s in zip(self.classes, self.labels, self.scores)],
                "timings": {k: round(v, 6) for k, v in self.timings.items()}}


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float64. (B, C) -> (B, C)."""
    shifted = logits.astype(np.float64) - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def top_k_of(probabilities: np.ndarray, k: int) -> tuple[list[int], list[float]]:
    """Indices and values of the k largest entries of a (C,) vector, largest first."""
    k = max(1, min(k, probabilities.shape[-1]))
    order = np.argsort(-probabilities, kind="stable")[:k]
    return [int(i) for i in order], [float(probabilities[i]) for i in order]


_VIDEO_LIST_SUFFIXES = (".txt", ".list")


def _resolve_entry(entry: str, base: Path) -> str:
    """A list entry as given when it exists (or cannot be found beside the list), else beside the list."""
    path = Path(entry).expanduser()
    if path.is_absolute() or path.exists() or not (base / path).exists():
        return str(path)
    return str(base / path)


def _read_list_file(path: Path) -> list[str]:
    """Paths of a list file: one per line, `#` comments; relative paths may be relative to the list.

    Lines are read as training reads video lists: `path` or `path label`, the label being the last
    column, so a path may contain spaces (`my clip.mp4 3`).
    """
    entries = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        entry = _resolve_entry(line, path.parent)
        columns = line.rsplit(maxsplit=1)
        if not Path(entry).exists() and len(columns) == 2 and columns[1].lstrip("-").isdigit():
            entry = _resolve_entry(columns[0], path.parent)  # a PaddleVideo `path label` line
        entries.append(entry)
    return entries


def collect_inputs(inputs: str | os.PathLike | Sequence[str | os.PathLike]) -> list[str]:
    """Expand the inputs of `predict_files`: a file, a directory (its video files, sorted), a .txt list.

    Missing paths are kept: they become error results, not an exception. In a directory, files
    without a video extension (`VIDEO_EXTENSIONS`: labels, notes, thumbnails) are not inputs.

    Raises:
        ValueError: nothing to predict (empty list, a directory without video files).
    """
    from movinet.data.video import VIDEO_EXTENSIONS

    items = [inputs] if isinstance(inputs, (str, os.PathLike)) else list(inputs)
    paths: list[str] = []
    for item in items:
        if "://" in str(item):
            raise ValueError(f"{item} is a URL; `movinet predict` classifies files, directories and .txt lists of "
                             f"files. For a stream use `movinet stream --input {item}`")
        path = Path(item).expanduser()
        if path.is_dir():
            files = sorted(str(p) for p in path.iterdir()
                           if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in VIDEO_EXTENSIONS)
            if not files:
                raise ValueError(f"directory {path} holds no video files ({', '.join(VIDEO_EXTENSIONS)})")
            paths.extend(files)
        elif path.is_file() and path.suffix.lower() in _VIDEO_LIST_SUFFIXES:
            paths.extend(_read_list_file(path))
        else:
            paths.append(str(item))
    if not paths:
        raise ValueError("no input files given; pass a video file, a directory or a .txt list of videos")
    return paths


def load_clip(path: str | os.PathLike, preprocessing: Preprocessing) -> tuple[np.ndarray, dict[str, float]]:
    """Decode, sample and preprocess one video for whole-video prediction.

    Returns:
        ((3, T, H, W) float32 clip, {"decode": s, "preprocess": s}).

    Raises:
        VideoDecodeError (a ValueError): missing, corrupt or non-video file.
    """
    from movinet.data.video import open_video

    start = time.perf_counter()
    with open_video(path) as reader:
        indices = preprocessing.sample_indices(reader.num_frames)
        frames = reader.read_frames(indices)
    decoded = time.perf_counter()
    clip = preprocessing.transform(frames)
    return clip, {"decode": decoded - start, "preprocess": time.perf_counter() - decoded}


def _describe_error(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return text if isinstance(error, (ValueError, OSError)) else f"{type(error).__name__}: {text}"


def predict_files(
    inputs: str | os.PathLike | Sequence[str | os.PathLike],
    predictor: Predictor,
    *,
    top_k: int = 1,
    batch_size: int = 1,
    progress: bool = True,
) -> list[Result]:
    """Classify video files, `batch_size` clips per model call.

    Args:
        inputs: a video, a directory of videos, a .txt list (one path per line), or a list of those.
        predictor: an `OnnxPredictor` or `TorchPredictor`.
        top_k: classes per result.
        batch_size: clips per model call.
        progress: tqdm progress bar on stderr.

    Returns:
        One `Result` per input file, in input order; unreadable files have `error` set and do not
        stop the others.
    """
    from tqdm import tqdm

    if top_k < 1 or batch_size < 1:
        raise ValueError(f"top_k and batch_size must be >= 1, got {top_k} and {batch_size}")
    paths = collect_inputs(inputs)
    batches = [paths[start:start + batch_size] for start in range(0, len(paths), batch_size)]
    # The next batches are decoded and preprocessed while the model runs on this one, so a list of
    # videos costs max(decode, model) per video, not the sum.
    loaded = read_ahead((_load_batch(batch, predictor.preprocessing) for batch in batches), depth=1)
    results: list[Result] = []
    with tqdm(total=len(paths), desc="predict", unit="video", disable=not progress, file=sys.stderr) as bar:
        for batch in loaded:
            results.extend(_classify_batch(batch, predictor, top_k))
            bar.update(len(batch[0]))
    return results


def _load_batch(paths: list[str], preprocessing: Preprocessing) -> tuple[list[Result], list[np.ndarray]]:
    """Results for `paths` (errors set for unreadable files) and the clips of the readable ones."""
    results = [Result(path) for path in paths]
    clips = []
    for result in results:
        try:
            clip, result.timings = load_clip(result.path, preprocessing)
        except (ValueError, OSError) as error:
            result.error = _describe_error(error)
            continue
        clips.append(clip)
    return results, clips


def _classify_batch(loaded: tuple[list[Result], list[np.ndarray]], predictor: Predictor, top_k: int) -> list[Result]:
    results, clips = loaded
    good = [result for result in results if result.error is None]
    if not good:
        return results
    start = time.perf_counter()
    try:
        logits = predictor.predict_clips(np.stack(clips))
    except (ValueError, RuntimeError) as error:
        for result in good:
            result.error = f"model failed: {_describe_error(error)}"
        return results
    model_time = (time.perf_counter() - start) / len(good)
    for result, row in zip(good, softmax(logits)):
        result.classes, result.scores = top_k_of(row, top_k)
        result.labels = [predictor.label(c) for c in result.classes]
        result.timings["model"] = model_time
    return results


def format_result(result: Result, top_k: int = 1) -> str:
    """The seed's per-file block (tab-indented), or an error line for a failed file."""
    lines = [f"Current video file: {result.path}"]
    if not result.ok:
        lines.append(f"\terror: {result.error}")
        return "\n".join(lines)
    k = len(result.classes)
    labels = ["n/a" if label is None else label for label in result.labels]
    if top_k == 1 and k == 1:
        lines += [f"\ttop-1 class: {result.classes[0]}", f"\ttop-1 label: {labels[0]}",
                  f"\ttop-1 score: {result.scores[0]}"]
    else:
        lines += [f"\ttop-{k} class: {result.classes}", f"\ttop-{k} label: {labels}",
                  f"\ttop-{k} score: {result.scores}"]
    return "\n".join(lines)


def print_results(results: Sequence[Result], *, top_k: int = 1, json_lines: bool = False,
                  file: TextIO | None = None, err_file: TextIO | None = None) -> int:
    """Print results as the seed did (or JSON lines); list failed files at the end.

    Args:
        results: from `predict_files`.
        top_k: as passed to `predict_files`.
        json_lines: one JSON object per file (`{"file", "top_k": [{"class", "label", "score"}], "timings"}`
            or `{"file", "error"}`) instead of the text blocks.
        file / err_file: streams for results and for the failure list (stdout / stderr).

    Returns:
        The number of failed files (the CLI exits with 1 when it is not 0).
    """
    file = file or sys.stdout
    err_file = err_file or sys.stderr
    for result in results:
        text = json.dumps(result.to_dict(), ensure_ascii=False) if json_lines else format_result(result, top_k)
        print(text, file=file)
    failed = [result for result in results if not result.ok]
    if failed:
        print(f"{len(failed)} of {len(results)} files failed:", file=err_file)
        for result in failed:
            print(f"  {result.path}: {result.error}", file=err_file)
    return len(failed)
