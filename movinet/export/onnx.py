"""ONNX export of MoViNet base and stream models, with a JSON sidecar and an ONNX Runtime check.

Two graph kinds (the sidecar's `kind`):

* **base** (non-causal models): input `video` (B, 3, T, H, W) float32, output `logits`
  (B, num_classes); batch and frame count are dynamic, H and W optionally.
* **stream** (causal models): one *step* of `stream_step`. Inputs `video` (B, 3, t, H, W) and every
  state tensor as `state.<key>`; outputs `logits` and `new_state.<key>`, in the same key order.
  The batch is dynamic; the state shapes are fixed by H and W. The default graph is the per-frame
  graph of the inference form, so t is 1 (`dynamic_axes.frames` false in the sidecar: feed a
  chunk frame by frame); the training-form graph (`optimize=False`) has a dynamic t. A runtime
  starts from zeros
  (shapes and dtypes are in the sidecar) and feeds each `new_state.*` back as `state.*`. The frame
  counters are int64 graph inputs, never constants: a state frozen into the graph is the known
  failure of other ports, and `verify` would catch it.

Exporter: the TorchScript-based `torch.onnx.export(..., dynamo=False)`. It traces the 40-odd state
inputs of a stream step and its dynamic frame count directly (tracing records the shape ops), and
the result is checked against eager PyTorch on every export. The `torch.export`-based exporter
needs a dynamic-shape spec per state input and guards on the Python-level TF SAME padding, and
brings no benefit for these fixed-topology graphs. TF SAME padding is computed in Python, so it is
baked in for the export size: a `dynamic_spatial` graph of an official model is exact only for
sizes congruent to the export size modulo 32 (the sidecar's `spatial_multiple`); PaddleVideo's
explicit padding has no such limit.

The graph written is the inference form (`movinet.optimize_for_inference`: BatchNorm, ReZero and
gate constants folded, frames as the batch axis, a per-frame stream step) unless `optimize=False`;
either way it is verified against the training-form model it came from.

Files: `<out_dir>/<model_name>.onnx` and `<out_dir>/<model_name>.json`. The ONNX file also carries
`movinet.model_name` / `movinet.kind` metadata, so a runtime can tell a sidecar made for another
model.
"""

from __future__ import annotations

import json
import os
import warnings
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
)
from movinet.files import atomic_output, atomic_write_text
from movinet.models.movinet import MoViNet
from movinet.models.optimize import optimize_for_inference
from movinet.models.registry import get_model_info
from movinet.models.streaming import stream_chunks

SIDECAR_FORMAT = "movinet-onnx"
SIDECAR_VERSION = 2  # 2: per-sample (B,) frame counters; preprocessing says `preset`
# Five stride-2 stages: TF SAME padding repeats with period 2**5 in H and W.
SAME_PADDING_PERIOD = 32
_VERIFY_CHUNK = 2  # a last multi-frame step proves the frame axis of a stream graph is dynamic


# ------------------------------------------------------------------------------------------------
# graph wrappers


class _ClipGraph(nn.Module):
    """video (B, 3, T, H, W) -> logits (B, classes)."""

    def __init__(self, model: MoViNet) -> None:
        super().__init__()
        self.model = model

    def forward(self, video: Tensor) -> Tensor:
        return self.model(video)


class _StepGraph(nn.Module):
    """(video, *state tensors in `keys` order) -> (logits, *new state tensors in the same order)."""

    def __init__(self, model: MoViNet, keys: list[str]) -> None:
        super().__init__()
        self.model = model
        self.keys = keys

    def forward(self, video: Tensor, *states: Tensor) -> tuple[Tensor, ...]:
        logits, new_state = self.model.stream_step(video, dict(zip(self.keys, states)))
        return (logits, *(new_state[key] for key in self.keys))


# ------------------------------------------------------------------------------------------------
# export


def _state_spec(model: MoViNet, batch_size: int, height: int, width: int) -> list[dict[str, Any]]:
    spec = []
    for key, (shape, dtype) in model.state_shapes(batch_size, height, width).items():
        spec.append({"key": key, "input": f"state.{key}", "output": f"new_state.{key}",
                     "shape": list(shape), "dtype": dtype_name(dtype),
                     "batch_axis": 0})
    return spec


def _trace_export(graph: nn.Module, args: tuple[Tensor, ...], path: Path, *, input_names: list[str],
                  output_names: list[str], dynamic_axes: dict[str, dict[int, str]], opset: int) -> None:
    with warnings.catch_warnings(), torch.no_grad():
        # Tracer warnings flag the Python-level padding arithmetic, constant by design (see module doc).
        warnings.simplefilter("ignore")
        torch.onnx.export(graph, args, str(path), input_names=input_names, output_names=output_names,
                          dynamic_axes=dynamic_axes, opset_version=opset, do_constant_folding=True,
                          dynamo=False)


