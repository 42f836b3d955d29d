"""The `data:` section of a training/testing config, as a typed dataclass.

The engine's config loader builds this from YAML (unknown keys and wrong types are rejected there);
`movinet.data.build_dataset` consumes it. Every field has a default so a config only states what
differs from the PaddleVideo A0 recipe (`configs/movinet_k400_frame.yaml`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Literal


@dataclass
class SamplingConfig:
    """How frame indices are chosen from a video.

    mode:
        "segments": PaddleVideo / TSN uniform sampling. The video is cut into `num_frames` equal
            segments; training takes a random frame in each, testing the segment centre.
        "clips": TF Model Garden sampling. A clip of `num_frames` frames `temporal_stride` apart;
            random start in training, `test_num_clips` evenly spaced clips in testing; short
            videos loop.
    """

    mode: str = "segments"
    num_frames: int = 50
    temporal_stride: int = 1
    test_num_clips: int = 1


def evaluation_sampling(sampling: SamplingConfig, num_frames: int | None, temporal_stride: int | None) -> SamplingConfig:
    """The sampling of evaluation clips: `sampling` with the `test:` section's `num_frames` /
    `temporal_stride` where they are set (TF A3: train 64 frames, evaluate 120)."""
    return dataclasses.replace(sampling, num_frames=num_frames or sampling.num_frames,
                               temporal_stride=temporal_stride or sampling.temporal_stride)


@dataclass
class TransformConfig:
    """Spatial transforms and normalisation.

    preset:
        "paddle": train = Scale(short_size, fixed 4:3 ratio) -> MultiScaleCrop(short_size)
            -> RandomCrop(crop_size) -> flip; test = Scale(short_size) -> CenterCrop(crop_size).
        "tf": train = random resized crop (area 0.08-1, aspect 0.5-2) to crop_size -> flip;
            test = resize shorter side to short_size -> centre crop(s) of crop_size.
    normalize: "imagenet" (mean/std) or "unit" (RGB in [0, 1], the official TF models).
    test_num_crops: 1 (centre) or 3 (left/centre/right or top/centre/bottom) views per clip.
    min_area_ratio / max_area_ratio / min_aspect_ratio / max_aspect_ratio: the "tf" preset's
        random resized crop (TF `aug_min_area_ratio` ... `aug_max_aspect_ratio`).
    flip: random horizontal flip in training (off for classes a mirror image turns into another).
    """

    preset: str = "paddle"
    short_size: int = 192
    crop_size: int = 172
    normalize: str = "imagenet"
    test_num_crops: int = 1
    min_area_ratio: float = 0.08
    max_area_ratio: float = 1.0
    min_aspect_ratio: float = 0.5
    max_aspect_ratio: float = 2.0
    flip: bool = True


@dataclass
class DataConfig:
    """Where the data is and how it is read.

    format:
        "frames": list lines `frame_dir num_frames label`, frames `suffix.format(i)` (1-based),
            `frame_dir` relative to `root`.
        "videos": list lines `path/to/video.mp4 label`, relative to `root`.
        "folders": `<split_dir>/<class_name>/*.mp4`; class names sorted give the labels.
            For this format `train_list`/`val_list`/`test_list` name the split directories
            (relative to `root`).
    """

    format: str = "frames"
    root: str = ""
    train_list: str = ""
    val_list: str = ""
    test_list: str = ""
    suffix: str = "img_{:05}.jpg"
    labels_file: str = ""  # optional text file with one class name per line
    batch_size: int = 32  # per process (per GPU)
    val_batch_size: int = 32
    test_batch_size: int = 8
    num_workers: int | Literal["auto"] = "auto"  # "auto": 4 on CPU; on CUDA the process's CPU cores, <= 16
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    transform: TransformConfig = field(default_factory=TransformConfig)
