"""LiteRT (TF Lite) export of MoViNet base and stream models: `.tflite` + JSON sidecar, checked.

    export_litert(model, "out/", model_name="movinet_a0_stream")                     # float32
    export_litert(model, "out/", model_name=..., precision="int8", calibration=clips)  # int8, calibrated

Needs the optional extra: `pip install "movinet[litert]"` (litert-torch converts without
TensorFlow; ai-edge-litert runs the check; ai-edge-quantizer makes fp16 and int8 models).

The graph is the inference form for LiteRT (`optimize_for_inference(model, target="litert")`),
converted by litert-torch, which lays 4D maps out NHWC. One signature per file, named by `SIGNATURES`:

* **clip** (base models): input `video` (1, T, H, W, 3) float32, channels last; output `logits` (1, classes).
* **step** (stream models): one frame per call. Inputs `video` (1, 1, H, W, 3) and every state tensor
  as `state_<key>` (dots as underscores); outputs `logits` and every `new_state_<key>`. Stream
  buffers are channels last, (1, kt-1, H, W, C) (the model's (1, C, kt-1, H, W) permuted); the
  running sums are (1, C, 1, 1, 1); frame counters are int32 (1,). A runtime starts from zeros and
  feeds each `new_state_<key>` back as `state_<key>`.
Batch and frame count are fixed (1, and T for a clip); the sidecar's `states` gives every state's
key, input and output names, shape, dtype and layout, and `inputs` / `outputs` the rest.

Precisions: "fp32"; "fp16" (weights stored in float16, computed in float32); "int8" (static
post-training quantization of weights and activations, calibrated frame by frame through the
state on the clips given, like TF's `quantize_movinet.py`). What int8 keeps in float is
`movinet.export.quantize.FLOAT_KEPT`. The check runs the file in ai-edge-litert against the
training-form model on inputs other than the conversion's: float32 must agree to 1e-4 relative;
reduced precision is reported (error and top-1 agreement), not bounded, here.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from movinet.data.preprocessing import Preprocessing
from movinet.export.common import (
    MAX_RELATIVE_ERROR,
    ExportError,
    ExportResult,
    Verification,
    check_model,
    dtype_name,
    errors,
    example_video,
    model_fields,
    to_channels_last,
    top1_agreement,
)
from movinet.files import atomic_write_bytes, atomic_write_text
from movinet.inference.backends.litert import SIDECAR_FORMAT, signature_runner
from movinet.models.movinet import MoViNet
from movinet.models.optimize import optimize_for_inference
from movinet.models.registry import get_model_info

SIDECAR_VERSION = 1
PRECISIONS = ("fp32", "fp16", "int8")
SIGNATURES = {"base": "clip", "stream": "step"}
EXTRA_HINT = 'LiteRT export needs the optional extra: pip install "movinet[litert]"'
log = logging.getLogger(__name__)


class LiteRtUnavailableError(ExportError):
    """The LiteRT export tools (the `litert` extra) are not installed."""


def require_litert_tools(precision: str = "fp32") -> None:
    """Raise one line naming the extra when litert-torch, ai-edge-litert or (reduced precision)
    ai-edge-quantizer is missing."""
    import importlib.util

    needed = ["litert_torch", "ai_edge_litert"] + ([] if precision == "fp32" else ["ai_edge_quantizer"])
    missing = [name for name in needed if importlib.util.find_spec(name) is None]
    if missing:
        raise LiteRtUnavailableError(f"{EXTRA_HINT} ({', '.join(missing)} not installed)")


def input_name(key: str) -> str:
    """The signature input of state `key` (signature names are identifiers: dots become underscores)."""
    return "state_" + key.replace(".", "_")


def output_name(key: str) -> str:
    return "new_" + input_name(key)


def channels_last(key: str, shape: tuple[int, ...]) -> bool:
    """Stream buffers (5D, kt-1 frames) are exchanged channels last; every other state as the model has it."""
    return key.endswith(".buffer") and len(shape) == 5


# ------------------------------------------------------------------------------------------------
# graph wrappers: the model's layout inside, channels last at the signature


class _ClipGraph(nn.Module):
    """video (B, T, H, W, 3) -> {"logits": (B, classes)}."""

    def __init__(self, model: MoViNet) -> None:
        super().__init__()
        self.model = model

    def forward(self, video: Tensor) -> dict[str, Tensor]:
        return {"logits": self.model(video.permute(0, 4, 1, 2, 3))}


class _StepGraph(nn.Module):
    """video (B, 1, H, W, 3), **state_<key> -> {"logits", **new_state_<key>}: one stream step."""

    def __init__(self, model: MoViNet, shapes: dict[str, tuple[tuple[int, ...], torch.dtype]]) -> None:
        super().__init__()
        self.model = model
        self.keys = list(shapes)
        self.buffers_cl = {key for key, (shape, _) in shapes.items() if channels_last(key, shape)}

    def forward(self, video: Tensor, **inputs: Tensor) -> dict[str, Tensor]:
        state = {}
        for key in self.keys:
            value = inputs[input_name(key)]
            state[key] = value.permute(0, 4, 1, 2, 3) if key in self.buffers_cl else value
        logits, new_state = self.model.stream_step(video.permute(0, 4, 1, 2, 3), state)
        outputs = {"logits": logits}
        for key in self.keys:
            value = new_state[key]
            outputs[output_name(key)] = value.permute(0, 2, 3, 4, 1) if key in self.buffers_cl else value
        return outputs


def _stream_inputs(model: MoViNet, height: int, width: int) -> tuple[dict[str, Tensor], list[dict[str, Any]]]:
    """Zero example inputs of the step signature (channels-last buffers, int32 counters) and the
    sidecar's `states` entries."""
    shapes = model.state_shapes(1, height, width)
    example, specs = {}, []
    for key, (shape, dtype) in shapes.items():
        layout = "B,T,H,W,C" if channels_last(key, shape) else None
        stored = (shape[0], *shape[2:], shape[1]) if layout else shape
        kept = torch.int32 if dtype == torch.int64 else dtype  # LiteRT runs without 64-bit integers
        example[input_name(key)] = torch.zeros(stored, dtype=dtype)
        specs.append({"key": key, "input": input_name(key), "output": output_name(key), "shape": list(stored),
                      "dtype": dtype_name(kept), "layout": layout or ("B" if len(shape) == 1 else "B,C,T,H,W"),
                      "batch_axis": 0})
    return example, specs


