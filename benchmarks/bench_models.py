"""CPU latency of A0 base (1x3x50x172x172 clip) and A0 stream (one 172x172 frame per step).

PyTorch eager under `torch.inference_mode`, median of N runs after warm-up, with 1 thread and with
all threads. Not a test: run it on an otherwise idle machine.

    python benchmarks/bench_models.py [--runs 5] [--frames 50] [--json out.json]

Anchors measured on this kind of machine (2-core AMD EPYC), 1 thread: PaddleVideo A0 0.73 s eager /
0.24 s Paddle Inference; community PyTorch port 0.42 s; TF 11.5 s. Stream per frame: TF 11 ms,
TF Lite 3.6 ms, community PyTorch port 17 ms.
"""

from __future__ import annotations

import argparse
import json
import os

import torch

import movinet
from timing import median_seconds  # sibling script: benchmarks/ is on sys.path


def bench_base(frames: int, runs: int) -> float:
    model = movinet.create_model("movinet_a0_base").eval()
    video = torch.rand(1, 3, frames, 172, 172)
    with torch.inference_mode():
        return median_seconds(lambda: model(video), runs)


def bench_stream(frames: int, runs: int) -> float:
    """Median per-frame latency over `frames` consecutive steps (state fed back)."""
    model = movinet.create_model("movinet_a0_stream").eval()
    video = torch.rand(1, 3, frames, 172, 172)

    def one_pass() -> None:
        state = model.init_state(1, 172, 172)
        for t in range(frames):
            _, state = model.stream_step(video[:, :, t:t + 1], state)

    with torch.inference_mode():
        return median_seconds(one_pass, runs) / frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--frames", type=int, default=50)
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    results = {}
    for threads in sorted({1, os.cpu_count() or 1}):
        torch.set_num_threads(threads)
        results[f"a0_base_50x172_s_threads{threads}"] = bench_base(args.frames, args.runs)
        results[f"a0_stream_per_frame_ms_threads{threads}"] = 1000 * bench_stream(args.frames, max(1, args.runs // 2))
    for key, value in results.items():
        print(f"{key:<40} {value:10.4f}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"torch": torch.__version__, **results}, handle, indent=2)


if __name__ == "__main__":
    main()
