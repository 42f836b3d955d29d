"""Training throughput (clips/s): forward + backward + optimizer step through the engine's loop.

    python benchmarks/bench_train.py                                  # A0 base, 16x112 and 50x172, batch 8, CPU
    python benchmarks/bench_train.py --model movinet_a0_stream --sizes 8x64 --iters 5 --threads 2

Uses `train_one_epoch` with an in-memory dataset (no decoding), RMSProp as in the recipes, and
prints one JSON line per input size: model, frames, size, batch, device, threads, seconds per step
(median of the timed steps), clips/s.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
from torch.utils.data import DataLoader, Dataset

from movinet.engine.config import OptimizerConfig
from movinet.engine.optim import build_optimizer
from movinet.engine.train import LoopPlan, StepSettings, TrainState, build_model, train_one_epoch


class RepeatedClip(Dataset):
    """`length` items of one random clip (3, T, S, S): measures the model, not the data pipeline."""

    def __init__(self, frames: int, size: int, length: int, num_classes: int) -> None:
        self.video = torch.randn(3, frames, size, size)
        self.length, self.num_classes = length, num_classes

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict:
        return {"video": self.video, "label": index % self.num_classes, "index": index, "num_skipped": 0}


def time_steps(model_name: str, frames: int, size: int, batch: int, iters: int, device: torch.device) -> list[float]:
    """Seconds of each optimizer step after one warm-up step."""
    from movinet.engine.config import ModelConfig

    model = build_model(ModelConfig(name=model_name, num_classes=400), 400).to(device)
    optimizer = build_optimizer(model, OptimizerConfig(name="rmsprop"), lr=0.01)
    scaler = torch.amp.GradScaler(device.type, enabled=False)
    loader = DataLoader(RepeatedClip(frames, size, batch, 400), batch_size=batch)
    settings = StepSettings(device=device)
    plan = LoopPlan(micro_steps_per_epoch=1, steps_per_epoch=1, total_steps=iters + 1, epochs=iters + 1,
                    accumulate_steps=1)
    times = []
    for step in range(iters + 1):
        state = TrainState(global_step=step)
        if device.type == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        train_one_epoch(model, loader, optimizer, lambda _: 0.01, scaler, settings, state, plan=plan)
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - started)
    return times[1:]


def parse_size(text: str) -> tuple[int, int]:
    """"16x112" -> (16, 112)."""
    try:
        frames, size = (int(part) for part in text.lower().split("x"))
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"size {text!r} must look like FRAMESxPIXELS, e.g. 16x112") from error
    return frames, size


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="movinet_a0_base")
    parser.add_argument("--sizes", nargs="+", type=parse_size, default=[(16, 112), (50, 172)])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--iters", type=int, default=3, help="timed steps (after one warm-up step)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    for frames, size in args.sizes:
        times = time_steps(args.model, frames, size, args.batch, args.iters, device)
        step = statistics.median(times)
        print(json.dumps({
            "model": args.model, "frames": frames, "size": size, "batch": args.batch, "device": str(device),
            "threads": torch.get_num_threads(), "seconds_per_step": round(step, 3),
            "clips_per_s": round(args.batch / step, 2), "steps": [round(t, 3) for t in times],
        }), flush=True)


if __name__ == "__main__":
    main()
