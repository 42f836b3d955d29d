"""Subprocess entry points for the slow engine tests (SIGKILL/resume and two-process DDP).

    python engine_worker.py run OUT_DIR [--resume CKPT] [--item-delay S]
    torchrun --nproc_per_node=2 engine_worker.py ddp OUT_DIR
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from engine_helpers import RandomVideoDataset, tiny_config  # noqa: E402


class SlowDataset(RandomVideoDataset):
    """Sleeps per item so a test can kill the run mid-epoch; the numbers are unchanged."""

    def __init__(self, *args, delay: float = 0.0, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.delay = delay

    def __getitem__(self, index: int) -> dict:
        time.sleep(self.delay)
        return super().__getitem__(index)


def resume_config(out: str):
    """Dropout, stochastic depth, random flips, Paddle's RMSProp + per-iteration warm-up cosine, validation:
    everything whose randomness or state an exact resume must restore."""
    return tiny_config(
        Path(out),
        model={"dropout": 0.3, "stochastic_depth": 0.2},
        optimizer={"name": "rmsprop", "eps": 1.0, "weight_decay": 3e-5},
        lr_schedule={"name": "warmup_cosine", "unit": "epoch", "base_lr": 0.01, "warmup_start_lr": 0.001,
                     "warmup": 1, "total": None},
        train={"epochs": 3, "checkpoint_every_iters": 1, "save_interval": 0},
    )


def run(out: str, resume: str | None, delay: float) -> None:
    from movinet.engine.train import fit

    torch.set_num_threads(1)
    datasets = {"train": SlowDataset(8, delay=delay), "val": RandomVideoDataset(2, views=1)}
    fit(resume_config(out), validate=True, resume=resume, datasets=datasets)


def ddp(out: str) -> None:
    """One manual DDP step (weights must match across ranks), then a whole validated fit."""
    import torch.distributed as dist

    from movinet.engine.distributed import init_distributed, wrap_ddp
    from movinet.engine.loaders import train_loader_for_epoch
    from movinet.engine.optim import build_optimizer
    from movinet.engine.schedule import Constant
    from movinet.engine.train import StepSettings, TrainState, build_model, plan_loop, train_one_epoch

    torch.set_num_threads(1)
    info = init_distributed("cpu")
    torch.manual_seed(100 + info.rank)  # different init per rank: DDP must broadcast rank 0's weights
    cfg = tiny_config(Path(out), train={"epochs": 1})
    dataset = RandomVideoDataset(8)
    model = build_model(cfg.model, 3)
    ddp_model = wrap_ddp(model, info)
    optimizer = build_optimizer(model, cfg.optimizer, lr=1e-3)
    plan = plan_loop(cfg, len(dataset), info)
    loader = train_loader_for_epoch(dataset, cfg, info, 0, 0)
    seen = [int(i) for batch in loader for i in batch["index"]]
    train_one_epoch(ddp_model, train_loader_for_epoch(dataset, cfg, info, 0, 0), optimizer, Constant(1e-3),
                    torch.amp.GradScaler("cpu", enabled=False), StepSettings(device=info.device,
                    world_size=info.world_size), TrainState(), plan=plan)
    # Parameters must agree; BN running stats legitimately differ by each rank's last local batch.
    parameters = {name: p.detach() for name, p in model.named_parameters()}
    torch.save({"parameters": parameters, "indices": seen}, Path(out) / f"rank{info.rank}.pt")
    dist.barrier()
    from movinet.engine.train import fit

    cfg = tiny_config(Path(out) / "fit", train={"epochs": 2})
    fit(cfg, validate=True, datasets={"train": RandomVideoDataset(8), "val": RandomVideoDataset(5, views=2)})
    dist.destroy_process_group()  # fit leaves a group it did not create alone


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["run", "ddp"])
    parser.add_argument("out")
    parser.add_argument("--resume", default=None)
    parser.add_argument("--item-delay", type=float, default=0.0)
    args = parser.parse_args()
    if args.mode == "run":
        run(args.out, args.resume, args.item_delay)
    else:
        ddp(args.out)


if __name__ == "__main__":
    main()
