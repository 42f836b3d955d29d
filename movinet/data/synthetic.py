"""A small synthetic "motion" dataset whose classes differ only in how things move.

Each video shows a textured two-coloured bar on a noisy textured background. The class is the
motion: moving up / down, growing / shrinking, widening / narrowing (stretching along the image's
x axis while squeezing along y, or the reverse), moving left / right. Every class is a
constant-speed shift of one circular state variable (position on a torus; log-size and
log-aspect, which wrap from one end of their range to the other), started at a uniformly random
phase; shape, colours, size, aspect, position and angle are drawn from the same distributions, in
the same order, for all classes. So the distribution of any single frame is exactly the same for
every class, and for one seed the first frame is identical whatever the class: no frame alone
tells the class. A shuffled frame set still tells the motion axis (e.g. size vs position), never
the direction, since each class's time reversal is another class.

The first six classes (`FLIP_INVARIANT_CLASSES`) keep their label under a horizontal flip, so
they can be trained with the flip augmentation of both presets; a flip swaps move_left and
move_right, so those two need flipping off.

Used by `movinet demo` and the tests: 6 classes x 50 videos of 16 frames at 64 px take a few
seconds to write.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

from movinet.data.video import write_video

__all__ = [
    "MOTION_CLASSES",
    "FLIP_INVARIANT_CLASSES",
    "SQUARE_CLASSES",
    "render_motion_clip",
    "render_square_clip",
    "make_motion_video",
    "make_motion_dataset",
]

MOTION_CLASSES = (
    "move_up",
    "move_down",
    "grow",
    "shrink",
    "widen",
    "narrow",
    "move_left",
    "move_right",
)
FLIP_INVARIANT_CLASSES = MOTION_CLASSES[:6]
# The "squares" style (the demo's): a plain square that moves, changes size or fades. Each pair
# (up/down, grow/shrink, fade_in/fade_out) is one clip and its time reversal, so only the order of
# the frames tells the two apart; all six keep their label under a horizontal flip.
SQUARE_CLASSES = ("move_up", "move_down", "grow", "shrink", "fade_in", "fade_out")
STYLES = ("bars", "squares")

# Half-length of the bar as a fraction of the frame side, and the largest stretch along one image
# axis: even the largest, most stretched bar spans less than half the frame, so the wrap-around
# drawing never overlaps itself.
_MIN_HALF_LENGTH = 0.08
_MAX_HALF_LENGTH = 0.28
_MAX_STRETCH = 1.5


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    # Clutter at a lower contrast than the bar, so the bar's motion is the strongest signal.
    coarse = rng.uniform(0, 255, size=(6, 6, 3)).astype(np.uint8)
    smooth = np.asarray(Image.fromarray(coarse).resize((size, size), Image.BICUBIC), dtype=np.float32)
    noise = rng.standard_normal(size=(size, size, 3), dtype=np.float32) * 6
    return smooth * 0.4 + np.float32(rng.uniform(40, 110)) + noise


def _wrap(values: np.ndarray, low: float, high: float) -> np.ndarray:
    return low + (values - low) % (high - low)


def _trajectory(class_name: str, rng: np.random.Generator, num_frames: int, size: int) -> dict[str, np.ndarray]:
    """Per-frame state of the bar: centre x, y (px), log half-length, angle (rad), log aspect.

    The log aspect `a` stretches the bar by exp(a / 2) along the image x axis and exp(-a / 2)
    along y.
    """
    t = np.arange(num_frames, dtype=np.float64)
    low, high = np.log(_MIN_HALF_LENGTH * size), np.log(_MAX_HALF_LENGTH * size)
    max_aspect = 2 * np.log(_MAX_STRETCH)
    state = {
        "x": np.full(num_frames, rng.uniform(0, size)),
        "y": np.full(num_frames, rng.uniform(0, size)),
        "log_size": np.full(num_frames, rng.uniform(low, high)),
        "angle": np.full(num_frames, rng.uniform(0, 2 * np.pi)),
        "log_aspect": np.full(num_frames, rng.uniform(-max_aspect, max_aspect)),
    }
    speed = rng.uniform(1.5, 3.0) * size / 64
    zoom = rng.uniform(1 / 24, 1 / 14) * (high - low)
    stretch = rng.uniform(1 / 24, 1 / 14) * 2 * max_aspect
    key, rate = {
        "move_up": ("y", -speed),
        "move_down": ("y", speed),
        "grow": ("log_size", zoom),
        "shrink": ("log_size", -zoom),
        "widen": ("log_aspect", stretch),
        "narrow": ("log_aspect", -stretch),
        "move_left": ("x", -speed),
        "move_right": ("x", speed),
    }[class_name]
    state[key] = state[key] + rate * t
    # Every state is wrapped for every class, so frame 0 is bit-identical across classes.
    state["x"] = _wrap(state["x"], 0, size)
    state["y"] = _wrap(state["y"], 0, size)
    state["log_size"] = _wrap(state["log_size"], low, high)
    state["log_aspect"] = _wrap(state["log_aspect"], -max_aspect, max_aspect)
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
    stretch_x = per_frame(np.exp(path["log_aspect"] / 2))
    # Wrapped offsets: the frame is a torus, so an object leaving one side enters the other.
    # Dividing by the stretch maps a pixel back into the unstretched bar's frame.
    dx = ((grid[None, None, :] - x + size / 2) % size - size / 2) / stretch_x
    dy = ((grid[None, :, None] - y + size / 2) % size - size / 2) * stretch_x
    u = (dx * cos + dy * sin) / half_length
    v = (dy * cos - dx * sin) / half_length
    distance = np.maximum(np.abs(u) - 1.0, np.abs(v) - 0.5) * half_length  # ~px outside the bar
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
    # Each channel either dark (0-64) or bright (191-255): vivid colours that stand out.
    colours = (rng.integers(0, 2, size=(2, 3)) * 0.75 + rng.uniform(0, 0.25, size=(2, 3))) * 255
    stripes = rng.uniform(1.5, 3.0)
    path = _trajectory(class_name, rng, num_frames, size)
    frames = _draw_bars(background, colours, path, stripes)
    frames += rng.standard_normal(size=frames.shape, dtype=np.float32) * 3
    return np.clip(np.rint(frames), 0, 255).astype(np.uint8)


def render_square_clip(
    class_name: str,
    rng: np.random.Generator,
    *,
    num_frames: int = 16,
    size: int = 64,
) -> np.ndarray:
    """Renders one clip of the easy "squares" style: a square moving, scaling or fading.

    The motion is symmetric about the middle frame (offset u = t - (T-1)/2), so a clip of one class
    played backwards is a clip of its pair class with the same random draw.

    Args:
        class_name: One of `SQUARE_CLASSES`.
        rng: Random generator (colours, position, size, speed, noise).
        num_frames: Frames.
        size: Frame side in pixels.

    Returns:
        (num_frames, size, size, 3) uint8 RGB.
    """
    if class_name not in SQUARE_CLASSES:
        raise ValueError(f"unknown square-motion class {class_name!r}; choose from {SQUARE_CLASSES}")
    background = rng.uniform(0.0, 0.25, 3)
    colour = rng.uniform(0.6, 1.0, 3)
    centre_x, centre_y = rng.uniform(0.31, 0.69, 2) * size
    half = rng.uniform(0.11, 0.17) * size
    speed = rng.uniform(0.019, 0.031) * size  # pixels per frame
    rows, cols = np.mgrid[0:size, 0:size]
    middle = (num_frames - 1) / 2
    frames = np.empty((num_frames, size, size, 3), np.float32)
    for t in range(num_frames):
        u = t - middle
        y, h, alpha = centre_y, half, 1.0
        if class_name in ("move_up", "move_down"):
            y = centre_y + (speed * u if class_name == "move_down" else -speed * u)
        elif class_name in ("grow", "shrink"):
            h = half * 1.07 ** (u if class_name == "grow" else -u)
        else:
            ramp = 0.5 * u / max(middle, 1.0)
            alpha = 0.55 + (ramp if class_name == "fade_in" else -ramp)
        inside = (np.abs(cols - centre_x) <= h) & (np.abs(rows - y) <= h)
        frames[t] = background
        frames[t][inside] = alpha * colour + (1 - alpha) * background
    frames += rng.normal(0.0, 0.03, size=(num_frames, size, size, 1)).astype(np.float32)
    return np.clip(np.rint(frames * 255), 0, 255).astype(np.uint8)


def _renderer(style: str):
    if style not in STYLES:
        raise ValueError(f"style must be one of {STYLES}, got {style!r}")
    return (render_motion_clip, MOTION_CLASSES) if style == "bars" else (render_square_clip, SQUARE_CLASSES)


def make_motion_video(
    path: str | os.PathLike[str],
    class_name: str,
    *,
    num_frames: int = 16,
    size: int = 64,
    fps: float = 8.0,
    seed: int = 0,
    style: str = "bars",
) -> Path:
    """Writes one video of a motion class (e.g. a held-out clip for the prediction demo).

    Args:
        path: Output video file (.mp4).
        class_name: One of `MOTION_CLASSES`.
        num_frames: Frames.
        size: Frame side in pixels.
        fps: Frame rate of the file.
        seed: Seed of the random draw.
        style: "bars" (`MOTION_CLASSES`) or "squares" (`SQUARE_CLASSES`).

    Returns:
        The path written.
    """
    render, _ = _renderer(style)
    clip = render(class_name, np.random.default_rng(seed), num_frames=num_frames, size=size)
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
    style: str = "bars",
) -> dict[str, object]:
    """Writes a train/val motion dataset of mp4 videos (H.264 when available, else MPEG-4).

    Layouts:
        "folders": `out_dir/{train,val}/<class>/<class>_0000.mp4` (data.format "folders").
        "videos": `out_dir/videos/{train,val}/<class>/...mp4` plus `train.txt` / `val.txt`
            (`path label`, relative to out_dir; data.format "videos").
    Both write `out_dir/labels.txt` (one class name per line).

    Args:
        out_dir: Output folder (created).
        num_classes: 1 to 8: the first classes of `MOTION_CLASSES` (up to 6 they are all
            unchanged by a horizontal flip, safe with flip augmentation); labels follow the
            sorted class names.
        videos_per_class: Training videos per class.
        val_videos_per_class: Validation videos per class.
        num_frames: Frames per video.
        size: Frame side in pixels.
        fps: Frame rate of the files.
        seed: Seed; the same seed writes the same dataset.
        layout: "folders" or "videos".
        style: "bars" (the hard default: textured bars, wrap-around motion) or "squares" (plain
            squares: `SQUARE_CLASSES`, learnt by A0 in a few CPU minutes; the demo's).

    Returns:
        Keys ready for a `DataConfig`: "root", "format", "train_list", "val_list", "labels_file"
        (paths relative to root), plus "class_names" and "num_videos".
    """
    render, all_classes = _renderer(style)
    if not 1 <= num_classes <= len(all_classes):
        raise ValueError(f"num_classes must be in [1, {len(all_classes)}] for style {style!r}, got {num_classes}")
    if layout not in ("folders", "videos"):
        raise ValueError(f"layout must be 'folders' or 'videos', got {layout!r}")
    root = Path(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    # Sorted, so labels.txt agrees with the label order a folder scan gives (sorted folder names).
    class_names = sorted(all_classes[:num_classes])
    base = root if layout == "folders" else root / "videos"
    seeds = np.random.SeedSequence(seed)
    lists: dict[str, list[str]] = {}
    count = 0
    for split, per_class in (("train", videos_per_class), ("val", val_videos_per_class)):
        lines = []
        for label, name in enumerate(class_names):
            folder = base / split / name
            for index in range(per_class):
                rng = np.random.default_rng(seeds.spawn(1)[0])
                clip = render(name, rng, num_frames=num_frames, size=size)
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