# ------------------------------------------------------------------------------------------------
# conversion


def _convert(graph: nn.Module, example: dict[str, Tensor], signature: str) -> bytes:
    """The flatbuffer of `graph` converted with litert-torch (float32)."""
    import litert_torch

    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # shape arithmetic is constant by design, and the tools are chatty
        try:
            edge = litert_torch.signature(signature, graph.eval(), sample_kwargs=example).convert()
        except Exception as error:  # noqa: BLE001 - the converter raises its own exception types
            raise ExportError(f"litert-torch could not convert the graph: {type(error).__name__}: {error}") from error
    return edge.model_content()


def _reduce_precision(flatbuffer: bytes, precision: str, calibration: Iterable[dict[str, np.ndarray]] | None,
                      signature: str, float_kept: dict[str, str] | None) -> bytes:
    if precision == "fp32":
        return flatbuffer
    from movinet.export.quantize import quantize_litert

    return quantize_litert(flatbuffer, precision, calibration, signature, float_kept)


# ------------------------------------------------------------------------------------------------
# the check


@torch.no_grad()
def _verify_clip(runner: Any, model: MoViNet, prep: Preprocessing) -> Verification:
    video = example_video((1, 3, prep.frames, prep.height, prep.width), prep.normalize, seed=1)
    ref = model(video).numpy()
    ours = runner(video=to_channels_last(video.numpy()))["logits"]
    max_abs, relative = errors([ours], [ref])
    return Verification(max_abs, relative, None, [f"clip 1x3x{prep.frames}x{prep.height}x{prep.width}"],
                        top1_agreement([ours], [ref]))


@torch.no_grad()
def _verify_step(runner: Any, model: MoViNet, prep: Preprocessing, specs: list[dict[str, Any]],
                 steps: int) -> Verification:
    """`steps` frames of a seeded clip (not the conversion's example) through the graph and through
    the training form, each graph output state fed back as the next input."""
    video = example_video((1, 3, steps, prep.height, prep.width), prep.normalize, seed=1)
    state = model.init_state(1, prep.height, prep.width)
    feeds = {spec["input"]: np.zeros(spec["shape"], np.dtype(spec["dtype"])) for spec in specs}
    ours, refs, state_error = [], [], 0.0
    for t in range(steps):
        clip = video[:, :, t:t + 1]
        logits, state = model.stream_step(clip, state)
        out = runner(video=to_channels_last(clip.numpy()), **feeds)
        feeds = {spec["input"]: out[spec["output"]] for spec in specs}
        refs.append(logits.numpy())
        ours.append(out["logits"])
        for spec in specs:
            ref_state = state[spec["key"]].numpy()
            if spec["layout"] == "B,T,H,W,C":
                ref_state = ref_state.transpose(0, 2, 3, 4, 1)
            state_error = max(state_error, float(np.abs(feeds[spec["input"]].astype(np.float64) - ref_state).max()))
    max_abs, relative = errors(ours, refs)
    check = f"stream {steps} steps of 1x3x1x{prep.height}x{prep.width}, state fed back"
    return Verification(max_abs, relative, state_error, [check], top1_agreement(ours, refs))


