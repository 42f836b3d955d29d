"""Reduced precision for exported graphs: fp16 weights, and int8 calibrated through the stream state.

int8 is static post-training quantization (weights per channel, activations per tensor) with
ai-edge-quantizer's min/max calibration. A stream model is calibrated like TF's
`quantize_movinet.py`: each calibration clip runs frame by frame through the float model, and every
step's inputs (the frame and the state the float model carried to it) are a calibration sample, so
the ranges are those the state really takes. What stays in float is `FLOAT_KEPT`, found by
measuring (see the README, "int8"): the pools that carry the state keep running sums that grow
with the stream and frame counters, which int8 saturates (the failure of TF's int8 MoViNets).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

# op-name pattern (the converter names ops by module path) -> why it stays float32 in int8 models
FLOAT_KEPT: dict[str, str] = {
    r".*TemporalAveragePool.*": "SE and head pools: running sums and frame counts that grow with the stream",
    r".*PositionalEncoding.*": "frame positions (A3-A5 streams): integers far outside an int8 range",
}


def quantize_litert(flatbuffer: bytes, precision: str, samples: Iterable[dict[str, np.ndarray]] | None,
                    signature: str, float_kept: dict[str, str] | None = None) -> bytes:
    """The `.tflite` flatbuffer in `precision` ("fp16" or "int8"; int8 needs calibration `samples`,
    dicts of signature inputs). `float_kept`: op-name patterns left in float (default `FLOAT_KEPT`)."""
    from ai_edge_quantizer import quantizer, recipe
    from ai_edge_quantizer.algorithm_manager import AlgorithmName
    from ai_edge_quantizer.qtyping import TFLOperationName

    tool = quantizer.Quantizer(bytearray(flatbuffer))
    if precision == "fp16":
        tool.add_weight_only_config(regex=".*", operation_name=TFLOperationName.ALL_SUPPORTED, num_bits=16,
                                    algorithm_key=AlgorithmName.FLOAT_CASTING)
        return bytes(tool.quantize(enable_progress_report=False).quantized_model)
    tool.load_quantization_recipe(recipe.static_wi8_ai8())
    for pattern in (FLOAT_KEPT if float_kept is None else float_kept):
        tool.update_quantization_recipe(regex=pattern, operation_name=TFLOperationName.ALL_SUPPORTED,
                                        algorithm_key=AlgorithmName.NO_QUANTIZE)
    calibration = tool.calibrate({signature: samples or []}, num_threads=1)
    return bytes(tool.quantize(calibration, enable_progress_report=False).quantized_model)


def calibration_samples(flatbuffer: bytes, signature: str, kind: str, states: list[dict[str, Any]],
                        clips: Iterable[np.ndarray]) -> Iterator[dict[str, np.ndarray]]:
    """Signature inputs for calibration from preprocessed clips (3, T, H, W) float32.

    A base graph gets each clip whole. A stream graph gets each clip frame by frame from a zero
    state, the float model's own new state fed back, one sample per frame.
    """
    from movinet.export.litert import interpreter_runner, to_channels_last

    runner = interpreter_runner(flatbuffer, signature)
    for clip in clips:
        video = to_channels_last(np.asarray(clip, np.float32)[None])  # (1, T, H, W, 3)
        if kind == "base":
            yield {"video": video}
            continue
        feeds = {spec["input"]: np.zeros(spec["shape"], np.dtype(spec["dtype"])) for spec in states}
        for t in range(video.shape[1]):
            sample = {"video": np.ascontiguousarray(video[:, t:t + 1]), **feeds}
            yield sample
            out = runner(**sample)
            feeds = {spec["input"]: out[spec["output"]] for spec in states}
