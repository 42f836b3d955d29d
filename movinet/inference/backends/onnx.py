"""The ONNX Runtime backend: a `movinet export` graph and its JSON sidecar. Imports no torch.

A stream graph takes `video` and each state tensor as `state.<key>` and returns `logits` and each
new state tensor as `new_state.<key>` (the sidecar's `states` names them). `OnnxPredictor` maps
them to and from the model's state keys, so its states are keyed like every other backend's.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from movinet.data.preprocessing import Preprocessing
from movinet.inference.backends.base import LoadOptions, Predictor, PredictorError, State
from movinet.inference.backends.sidecar import SidecarError, check_graph_input, read_sidecar, sidecar_path

_STATE_SPEC_KEYS = ("key", "input", "output", "shape", "dtype")


class ProviderNotAvailableError(PredictorError):
    """The requested ONNX Runtime execution provider is not in the installed onnxruntime."""


def onnx_session_options(num_threads: int | None = None) -> ort.SessionOptions:
    """ONNX Runtime session options for movinet graphs (every ONNX session of movinet uses these).

    Full graph optimisation (NCHWc conv layouts with fused activations on x86), `num_threads`
    intra-op threads (None: one per core), sequential execution with one inter-op thread, and no
    spin-waiting: an idle pool that spins burns the cores the video decoder and the rest of the
    process need, and a per-frame stream step is too short to gain from it.
    """
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.inter_op_num_threads = 1
    if num_threads is not None:
        options.intra_op_num_threads = int(num_threads)
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


def execution_providers(use_gpu: bool, use_tensorrt: bool) -> list[str]:
    """The providers to ask for, best first, CPU last.

    Raises:
        ProviderNotAvailableError: a requested provider is not in the installed onnxruntime.
    """
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
        path = Path(model_file).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"ONNX model {str(path)!r} does not exist; create it with "
                                    "`movinet export -c CONFIG -p WEIGHTS -o OUT_DIR`")
        sidecar = read_sidecar(path)
        if model_name is not None and sidecar["model_name"] != model_name:
            raise SidecarError(f"{path} is an export of {sidecar['model_name']!r}, but {model_name!r} was asked for "
                               "(check the config's model name)")
        self.session = _start_session(path, execution_providers(use_gpu, use_tensorrt), num_threads)
        self.sidecar = sidecar
        self._check_graph(path)
        check_graph_input(Preprocessing.from_dict(sidecar["preprocessing"]), self.session.get_inputs()[0].shape, path)
        self.state_specs = _state_specs(sidecar, path)
        self._state_keys = [spec["key"] for spec in self.state_specs]
        self._step_outputs = ["logits"] + [spec["output"] for spec in self.state_specs]
        super().__init__(model_name=sidecar["model_name"], family=sidecar.get("family", "official"),
                         kind=sidecar["kind"], num_classes=int(sidecar["num_classes"]), labels=sidecar.get("labels"),
                         preprocessing=Preprocessing.from_dict(sidecar["preprocessing"]))
        if not sidecar.get("dynamic_axes", {}).get("frames", True):
            self.max_chunk = 1

    @classmethod
    def from_file(cls, model_file: str | os.PathLike, options: LoadOptions) -> OnnxPredictor:
        """`options.preprocessing` does not apply: the graph was exported for its sidecar's."""
        return cls(model_file, use_gpu=options.use_gpu, use_tensorrt=options.use_tensorrt,
                   num_threads=options.num_threads, model_name=options.model_name)

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

    def _init_state(self, batch_size: int) -> State:
        state = {}
        for spec in self.state_specs:
            shape = list(spec["shape"])
            if spec.get("batch_axis") is not None:
                shape[spec["batch_axis"]] = batch_size
            state[spec["key"]] = np.zeros(shape, dtype=np.dtype(spec["dtype"]))
        return state

    def _step(self, clip: np.ndarray, state: State) -> tuple[np.ndarray, State]:
        feeds = {"video": np.ascontiguousarray(clip, dtype=np.float32)}
        try:
            # np.asarray also takes CPU torch tensors (another backend's state) without importing torch.
            feeds.update((spec["input"], np.asarray(state[spec["key"]])) for spec in self.state_specs)
        except KeyError as missing:
            raise PredictorError(f"the stream state lacks {missing.args[0]!r}; start a stream from "
                                 "predictor.init_state() and feed back the state `step` returns") from None
        logits, *new_state = self.session.run(self._step_outputs, feeds)
        return logits, dict(zip(self._state_keys, new_state))


def _start_session(path: Path, providers: list[str], num_threads: int | None) -> ort.InferenceSession:
    """An inference session on `providers`; the first one must be active.

    Raises:
        PredictorError: ONNX Runtime cannot load the file.
        ProviderNotAvailableError: the first provider failed to start.
    """
    try:
        session = ort.InferenceSession(str(path), onnx_session_options(num_threads), providers=providers)
    except Exception as error:  # noqa: BLE001 - onnxruntime raises its own exception types
        raise PredictorError(f"ONNX Runtime cannot load {path}: {error}") from None
    active = session.get_providers()
    if providers[0] not in active:
        raise ProviderNotAvailableError(
            f"{providers[0]} failed to start (active: {', '.join(active)}); check the CUDA/cuDNN/TensorRT "
            "libraries that onnxruntime-gpu needs, or run on the CPU")
    return session


def _state_specs(sidecar: dict[str, Any], path: Path) -> list[dict[str, Any]]:
    """The sidecar's state tensors, each naming its model key and its graph input and output.

    Raises:
        SidecarError: a stream graph without states, or a state the graph does not take and return.
    """
    specs = list(sidecar.get("states") or [])
    if sidecar["kind"] == "stream" and not specs:
        raise SidecarError(f"sidecar of {path} describes a stream graph without states; re-export the model")
    inputs = {entry["name"] for entry in sidecar["inputs"]}
    outputs = {entry["name"] for entry in sidecar["outputs"]}
    for spec in specs:
        if (not isinstance(spec, dict) or any(key not in spec for key in _STATE_SPEC_KEYS)
                or spec["input"] not in inputs or spec["output"] not in outputs):
            raise SidecarError(f"sidecar {sidecar_path(path).name} describes state {spec!r:.80} without its key, "
                               "shape, dtype and graph input and output; re-export the model")
    return specs
