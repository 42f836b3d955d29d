"""The LiteRT (TF Lite) backend: a `movinet export --format litert` file and its JSON sidecar.

Runs in `ai-edge-litert` (XNNPACK on the CPU); imports no torch. The file holds one signature
(`clip` for base models, `step` for stream models; see `movinet.export.litert` for names and
layouts). Its shapes are fixed: batch 1, one frame per step, the sidecar's clip length. A batch of
B clips or streams runs as B calls, so batched serving works but gains nothing from batching.

State values are the signature's arrays: stream buffers channels last (B, kt-1, H, W, C), frame
counters int32. A state from another backend (buffers (B, C, kt-1, H, W), int64 counters) is
accepted and converted on its first step, so a stream may move to this backend.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from movinet.data.preprocessing import Preprocessing
from movinet.inference.backends.base import LoadOptions, Predictor, PredictorError, State
from movinet.inference.backends.sidecar import SidecarError, read_sidecar

SIDECAR_FORMAT = "movinet-litert"
RUNTIME_HINT = 'running .tflite files needs ai-edge-litert: pip install "movinet[litert]" (or ai-edge-litert alone)'


class LiteRtRuntimeMissingError(PredictorError):
    """ai-edge-litert is not installed."""


def signature_runner(model: bytes | str | os.PathLike, signature: str, num_threads: int | None = 1) -> Any:
    """A signature runner of ai-edge-litert's interpreter (XNNPACK) for a flatbuffer or a `.tflite` file.

    Raises:
        LiteRtRuntimeMissingError: ai-edge-litert is not installed.
        PredictorError: the runtime cannot load the model or it has no such signature.
    """
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        raise LiteRtRuntimeMissingError(RUNTIME_HINT) from None
    threads = None if num_threads is None else int(num_threads)  # None: the runtime's default
    try:
        if isinstance(model, (bytes, bytearray)):
            interpreter = Interpreter(model_content=bytes(model), num_threads=threads)
        else:
            interpreter = Interpreter(model_path=str(model), num_threads=threads)
        return interpreter.get_signature_runner(signature)
    except (ValueError, RuntimeError) as error:
        where = "the flatbuffer" if isinstance(model, (bytes, bytearray)) else str(model)
        raise PredictorError(f"LiteRT cannot run signature {signature!r} of {where}: {error}") from None


class LiteRtPredictor(Predictor):
    """ai-edge-litert backend over a `.tflite` export and its JSON sidecar.

    Args:
        model_file: `<name>.tflite`; `<name>.json` must lie beside it.
        num_threads: interpreter threads (None: the runtime's default).
        model_name: the expected model; another one is an error.

    Raises:
        FileNotFoundError: `model_file` does not exist.
        SidecarError: the sidecar is missing, or describes another file or model.
        PredictorError: GPU providers were asked for, or the runtime cannot load the file.
    """

    backend = "litert"
    max_chunk = 1

    def __init__(self, model_file: str | os.PathLike, *, num_threads: int | None = None,
                 model_name: str | None = None) -> None:
        path = Path(model_file).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"LiteRT model {str(path)!r} does not exist; create it with "
                                    "`movinet export --format litert -c CONFIG -w WEIGHTS -o OUT_DIR`")
        sidecar = read_sidecar(path, SIDECAR_FORMAT)
        if model_name is not None and sidecar["model_name"] != model_name:
            raise SidecarError(f"{path} is an export of {sidecar['model_name']!r}, but {model_name!r} was asked for "
                               "(check the config's model name)")
        if sidecar.get("model_file") not in (None, path.name):
            raise SidecarError(f"sidecar {path.with_suffix('.json').name} describes {sidecar['model_file']}, not "
                               f"{path.name}; use the JSON written with this .tflite file")
        self.sidecar = sidecar
        self.runner = signature_runner(path, sidecar["signature"], num_threads)
        self.state_specs = list(sidecar.get("states") or [])
        if sidecar["kind"] == "stream" and not self.state_specs:
            raise SidecarError(f"sidecar of {path} describes a stream model without states; re-export the model")
        self._check_signature(path)
        super().__init__(model_name=sidecar["model_name"], family=sidecar.get("family", "official"),
                         kind=sidecar["kind"], num_classes=int(sidecar["num_classes"]), labels=sidecar.get("labels"),
                         preprocessing=Preprocessing.from_dict(sidecar["preprocessing"]))

    @classmethod
    def from_file(cls, model_file: str | os.PathLike, options: LoadOptions) -> LiteRtPredictor:
        """`options.preprocessing` does not apply (the file is fixed to its sidecar's input)."""
        if options.use_gpu or options.use_tensorrt:
            raise PredictorError(f"{model_file} is a LiteRT model, which runs on the CPU here; drop --use_gpu / "
                                 "--use_tensorrt, or export ONNX for a GPU")
        return cls(model_file, num_threads=options.num_threads, model_name=options.model_name)

    def _check_signature(self, path: Path) -> None:
        """The sidecar must describe this file's signature: same input and output names."""
        details = self.runner.get_input_details(), self.runner.get_output_details()
        for role, declared, actual in zip(("inputs", "outputs"), (self.sidecar["inputs"], self.sidecar["outputs"]),
                                          details):
            if sorted(entry["name"] for entry in declared) != sorted(actual):
                raise SidecarError(f"sidecar {path.with_suffix('.json').name} does not match {path.name}: its {role} "
                                   f"differ from the file's signature; use the JSON written with this .tflite file")

    def _forward(self, video: np.ndarray) -> np.ndarray:
        # (B, 3, T, H, W) -> B calls of (1, T, H, W, 3)
        clips = np.ascontiguousarray(video.transpose(0, 2, 3, 4, 1))
        return np.concatenate([self.runner(video=clips[i:i + 1])["logits"] for i in range(len(clips))])

    def _init_state(self, batch_size: int) -> State:
        return {spec["key"]: np.zeros([batch_size, *spec["shape"][1:]], np.dtype(spec["dtype"]))
                for spec in self.state_specs}

    def _native(self, spec: dict[str, Any], value: Any) -> np.ndarray:
        """`value` in the signature's layout and dtype (another backend's state is converted)."""
        array = np.asarray(value)
        if spec["layout"] == "B,T,H,W,C" and array.ndim == 5 and array.shape[1:] != tuple(spec["shape"][1:]):
            array = array.transpose(0, 2, 3, 4, 1)
        return np.ascontiguousarray(array, dtype=np.dtype(spec["dtype"]))

    def _step(self, clip: np.ndarray, state: State) -> tuple[np.ndarray, State]:
        if clip.shape[2] != 1:
            raise ValueError(f"a LiteRT stream model takes one frame per step, got {clip.shape[2]}")
        frames = np.ascontiguousarray(clip.transpose(0, 2, 3, 4, 1), dtype=np.float32)  # (B, 1, H, W, 3)
        try:
            feeds = [(spec, self._native(spec, state[spec["key"]])) for spec in self.state_specs]
        except KeyError as missing:
            raise PredictorError(f"the stream state lacks {missing.args[0]!r}; start a stream from "
                                 "predictor.init_state() and feed back the state `step` returns") from None
        logits, rows = [], []
        for i in range(len(frames)):
            out = self.runner(video=frames[i:i + 1], **{spec["input"]: value[i:i + 1] for spec, value in feeds})
            logits.append(out["logits"])
            rows.append(out)
        new_state = {spec["key"]: np.concatenate([row[spec["output"]] for row in rows]) if len(rows) > 1
                     else rows[0][spec["output"]] for spec in self.state_specs}
        return np.concatenate(logits), new_state