def _add_metadata(path: Path, props: dict[str, str]) -> None:
    import onnx

    proto = onnx.load(str(path))
    for key, value in props.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(proto, str(path))


def _ort_session(path: Path) -> Any:
    import onnxruntime as ort

    from movinet.inference.backends.onnx import onnx_session_options

    options = onnx_session_options(max(1, torch.get_num_threads()))
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


@torch.no_grad()
def _verify_base(path: Path, model: MoViNet, shapes: list[tuple[int, ...]], normalize: str) -> Verification:
    session = _ort_session(path)
    ours, refs, checks = [], [], []
    for seed, shape in enumerate(shapes):
        video = example_video(shape, normalize, seed)
        refs.append(model(video).numpy())
        ours.append(session.run(["logits"], {"video": video.numpy()})[0])
        checks.append("clip " + "x".join(map(str, shape)))
    max_abs, relative = errors(ours, refs)
    return Verification(max_abs, relative, None, checks)


@torch.no_grad()
def _verify_stream(path: Path, model: MoViNet, batch_size: int, height: int, width: int, steps: int,
                   normalize: str, dynamic_frames: bool) -> Verification:
    session = _ort_session(path)
    chunks = [1] * steps + ([_VERIFY_CHUNK] if dynamic_frames else [])
    video = example_video((batch_size, 3, sum(chunks), height, width), normalize, seed=0)
    state = model.init_state(batch_size, height, width)
    keys = list(state)

    def graph_step(clip: np.ndarray, feeds: dict[str, np.ndarray]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        outputs = session.run(None, {"video": clip, **{f"state.{k}": feeds[k] for k in keys}})
        return outputs[0], dict(zip(keys, outputs[1:]))

    ours, refs, state_error = [], [], 0.0
    fed_back = stream_chunks(graph_step, video.numpy(), {k: v.numpy() for k, v in state.items()}, chunks)
    for (logits, state), (graph_logits, feeds) in zip(stream_chunks(model.stream_step, video, state, chunks), fed_back):
        refs.append(logits.numpy())
        ours.append(graph_logits)
        for key in keys:
            # Counters are int64: any difference means the state was not threaded through.
            state_error = max(state_error, float(np.abs(feeds[key].astype(np.float64) - state[key].numpy()).max()))
    max_abs, relative = errors(ours, refs)
    checks = [f"stream {len(chunks)} steps (chunks {chunks}) of {batch_size}x3xtx{height}x{width}, state fed back"]
    return Verification(max_abs, relative, state_error, checks)


def _sizes(prep: Preprocessing, frames: int | None, height: int | None, width: int | None) -> tuple[int, int, int]:
    return (frames or prep.frames, height or prep.height, width or prep.width)


def _check_inputs(model: nn.Module, model_name: str, labels: list[str] | None, batch_size: int,
                  stream_steps: int, opset: int) -> None:
    check_model(model, model_name, labels, "export_onnx")
    if batch_size < 1 or stream_steps < 1:
        raise ValueError(f"batch_size and stream_steps must be >= 1, got {batch_size} and {stream_steps}")
    if opset < 13:
        raise ValueError(f"opset {opset} is too old; use 13 or newer (17 is the default)")


def export_onnx(
    model: MoViNet,
    out_dir: str | os.PathLike,
    *,
    model_name: str,
    labels: list[str] | None = None,
    preprocessing: Preprocessing | None = None,
    frames: int | None = None,
    height: int | None = None,
    width: int | None = None,
    batch_size: int = 1,
    dynamic_spatial: bool = False,
    opset: int = 17,
    verify: bool = True,
    stream_steps: int = 8,
    optimize: bool = True,
) -> ExportResult:
    """Export `model` to `<out_dir>/<model_name>.onnx` plus the `<model_name>.json` sidecar.

    A causal model (`model.is_causal`) gives a stream *step* graph, any other a base graph (see
    the module docstring for names and shapes).

    Args:
        model: the MoViNet to export (its train/eval mode is restored afterwards).
        out_dir: output folder (created).
        model_name: registry name; recorded in both files.
        labels: class names, or None.
        preprocessing: the input pipeline (default: the registry's for `model_name`), e.g. the
            weights' (`movinet.load_model`) or a config's (`Preprocessing.from_config`).
        frames: clip length of whole-video prediction and of the base graph's example input
            (default: the preprocessing's).
        height / width: input size (default: the preprocessing's). Sets the stream state shapes.
        batch_size: batch of the example input (the batch axis is dynamic anyway).
        dynamic_spatial: dynamic H and W (base graphs only; see the module doc for official models).
        opset: ONNX opset.
        verify: compare ONNX Runtime with PyTorch and fail on a relative error above 1e-4.
        stream_steps: single-frame steps of the stream check (plus one 2-frame step when the
            graph takes chunks).
        optimize: write the inference form (`optimize_for_inference`, the default and the fast
            one; its stream graph steps one frame at a time), or the training form as it is.

    Returns:
        ExportResult with both paths and the verification errors (None without `verify`).

    Raises:
        ValueError: bad arguments (a stream graph with `dynamic_spatial`, labels of the wrong length).
        ExportError: the exporter failed or ONNX Runtime disagrees with PyTorch; nothing is left
            in `out_dir` then.
    """
    _check_inputs(model, model_name, labels, batch_size, stream_steps, opset)
    if model.causal and dynamic_spatial:
        raise ValueError("a stream graph's state shapes follow H and W: export one graph per frame size "
                         "(dynamic_spatial=False)")
    info = get_model_info(model_name)
    prep = preprocessing if preprocessing is not None else Preprocessing.from_model(info)
    prep = prep.with_size(frames=frames, height=height, width=width).for_causality(model.causal, info.family)
    out = Path(out_dir).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    onnx_path, json_path = out / f"{model_name}.onnx", out / f"{model_name}.json"
    was_training = model.training
    try:
        model.eval()
        graph_model = optimize_for_inference(model, target="onnx") if optimize else model
        # `atomic_output`: the graph is written under movinet's one temporary name (`.NAME.tmp-PID`,
        # swept by the next export when a killed one left it) and renamed once it is verified.
        with atomic_output(onnx_path) as tmp_path:
            spec = _export_graph(graph_model, tmp_path, prep, batch_size=batch_size, dynamic_spatial=dynamic_spatial,
                                 opset=opset, model_name=model_name)
            spec["graph"] = "inference" if optimize else "training"
            verification = (_verify(model, tmp_path, prep, batch_size, dynamic_spatial, stream_steps,
                                    spec["dynamic_axes"]["frames"]) if verify else None)
            if verification is not None and not verification.relative_error <= MAX_RELATIVE_ERROR:
                raise ExportError(f"ONNX Runtime disagrees with PyTorch for {model_name}: relative error "
                                  f"{verification.relative_error:.3g} > {MAX_RELATIVE_ERROR:g} (max |diff| "
                                  f"{verification.max_abs_error:.3g}); the graph was not written")
            sidecar = _sidecar(model, model_name, spec, prep, labels, opset, verification, onnx_path.name)
        atomic_write_text(json_path, json.dumps(sidecar, indent=2) + "\n")
    finally:
        model.train(was_training)
    return ExportResult(onnx_path, json_path, spec["kind"],
                        None if verification is None else verification.max_abs_error,
                        None if verification is None else verification.relative_error, verification)


def _export_graph(model: MoViNet, path: Path, prep: Preprocessing, *, batch_size: int,
                  dynamic_spatial: bool, opset: int, model_name: str) -> dict[str, Any]:
    """Write the ONNX graph; returns the input/output/state description for the sidecar."""
    height, width = prep.height, prep.width
    dynamic_frames = True
    if model.causal:
        # The inference form's stream step is a per-frame graph: one frame per call.
        dynamic_frames = model.inference_target is None
        states = _state_spec(model, batch_size, height, width)
        keys = [entry["key"] for entry in states]
        zero = model.init_state(batch_size, height, width)
        frames = _VERIFY_CHUNK if dynamic_frames else 1
        video = example_video((batch_size, 3, frames, height, width), prep.normalize, seed=0)
        graph: nn.Module = _StepGraph(model, keys)
        args: tuple[Tensor, ...] = (video, *(zero[key].contiguous() for key in keys))
        input_names = ["video", *(entry["input"] for entry in states)]
        output_names = ["logits", *(entry["output"] for entry in states)]
        axes = {"video": {0: "batch", 2: "frames"} if dynamic_frames else {0: "batch"}, "logits": {0: "batch"}}
        for entry in states:
            if entry["batch_axis"] is not None:
                axes[entry["input"]] = axes[entry["output"]] = {0: "batch"}
    else:
        states = []
        video = example_video((batch_size, 3, prep.frames, height, width), prep.normalize, seed=0)
        graph, args = _ClipGraph(model), (video,)
        input_names, output_names = ["video"], ["logits"]
        axes = {"video": {0: "batch", 2: "frames"}, "logits": {0: "batch"}}
        if dynamic_spatial:
            axes["video"].update({3: "height", 4: "width"})
    graph.eval()
    try:
        _trace_export(graph, args, path, input_names=input_names, output_names=output_names,
                      dynamic_axes=axes, opset=opset)
        kind = "stream" if model.causal else "base"
        _add_metadata(path, {"movinet.model_name": model_name, "movinet.kind": kind,
                             "movinet.num_classes": str(model.num_classes)})
    except (RuntimeError, torch.onnx.errors.OnnxExporterError) as error:
        raise ExportError(f"torch.onnx.export failed for {model_name}: {error}") from error
    video_shape: list[int | str] = ["batch", 3, "frames" if dynamic_frames else 1, height, width]
    if dynamic_spatial:
        video_shape[3:] = ["height", "width"]
    return {
        "kind": kind,
        "inputs": [{"name": "video", "shape": video_shape, "dtype": "float32", "layout": "B,3,T,H,W"}]
        + [{"name": e["input"], "shape": e["shape"], "dtype": e["dtype"]} for e in states],
        "outputs": [{"name": "logits", "shape": ["batch", model.num_classes], "dtype": "float32"}]
        + [{"name": e["output"], "shape": e["shape"], "dtype": e["dtype"]} for e in states],
        "states": states,
        "dynamic_axes": {"batch": True, "frames": dynamic_frames, "spatial": dynamic_spatial},
    }


def _verify(model: MoViNet, path: Path, prep: Preprocessing, batch_size: int, dynamic_spatial: bool,
            stream_steps: int, dynamic_frames: bool) -> Verification:
    """ONNX Runtime on the graph against the training-form `model` (the reference either way)."""
    height, width = prep.height, prep.width
    if model.causal:
        return _verify_stream(path, model, batch_size, height, width, stream_steps, prep.normalize, dynamic_frames)
    # A second, shorter clip with another batch size checks that those axes are really dynamic.
    shapes = [(batch_size, 3, prep.frames, height, width), (batch_size + 1, 3, max(1, prep.frames // 2), height, width)]
    if dynamic_spatial:
        period = SAME_PADDING_PERIOD
        shapes.append((batch_size, 3, max(1, prep.frames // 2), height + period, width + period))
    return _verify_base(path, model, shapes, prep.normalize)


def _sidecar(model: MoViNet, model_name: str, spec: dict[str, Any], prep: Preprocessing, labels: list[str] | None,
             opset: int, verification: Verification | None, onnx_file: str) -> dict[str, Any]:
    info = get_model_info(model_name)
    spatial_multiple = None
    if spec["dynamic_axes"]["spatial"] and info.family == "official":
        spatial_multiple = SAME_PADDING_PERIOD
    return {
        "format": SIDECAR_FORMAT,
        "format_version": SIDECAR_VERSION,
        **model_fields(model, model_name, spec["kind"], prep, labels),
        "onnx_file": onnx_file,
        "opset": opset,
        "graph": spec["graph"],
        "exporter": f"torch.onnx.export(dynamo=False), torch {torch.__version__}",
        "input_layout": "B,3,T,H,W",
        "dynamic_axes": spec["dynamic_axes"],
        "spatial_multiple": spatial_multiple,
        "inputs": spec["inputs"],
        "outputs": spec["outputs"],
        "states": spec["states"],
        "verification": None if verification is None else asdict(verification),
    }


def export_from_weights(
    weights: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    model_name: str | None = None,
    frames: int | None = None,
    height: int | None = None,
    width: int | None = None,
    preprocessing: Preprocessing | None = None,
    causal: bool | None = None,
    batch_size: int = 1,
    dynamic_spatial: bool = False,
    opset: int = 17,
    verify: bool = True,
    stream_steps: int = 8,
    optimize: bool = True,
) -> ExportResult:
    """Load weights (`movinet.load_model`) and export them (`movinet export -c CONFIG -p WEIGHTS -o DIR`).

    Args:
        weights: our `.safetensors`, a training checkpoint `.pt` or a PaddleVideo `.pdparams`.
        out_dir: output folder.
        model_name: the expected model (e.g. from the config); None takes the file's. A model
            trained causal (metadata `causal`) is rebuilt causal and exported as a stream graph.
        preprocessing: the input pipeline (e.g. `Preprocessing.from_config(cfg)`); default the
            weights' own.
        causal: rebuild the model causal (True: a base model's weights export as a stream step
            graph, as a config's `model.causal: true` asks) or not; None keeps the weights' own.
            Other arguments as in `export_onnx`.

    Returns:
        ExportResult.

    Raises:
        FileNotFoundError: `weights` does not exist.
        ValueError: the file is not movinet weights, or holds another model than `model_name`.
    """
    from movinet.loading import load_model

    model, meta = load_model(weights, model_name=model_name, causal=causal)
    return export_onnx(model, out_dir, model_name=meta.name, labels=meta.labels,
                       preprocessing=preprocessing or meta.preprocessing, frames=frames, height=height, width=width,
                       batch_size=batch_size, dynamic_spatial=dynamic_spatial, opset=opset, verify=verify,
                       stream_steps=stream_steps, optimize=optimize)
