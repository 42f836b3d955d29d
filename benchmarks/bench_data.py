"""Data-pipeline throughput: 50-frame training clips per second through a torch DataLoader.

Writes a 10-second 568x320 (320p) 30 fps H.264 video to a temporary folder, then runs the full
PaddleVideo training pipeline on it (segment sampling of 50 frames over the whole video, PyAV
decoding, Scale 192 -> MultiScaleCrop -> RandomCrop 172 -> flip -> ImageNet normalisation) and
prints clips/s for each worker count, plus where the time of one clip goes.

    python benchmarks/bench_data.py [--clips 48] [--workers 1 2] [--batch-size 8]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from torch.utils.data import DataLoader

from movinet.data.config import SamplingConfig, TransformConfig
from movinet.data.datasets import Sample, TrainingClips, VideoClipDataset
from movinet.data.sampling import segment_indices
from movinet.data.transforms import build_train_transform
from movinet.data.video import open_video, write_video

WIDTH, HEIGHT, FPS, SECONDS = 568, 320, 30, 10
CLIP_FRAMES = 50


def _moving_texture(num_frames: int) -> np.ndarray:
    """A noisy texture panning diagonally, with a bright moving square: costs real bits to encode."""
    rng = np.random.default_rng(0)
    texture = rng.integers(0, 256, size=(HEIGHT * 2, WIDTH * 2, 3), dtype=np.uint8)
    texture = ((texture.astype(np.uint16) + np.roll(texture, 1, axis=0) + np.roll(texture, 1, axis=1)) // 3).astype(
        np.uint8
    )
    frames = np.empty((num_frames, HEIGHT, WIDTH, 3), np.uint8)
    for t in range(num_frames):
        frames[t] = texture[t // 2 : t // 2 + HEIGHT, t : t + WIDTH]
        x = (7 * t) % (WIDTH - 60)
        frames[t, 100:160, x : x + 60] = 255
    return frames


def _time_one_clip(video: Path, cfg: TransformConfig, repeats: int = 3) -> tuple[float, float]:
    """Median seconds to decode 50 sampled frames, and to transform them."""
    transform = build_train_transform(cfg)
    decode, augment = [], []
    for seed in range(repeats):
        rng = np.random.default_rng(seed)
        start = time.perf_counter()
        with open_video(video) as reader:
            frames = reader.read_frames(segment_indices(reader.num_frames, CLIP_FRAMES, train=True, rng=rng))
        middle = time.perf_counter()
        transform(frames, rng)
        decode.append(middle - start)
        augment.append(time.perf_counter() - middle)
    return float(np.median(decode)), float(np.median(augment))


def _time_end_clip(video: Path) -> tuple[float, float]:
    """Seconds to read the last 50 frames with seeking, and to decode the whole file."""
    with open_video(video) as reader:
        last = list(range(reader.num_frames - CLIP_FRAMES, reader.num_frames))
        start = time.perf_counter()
        reader.read_frames(last)
        seek = time.perf_counter() - start
        start = time.perf_counter()
        sum(1 for _ in reader)
        return seek, time.perf_counter() - start


def _clips_per_second(dataset: VideoClipDataset, workers: int, batch_size: int) -> float:
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=workers, shuffle=False)
    batches = iter(loader)
    next(batches)  # worker start-up and first decode are not throughput
    start = time.perf_counter()
    clips = sum(len(batch["label"]) for batch in batches)
    return clips / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=48, help="clips timed per worker count (after one batch)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        video = write_video(Path(folder) / "bench_320p.mp4", _moving_texture(FPS * SECONDS), FPS,
                            options={"preset": "veryfast", "crf": "23"})
        with open_video(video) as reader:
            print(f"video: {reader.width}x{reader.height}, {reader.num_frames} frames at {reader.fps:g} fps, "
                  f"{video.stat().st_size / 1e6:.1f} MB, codec {reader.codec}")

        cfg = TransformConfig()  # paddle preset: 192 -> 172, ImageNet normalisation
        decode, augment = _time_one_clip(video, cfg)
        print(f"one clip in the main process: decode {decode * 1e3:.0f} ms, transform {augment * 1e3:.0f} ms")
        seek, full = _time_end_clip(video)
        print(f"last {CLIP_FRAMES} frames: {seek * 1e3:.0f} ms with seeking, whole-file decode {full * 1e3:.0f} ms")

        dataset = VideoClipDataset(
            [Sample(video, 0)] * (args.clips + args.batch_size),
            clips=TrainingClips(SamplingConfig(mode="segments", num_frames=CLIP_FRAMES), build_train_transform(cfg)),
            seed=0,
        )
        print(f"\n| workers | clips/s ({CLIP_FRAMES} frames, 3x{CLIP_FRAMES}x172x172, batch {args.batch_size}) |")
        print("|---|---|")
        for workers in args.workers:
            print(f"| {workers} | {_clips_per_second(dataset, workers, args.batch_size):.2f} |")


if __name__ == "__main__":
    main()
