"""Helpers shared by the engine tests and their subprocess workers (no pytest import here)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from movinet.engine.config import Config, config_from_dict


class RandomVideoDataset(Dataset):
    """Items like `movinet.data.build_dataset`'s, from fixed random tensors.

    The class is encoded in the mean brightness so a model can learn it; training items get a
    random horizontal flip drawn from rng(seed, epoch, index), as the real dataset does.
    """

    def __init__(self, num_samples: int, num_classes: int = 3, *, frames: int = 4, size: int = 32,
                 views: int | None = None, seed: int = 0) -> None:
        generator = torch.Generator().manual_seed(1000 + num_samples + seed)
        self.labels = [i % num_classes for i in range(num_samples)]
        self.videos = [
            torch.randn(3, frames, size, size, generator=generator) * 0.5 + (label - num_classes / 2)
            for label in self.labels
        ]
        self.views, self.seed, self.epoch = views, seed, 0
        self.num_classes, self.class_names = num_classes, None

    def __len__(self) -> int:
        return len(self.videos)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __getitem__(self, index: int) -> dict:
        video = self.videos[index]
        if self.views is None:
            rng = np.random.default_rng([self.seed, self.epoch, index])
            if rng.random() < 0.5:
                video = video.flip(-1)
        else:
            video = torch.stack([video] * self.views)
        return {"video": video, "label": self.labels[index], "index": index, "num_skipped": 0}


def tiny_config(output_dir: Path, **sections: dict) -> Config:
    """A0 base, 3 classes, batch 2, AdamW, constant lr, no progress bars; `sections` update it."""
    raw = {
        "model": {"name": "movinet_a0_base", "num_classes": 3, "dropout": 0.0},
        "data": {"batch_size": 2, "val_batch_size": 2, "num_workers": 0},
        "optimizer": {"name": "adamw", "eps": 1e-8, "weight_decay": 0.0},
        "lr_schedule": {"name": "constant", "base_lr": 1e-3},
        "train": {"output_dir": str(output_dir), "epochs": 1, "seed": 0, "device": "cpu", "progress": False,
                  "save_interval": 0},
    }
    for name, values in sections.items():
        raw.setdefault(name, {}).update(values)
    return config_from_dict(raw)