# ------------------------------------------------------------------------------------------------
# export


def _io_spec(kind: str, model: MoViNet, prep: Preprocessing, states: list[dict[str, Any]]) -> dict[str, Any]:
    frames = 1 if kind == "stream" else prep.frames
    video = {"name": "video", "shape": [1, frames, prep.height, prep.width, 3], "dtype": "float32",
             "layout": "B,T,H,W,C"}
    logits = {"name": "logits", "shape": [1, model.num_classes], "dtype": "float32"}
    return {
        "inputs": [video] + [{"name": s["input"], "shape": s["shape"], "dtype": s["dtype"], "layout": s["layout"]}
                             for s in states],
        "outputs": [logits] + [{"name": s["output"], "shape": s["shape"], "dtype": s["dtype"], "layout": s["layout"]}
                               for s in states],
    }


def _check_arguments(model: Any, model_name: str, labels: list[str] | None, precision: str,
                     calibration: Any, stream_steps: int) -> None:
    check_model(model, model_name, labels, "export_litert")
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "int8" and calibration is None:
        raise ValueError("int8 needs calibration clips (a config's training or validation videos: "
                         "`movinet export --format litert --precision int8 -c CONFIG ...`)")
    if stream_steps < 1:
        raise ValueError(f"stream_steps must be >= 1, got {stream_steps}")


def export_litert(
    model: MoViNet,
    out_dir: str | os.PathLike,
    *,
    model_name: str,
    labels: list[str] | None = None,
    preprocessing: Preprocessing | None = None,
    frames: int | None = None,
    height: int | None = None,
    width: int | None = None,
    precision: str = "fp32",
    calibration: Iterable[np.ndarray] | None = None,
    verify: bool = True,
    stream_steps: int = 8,
    float_kept: dict[str, str] | None = None,
) -> ExportResult:
    """Export `model` to `<out_dir>/<model_name>[_fp16|_int8].tflite` plus its `.json` sidecar.

    A causal model gives a stream `step` signature, any other a base `clip` signature (see the
    module docstring for names, shapes and layouts).

    Args:
        model: the training-form MoViNet (its train/eval mode is restored afterwards).
        out_dir: output folder (created).
        model_name: registry name; recorded in the sidecar.
        labels: class names, or None.
        preprocessing: the input pipeline (default: the registry's for `model_name`).
        frames / height / width: the clip length of a base graph and the frame size (default: the
            preprocessing's).
        precision: "fp32", "fp16" or "int8".
        calibration: int8 only: preprocessed clips (3, T, H, W) float32 of the user's data, run
            frame by frame through the state (stream models) or whole (base models).
        verify: run the file against PyTorch; float32 must agree to 1e-4 relative.
        stream_steps: frames of the stream check.
        float_kept: int8 only: op-name patterns left in float (default
            `movinet.export.quantize.FLOAT_KEPT`; `{}` quantizes everything, which the accuracy
            gate shows fails).

    Returns:
        ExportResult with both paths and the check's errors (None without `verify`).

    Raises:
        LiteRtUnavailableError: the `litert` extra is not installed.
        ValueError: bad arguments.
        ExportError: the conversion failed, or float32 disagrees with PyTorch; nothing is written then.
    """
    _check_arguments(model, model_name, labels, precision, calibration, stream_steps)
    require_litert_tools(precision)
    info = get_model_info(model_name)
    prep = preprocessing if preprocessing is not None else Preprocessing.from_model(info)
    prep = prep.with_size(frames=frames, height=height, width=width).for_causality(model.causal, info.family)
    kind = "stream" if model.causal else "base"
    signature = SIGNATURES[kind]
    out = Path(out_dir).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    stem = model_name if precision == "fp32" else f"{model_name}_{precision}"
    tflite_path, json_path = out / f"{stem}.tflite", out / f"{stem}.json"
    was_training = model.training
    try:
        model.eval()
        graph_model = optimize_for_inference(model, target="litert")
        if kind == "stream":
            example, states = _stream_inputs(model, prep.height, prep.width)
            graph: nn.Module = _StepGraph(graph_model, model.state_shapes(1, prep.height, prep.width))
            example = {"video": example_video((1, 1, prep.height, prep.width, 3), prep.normalize, seed=0), **example}
        else:
            states = []
            graph = _ClipGraph(graph_model)
            example = {"video": example_video((1, prep.frames, prep.height, prep.width, 3), prep.normalize, seed=0)}
        flatbuffer = _convert(graph, example, signature)
        samples = None
        if precision == "int8":
            from movinet.export.quantize import CalibrationSamples

            samples = CalibrationSamples(flatbuffer, signature, kind, states, calibration)
        flatbuffer = _reduce_precision(flatbuffer, precision, samples, signature, float_kept)
        verification = None
        if verify:
            runner = signature_runner(flatbuffer, signature)
            verification = (_verify_step(runner, model, prep, states, stream_steps) if kind == "stream"
                            else _verify_clip(runner, model, prep))
            if precision == "fp32" and not verification.relative_error <= MAX_RELATIVE_ERROR:
                raise ExportError(f"LiteRT disagrees with PyTorch for {model_name}: relative error "
                                  f"{verification.relative_error:.3g} > {MAX_RELATIVE_ERROR:g} (max |diff| "
                                  f"{verification.max_abs_error:.3g}); nothing was written")
        sidecar = {
            "format": SIDECAR_FORMAT, "format_version": SIDECAR_VERSION,
            **model_fields(model, model_name, kind, prep, labels),
            "model_file": tflite_path.name, "runtime": "litert", "signature": signature, "precision": precision,
            "exporter": _exporter_versions(), "dynamic_axes": {"batch": False, "frames": False, "spatial": False},
            **_io_spec(kind, model, prep, states), "states": states,
            "verification": None if verification is None else asdict(verification),
        }
        atomic_write_bytes(tflite_path, flatbuffer)
        atomic_write_text(json_path, json.dumps(sidecar, indent=2) + "\n")
    finally:
        model.train(was_training)
    return ExportResult(tflite_path, json_path, kind,
                        None if verification is None else verification.max_abs_error,
                        None if verification is None else verification.relative_error, verification)


