"""A small synthetic "motion" dataset whose classes differ only in how things move.

Each video shows a textured two-coloured bar on a noisy textured background. The class is the
motion: moving left / right / up / down, growing / shrinking, rotating clockwise /
counter-clockwise. Every class is a constant-speed shift of one circular state variable
(position on a torus, log-size that wraps from largest back to smallest, angle), started at a
uniformly random phase; shape, colours, size, position and angle are drawn from the same
distributions for all classes. So the distribution of any single frame is exactly the same for
every class: no frame alone tells the class. A shuffled frame set still tells the motion axis
(e.g. horizontal vs vertical), never the direction, since each class's time reversal is another
class.

Used by `movinet demo` and the tests: 6 classes x 40 videos of 16 frames at 64 px take a few
seconds to write.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

from movinet.data.video import write_video

__all__ = ["MOTION_CLASSES", "render_motion_clip", "make_motion_video", "make_motion_dataset"]

MOTION_CLASSES = (
    "move_left",
    "move_right",
    "move_up",
    "move_down",
    "grow",
    "shrink",
    "rotate_cw",
    "rotate_ccw",
)

# Half-length of the bar as a fraction of the frame side; the largest still fits in half a frame
# when rotated, so the wrap-around drawing never overlaps itself.
_MIN_HALF_LENGTH = 0.1
_MAX_HALF_LENGTH = 0.4


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    coarse = rng.uniform(0, 255, size=(6, 6, 3)).astype(np.uint8)
    smooth = np.asarray(Image.fromarray(coarse).resize((size, size), Image.BICUBIC), dtype=np.float32)
    noise = rng.standard_normal(size=(size, size, 3), dtype=np.float32) * 10
    return smooth * 0.6 + np.float32(rng.uniform(0, 100)) + noise


def _trajectory(class_name: str, rng: np.random.Generator, num_frames: int, size: int) -> dict[str, np.ndarray]:
    """Per-frame centre x, y (px), log half-length and angle (rad) of the bar."""
    t = np.arange(num_frames, dtype=np.float64)
    low, high = np.log(_MIN_HALF_LENGTH * size), np.log(_MAX_HALF_LENGTH * size)
    state = {
        "x": np.full(num_frames, rng.uniform(0, size)),
        "y": np.full(num_frames, rng.uniform(0, size)),
        "log_size": np.full(num_frames, rng.uniform(low, high)),
        "angle": np.full(num_frames, rng.uniform(0, 2 * np.pi)),
    }
    speed = rng.uniform(1.0, 2.5) * size / 64
    spin = rng.uniform(0.08, 0.2)
    zoom = rng.uniform(1 / 32, 1 / 20) * (high - low)
    step = {
        "move_left": ("x", -speed),
        "move_right": ("x", speed),
        "move_up": ("y", -speed),
        "move_down": ("y", speed),
        "grow": ("log_size", zoom),
        "shrink": ("log_size", -zoom),
        # Image y points down, so a growing angle turns clockwise on screen.
        "rotate_cw": ("angle", spin),
        "rotate_ccw": ("angle", -spin),
    }[class_name]
    key, rate = step
    state[key] = state[key] + rate * t
    state["x"] %= size
    state["y"] %= size
    state["log_size"] = low + (state["log_size"] - low) % (high - low)
    return state


def _draw_bars(
    background: np.ndarray,
    colours: np.ndarray,
    path: dict[str, np.ndarray],
    stripes: float,
) -> np.ndarray:
    """Draws the bar on every frame at once. Returns (T, size, size, 3) float32."""
    size = background.shape[0]
    grid = np.arange(size, dtype=np.float32) + 0.5

    def per_frame(values: np.ndarray) -> np.ndarray:
        return values.astype(np.float32)[:, None, None]

    x, y = per_frame(path["x"]), per_frame(path["y"])
    half_length = per_frame(np.exp(path["log_size"]))
    cos, sin = per_frame(np.cos(path["angle"])), per_frame(np.sin(path["angle"]))
    # Wrapped offsets: the frame is a torus, so an object leaving one side enters the other.
    dx = (grid[None, None, :] - x + size / 2) % size - size / 2
    dy = (grid[None, :, None] - y + size / 2) % size - size / 2
    u = (dx * cos + dy * sin) / half_length
    v = (dy * cos - dx * sin) / half_length
    distance = np.maximum(np.abs(u) - 1.0, np.abs(v) - 0.5) * half_length  # px outside the bar
    alpha = np.clip(0.5 - distance, 0.0, 1.0)[..., None]
    # Texture fixed to the bar (two colour halves, stripes), so rotation and scale are visible.
    texture = 0.75 + 0.25 * np.cos(np.pi * stripes * u)[..., None]
    fill = np.where((u < 0)[..., None], colours[0], colours[1]).astype(np.float32) * texture
    return background[None] + alpha * (fill - background[None])


def render_motion_clip(
    class_name: str,
    rng: np.random.Generator,
    *,
    num_frames: int = 16,
    size: int = 64,
) -> np.ndarray:
    """Renders one clip of a motion class.

    Args:
        class_name: One of `MOTION_CLASSES`.
        rng: Random generator (position, colours, speed, background, noise).
        num_frames: Frames.
        size: Frame side in pixels.

    Returns:
        (num_frames, size, size, 3) uint8 RGB.
    """
    if class_name not in MOTION_CLASSES:
        raise ValueError(f"unknown motion class {class_name!r}; choose from {MOTION_CLASSES}")
    background = _background(rng, size)
    colours = rng.uniform(0, 255, size=(2, 3))
    stripes = rng.uniform(1.5, 3.0)
    path = _trajectory(class_name, rng, num_frames, size)
    frames = _draw_bars(background, colours, path, stripes)
    frames += rng.standard_normal(size=frames.shape, dtype=np.float32) * 4
    return np.clip(np.rint(frames), 0, 255).astype(np.uint8)


def make_motion_video(
    path: str | os.PathLike[str],
    class_name: str,
    *,
    num_frames: int = 16,
    size: int = 64,
    fps: float = 8.0,
    seed: int = 0,
) -> Path:
    """Writes one video of a motion class (e.g. a held-out clip for the prediction demo).

    Args:
        path: Output video file (.mp4).
        class_name: One of `MOTION_CLASSES`.
        num_frames: Frames.
        size: Frame side in pixels.
        fps: Frame rate of the file.
        seed: Seed of the random draw.

    Returns:
        The path written.
    """
    clip = render_motion_clip(class_name, np.random.default_rng(seed), num_frames=num_frames, size=size)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return write_video(path, clip, fps)


def make_motion_dataset(
    out_dir: str | os.PathLike[str],
    *,
    num_classes: int = 6,
    videos_per_class: int = 40,
    val_videos_per_class: int = 10,
    num_frames: int = 16,
    size: int = 64,
    fps: float = 8.0,
    seed: int = 0,
    layout: str = "folders",
) -> dict[str, object]:
    """Writes a train/val motion dataset of mp4 videos (H.264 when available, else MPEG-4).

    Layouts:
        "folders": `out_dir/{train,val}/<class>/<class>_0000.mp4` (data.format "folders").
        "videos": `out_dir/videos/{train,val}/<class>/...mp4` plus `train.txt` / `val.txt`
            (`path label`, relative to out_dir; data.format "videos").
    Both write `out_dir/labels.txt` (one class name per line).

    Args:
        out_dir: Output folder (created).
        num_classes: 1 to 8, the first classes of `MOTION_CLASSES` (6: moves and zooms).
        videos_per_class: Training videos per class.
        val_videos_per_class: Validation videos per class.
        num_frames: Frames per video.
        size: Frame side in pixels.
        fps: Frame rate of the files.
        seed: Seed; the same seed writes the same dataset.
        layout: "folders" or "videos".

    Returns:
        Keys ready for a `DataConfig`: "root", "format", "train_list", "val_list", "labels_file"
        (paths relative to root), plus "class_names" and "num_videos".
    """
    if not 1 <= num_classes <= len(MOTION_CLASSES):
        raise ValueError(f"num_classes must be in [1, {len(MOTION_CLASSES)}], got {num_classes}")
    if layout not in ("folders", "videos"):
        raise ValueError(f"layout must be 'folders' or 'videos', got {layout!r}")
    root = Path(out_dir)
    class_names = list(MOTION_CLASSES[:num_classes])
    base = root if layout == "folders" else root / "videos"
    seeds = np.random.SeedSequence(seed)
    lists: dict[str, list[str]] = {}
    count = 0
    for split, per_class in (("train", videos_per_class), ("val", val_videos_per_class)):
        lines = []
        for label, name in enumerate(class_names):
            folder = base / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for index in range(per_class):
                rng = np.random.default_rng(seeds.spawn(1)[0])
                clip = render_motion_clip(name, rng, num_frames=num_frames, size=size)
                video = write_video(folder / f"{name}_{index:04d}.mp4", clip, fps)
                lines.append(f"{video.relative_to(root).as_posix()} {label}")
                count += 1
        lists[split] = lines
    (root / "labels.txt").write_text("".join(f"{name}\n" for name in class_names), encoding="utf-8")
    result: dict[str, object] = {
        "root": str(root),
        "format": layout,
        "labels_file": "labels.txt",
        "class_names": class_names,
        "num_videos": count,
    }
    if layout == "folders":
        result.update(train_list="train", val_list="val")
    else:
        for split, lines in lists.items():
            (root / f"{split}.txt").write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
        result.update(train_list="train.txt", val_list="val.txt")
    return result
