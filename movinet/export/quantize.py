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
    # The signature stays float32 (frame, state, logits): a runtime feeds the file like the float
    # one, and the state crosses steps at full precision; quantization happens inside the graph.
    for boundary in (TFLOperationName.INPUT, TFLOperationName.OUTPUT):
        tool.update_quantization_recipe(regex=".*", operation_name=boundary, algorithm_key=AlgorithmName.NO_QUANTIZE)
    for pattern in (FLOAT_KEPT if float_kept is None else float_kept):
        tool.update_quantization_recipe(regex=pattern, operation_name=TFLOperationName.ALL_SUPPORTED,
                                        algorithm_key=AlgorithmName.NO_QUANTIZE)
    calibration = tool.calibrate({signature: samples or []}, num_threads=1)
    return bytes(tool.quantize(calibration, enable_progress_report=False).quantized_model)


class CalibrationSamples:
    """Signature inputs for calibration from preprocessed clips (3, T, H, W) float32; iterable
    more than once (the quantizer counts the samples in a first pass), each pass recomputed, so
    only the clips are held.

    A base graph gets each clip whole. A stream graph gets each clip frame by frame from a zero
    state, the float model's own new state fed back, one sample per frame.
    """

    def __init__(self, flatbuffer: bytes, signature: str, kind: str, states: list[dict[str, Any]],
                 clips: Iterable[np.ndarray]) -> None:
        from movinet.export.common import to_channels_last

        self.flatbuffer, self.signature, self.kind, self.states = flatbuffer, signature, kind, states
        self.videos = [to_channels_last(np.asarray(clip, np.float32)[None]) for clip in clips]  # (1, T, H, W, 3)
        if not self.videos:
            raise ValueError("int8 calibration got no clips; check the calibration split")

    def __iter__(self) -> Iterator[dict[str, np.ndarray]]:
        from movinet.inference.backends.litert import signature_runner

        runner = signature_runner(self.flatbuffer, self.signature) if self.kind == "stream" else None
        for video in self.videos:
            if runner is None:
                yield {"video": video}
                continue
            feeds = {spec["input"]: np.zeros(spec["shape"], np.dtype(spec["dtype"])) for spec in self.states}
            for t in range(video.shape[1]):
                sample = {"video": np.ascontiguousarray(video[:, t:t + 1]), **feeds}
                yield sample
                out = runner(**sample)
                feeds = {spec["input"]: out[spec["output"]] for spec in self.states}


def data_calibration_clips(data: Any, split: str, count: int, *, num_classes: int,
                           seed: int = 0) -> Iterator[np.ndarray]:
    """Up to `count` preprocessed clips (3, T, H, W) float32 of a config's split, for calibration.

    Args:
        data: the config's `data:` section with its evaluation sampling
            (`movinet.engine.config.eval_data_config(cfg)`).
        split: "train", "val" or "test" (its first view per video: the clip `predict` makes; "train"
            gives the training pipeline's random augmented clips).
        count: clips to take, spread evenly over the split.
        num_classes: the model's classes (the split's labels are checked against them).
        seed: sampling seed.

    Raises:
        FileNotFoundError / ValueError: the split cannot be read (as `build_dataset` says).
    """
    from movinet.data.datasets import build_dataset

    if count < 1:
        raise ValueError(f"calibration needs at least one clip, got {count}")
    dataset = build_dataset(data, split, num_classes=num_classes, seed=seed)
    picks = np.unique(np.linspace(0, len(dataset) - 1, num=min(count, len(dataset))).round().astype(int))
    for index in picks:
        video = dataset[int(index)]["video"].numpy()
        yield video if video.ndim == 4 else video[0]


def compare_streams(reference: Any, candidate: Any, clips: Iterable[np.ndarray],
                    labels: Iterable[int] | None = None) -> dict[str, float]:
    """How a reduced-precision stream model agrees with its float reference, frame by frame.

    Args:
        reference, candidate: stream `Predictor`s (e.g. the float32 PyTorch model and the int8 file).
        clips: preprocessed clips (3, T, H, W) float32, each stepped from a zero state.
        labels: the clips' classes, for each model's top-1 accuracy.

    Returns:
        clips; final_agreement (share of clips whose top-1 after the last frame agrees);
        frame_agreement (the same over every frame); top5_overlap (mean shared top-5 classes / 5,
        final); cosine_min and cosine_median (final logits); and with labels reference_top1 and
        candidate_top1.
    """
    finals, frames_agree, overlap, cosines, hits = [], [], [], [], [[], []]
    label_list = None if labels is None else list(labels)
    for index, clip in enumerate(clips):
        video = np.asarray(clip, np.float32)[None]
        states = [reference.init_state(1), candidate.init_state(1)]
        outs: list[list[np.ndarray]] = [[], []]
        for t in range(video.shape[2]):
            for which, predictor in enumerate((reference, candidate)):
                logits, states[which] = predictor.step(video[:, :, t:t + 1], states[which])
                outs[which].append(np.asarray(logits, np.float64)[0])
        ref, cand = np.stack(outs[0]), np.stack(outs[1])
        frames_agree.extend(ref.argmax(1) == cand.argmax(1))
        finals.append(ref[-1].argmax() == cand[-1].argmax())
        overlap.append(len(set(np.argsort(-ref[-1])[:5]) & set(np.argsort(-cand[-1])[:5])) / 5)
        cosines.append(float(ref[-1] @ cand[-1] / (np.linalg.norm(ref[-1]) * np.linalg.norm(cand[-1]) + 1e-12)))
        if label_list is not None:
            hits[0].append(ref[-1].argmax() == label_list[index])
            hits[1].append(cand[-1].argmax() == label_list[index])
    report = {"clips": float(len(finals)), "final_agreement": float(np.mean(finals)),
              "frame_agreement": float(np.mean(frames_agree)), "top5_overlap": float(np.mean(overlap)),
              "cosine_min": float(np.min(cosines)), "cosine_median": float(np.median(cosines))}
    if label_list is not None:
        report.update(reference_top1=float(np.mean(hits[0])), candidate_top1=float(np.mean(hits[1])))
    return report