def _exporter_versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    parts = [f"torch {torch.__version__}"]
    for package in ("litert-torch", "ai-edge-litert", "ai-edge-quantizer"):
        try:
            parts.append(f"{package} {version(package)}")
        except PackageNotFoundError:
            pass
    return ", ".join(parts)


def export_litert_from_weights(
    weights: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    model_name: str | None = None,
    preprocessing: Preprocessing | None = None,
    precision: str = "fp32",
    data: Any = None,
    calibration_split: str = "val",
    calibration_clips: int = 16,
    progress: bool = True,
    verify: bool = True,
    causal: bool | None = None,
) -> ExportResult:
    """Load weights (`movinet.load_model`) and export them to LiteRT
    (`movinet export --format litert -c CONFIG -w WEIGHTS -o DIR [--precision int8]`).

    Args:
        weights: our `.safetensors`, a training checkpoint `.pt`, a `.pdparams` or a release name.
        out_dir: output folder.
        model_name: the expected model (e.g. the config's); None takes the file's.
        preprocessing: the input pipeline (e.g. `Preprocessing.from_config(cfg)`); default the weights' own.
        precision: "fp32", "fp16" or "int8".
        data: int8 only: the config's `data:` section with evaluation sampling
            (`eval_data_config(cfg)`), whose `calibration_split` gives the calibration clips.
        calibration_split: "train", "val" or "test".
        calibration_clips: how many clips of that split calibrate int8 (each frame by frame for a
            stream model).
        progress: a progress bar over the calibration clips.
        causal: rebuild the model causal (True: a stream `step`) or not; None: as the weights say.

    Raises:
        FileNotFoundError: `weights` or the calibration split does not exist.
        ValueError: int8 without `data`, or the file holds another model than `model_name`.
        LiteRtUnavailableError / ExportError: as `export_litert`.
    """
    from movinet.loading import load_model

    if precision == "int8" and data is None:
        raise ValueError("int8 is calibrated on your data: give the training config (-c CONFIG); its "
                         f"{calibration_split} split provides the calibration clips")
    require_litert_tools(precision)
    model, meta = load_model(weights, model_name=model_name, causal=causal)
    clips = None
    if precision == "int8":
        from tqdm import tqdm

        from movinet.export.quantize import data_calibration_clips

        clips = tqdm(data_calibration_clips(data, calibration_split, calibration_clips, num_classes=model.num_classes),
                     desc=f"int8 calibration ({calibration_split} clips)", total=calibration_clips,
                     disable=not progress)
    return export_litert(model, out_dir, model_name=meta.name, labels=meta.labels,
                         preprocessing=preprocessing or meta.preprocessing, precision=precision, calibration=clips,
                         verify=verify)
