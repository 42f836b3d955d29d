"""Inference latency: ONNX Runtime vs PyTorch eager, and end-to-end `predict` / `run_stream` time.

1. A0 base on one 1x3x50x172x172 clip and A0 stream per 172x172 frame (state fed back), with 1
   thread and with all threads; median of `--runs` after a warm-up.
2. End to end on a generated 10-s, 25-fps, 320x240 video: `predict_files` split into decode /
   preprocess / model, and `run_stream` at the stream model's 5 fps.

Random weights (latency does not depend on them); graphs are exported to a temporary folder. Not a
test: run it on an otherwise idle machine.

    python benchmarks/bench_inference.py [--runs 5] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

import movinet
from movinet.data.video import write_video
from movinet.export.onnx import export_onnx
from movinet.inference.backends.onnx import OnnxPredictor
from movinet.inference.backends.pytorch import TorchPredictor
from movinet.inference.predict import predict_files
from movinet.inference.stream import run_stream
from movinet.weights import save_weights

from timing import median_seconds  # noqa: E402  (sibling script: benchmarks/ is on sys.path)

SIZE, FRAMES = 172, 50


def export_models(folder: Path) -> dict[str, Path]:
    """Random-weight A0 base and stream: .safetensors and .onnx of each."""
    paths = {}
    for name in ("movinet_a0_base", "movinet_a0_stream"):
        model = movinet.create_model(name).eval()
        paths[f"{name}.safetensors"] = save_weights(model, folder / f"{name}.safetensors", model_name=name)
        paths[f"{name}.onnx"] = export_onnx(model, folder, model_name=name, stream_steps=2).onnx_path
    return paths


def bench_models(paths: dict[str, Path], threads: int, runs: int) -> dict[str, float]:
    """Median ms: base clip and stream frame, PyTorch eager and ONNX Runtime, with `threads` threads."""
    torch.set_num_threads(threads)
    clip = np.random.default_rng(0).random((1, 3, FRAMES, SIZE, SIZE), dtype=np.float32)
    out = {}
    for kind in ("base", "stream"):
        name = f"movinet_a0_{kind}"
        backends = {"pytorch": TorchPredictor(paths[f"{name}.safetensors"]),
                    "onnxruntime": OnnxPredictor(paths[f"{name}.onnx"], num_threads=threads)}
        for backend, predictor in backends.items():
            if kind == "base":
                seconds = median_seconds(lambda: predictor.predict_clips(clip), runs)
            else:
                seconds = median_seconds(lambda: _stream_frames(predictor, clip), runs) / FRAMES
            out[f"a0_{kind}_{backend}_ms"] = seconds * 1000.0
    return out


def _stream_frames(predictor: Any, clip: np.ndarray) -> None:
    state = predictor.init_state(1)
    for t in range(clip.shape[2]):
        _, state = predictor.step(clip[:, :, t:t + 1], state)


def bench_end_to_end(paths: dict[str, Path], video: Path, threads: int, runs: int) -> dict[str, float]:
    """Mean seconds per video of predict (decode / preprocess / model), and run_stream per frame."""
    torch.set_num_threads(threads)
    out: dict[str, float] = {}
    for backend, predictor in (("onnxruntime", OnnxPredictor(paths["movinet_a0_base.onnx"], num_threads=threads)),
                               ("pytorch", TorchPredictor(paths["movinet_a0_base.safetensors"]))):
        predict_files(video, predictor, progress=False)  # warm-up
        totals: dict[str, list[float]] = {"decode": [], "preprocess": [], "model": []}
        for _ in range(runs):
            [result] = predict_files(video, predictor, progress=False)
            for key in totals:
                totals[key].append(result.timings[key])
        for key, values in totals.items():
            out[f"predict_{backend}_{key}_s"] = statistics.median(values)
        out[f"predict_{backend}_total_s"] = sum(out[f"predict_{backend}_{k}_s"] for k in totals)
    stream = OnnxPredictor(paths["movinet_a0_stream.onnx"], num_threads=threads)
    start = time.perf_counter()
    summary = run_stream(video, predictor=stream, print_every=0)
    out["stream_onnxruntime_frames"] = summary.frames
    out["stream_onnxruntime_wall_s"] = time.perf_counter() - start
    out["stream_onnxruntime_step_p50_ms"] = summary.latency_p50_ms
    out["stream_onnxruntime_step_p90_ms"] = summary.latency_p90_ms
    return out


def make_video(path: Path, seconds: float = 10.0, fps: float = 25.0) -> Path:
    """Moving gradient bars, 320x240: cheap to make, realistic to decode (H.264)."""
    frames = int(seconds * fps)
    x = np.arange(320, dtype=np.int32)[None, :, None]
    y = np.arange(240, dtype=np.int32)[:, None, None]
    channel = np.arange(3, dtype=np.int32)[None, None, :]
    clip = ((x * 3 + y * 2 + channel * 60 + t * 7) % 256 for t in range(frames))
    return write_video(path, (frame.astype(np.uint8) for frame in clip), fps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="timed runs per measurement (median)")
    parser.add_argument("--json", help="also write the numbers to this file")
    args = parser.parse_args()
    all_threads = os.cpu_count() or 1
    results: dict[str, Any] = {"cpu_count": all_threads, "torch": torch.__version__}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        torch.set_num_threads(all_threads)
        paths = export_models(folder)
        video = make_video(folder / "ten_seconds.mp4")
        for threads in sorted({1, all_threads}):
            results[f"threads_{threads}"] = {**bench_models(paths, threads, args.runs),
                                             **bench_end_to_end(paths, video, threads, args.runs)}
            print(json.dumps({f"threads_{threads}": results[f"threads_{threads}"]}, indent=2), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
