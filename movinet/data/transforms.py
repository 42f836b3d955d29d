"""Spatial transforms for clips and the two recipe presets (PaddleVideo and TF Model Garden).

Every function takes a uint8 clip (T, H, W, 3) and applies ONE crop / flip / resize to all its
frames, so motion is never distorted between frames. All resizing is Pillow bilinear, frame by
frame: that is exactly PaddleVideo's `Scale` / `MultiScaleCrop` (backend "pillow"); TF uses
`tf.image.resize` (bilinear without antialiasing), so TF-preset pixels differ slightly when
shrinking. Randomness comes from an explicit `np.random.Generator`.

The layout changes once, in `normalize_array`: uint8 (T, H, W, 3) -> float32 (3, T, H, W).
"""

from __future__ import annotations

from dataclasses import dataclass

from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from movinet.data.config import TransformConfig

if TYPE_CHECKING:  # torch is imported where a tensor is made: decoding and inference need none
    import torch

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "MULTI_SCALE_CROP_SCALES",
    "scale_fixed_ratio",
    "resize_short_side",
    "resize",
    "multi_scale_crop",
    "random_crop",
    "center_crop",
    "three_crops",
    "horizontal_flip",
    "random_resized_crop",
    "normalize",
    "normalize_array",
    "validate_transform_config",
    "TrainTransform",
    "build_train_transform",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
MULTI_SCALE_CROP_SCALES = (1.0, 0.875, 0.75, 0.66)
PRESETS = ("paddle", "tf")
NORMALIZATIONS = ("imagenet", "unit")


def _check_clip(clip: np.ndarray) -> None:
    if clip.ndim != 4 or clip.shape[-1] != 3 or clip.dtype != np.uint8:
        raise ValueError(f"expected a uint8 clip of shape (T, H, W, 3), got {clip.dtype} {clip.shape}")


def _check_fits(clip: np.ndarray, height: int, width: int, what: str) -> None:
    if clip.shape[1] < height or clip.shape[2] < width:
        raise ValueError(
            f"{what} of {height}x{width} does not fit in frames of {clip.shape[1]}x{clip.shape[2]} "
            "(H x W); resize first or use a smaller crop size"
        )


def resize(clip: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resizes every frame to (height, width) with Pillow bilinear (antialiased when shrinking).

    Args:
        clip: (T, H, W, 3) uint8.

    Returns:
        (T, height, width, 3) uint8.
    """
    _check_clip(clip)
    if clip.shape[1:3] == (height, width):
        return clip
    return np.stack(
        [np.asarray(Image.fromarray(frame).resize((width, height), Image.BILINEAR)) for frame in clip]
    )


def scale_fixed_ratio(clip: np.ndarray, short_size: int) -> np.ndarray:
    """PaddleVideo `Scale(short_size, fixed_ratio=True)`: short side -> short_size, long side -> 4/3 of it.

    The long side becomes `int(short_size * 4 / 3)` whatever the input's aspect ratio (192 -> 256).
    A clip whose short side already equals `short_size` is returned unchanged (not forced to 4:3),
    as in Paddle. Portrait frames keep their orientation (width 192, height 256).

    Args:
        clip: (T, H, W, 3) uint8.
        short_size: Target length of the shorter side.

    Returns:
        (T, H', W', 3) uint8.
    """
    _check_clip(clip)
    height, width = clip.shape[1:3]
    if min(height, width) == short_size:
        return clip
    long_size = int(short_size * 4.0 / 3.0)
    if width <= height:
        return resize(clip, long_size, short_size)
    return resize(clip, short_size, long_size)


def resize_short_side(clip: np.ndarray, size: int) -> np.ndarray:
    """TF `resize_smallest`: shorter side -> `size`, aspect ratio kept (longer side floored).

    Args:
        clip: (T, H, W, 3) uint8.
        size: Target length of the shorter side.

    Returns:
        (T, H', W', 3) uint8 with min(H', W') == size; the input itself if already that size.
    """
    _check_clip(clip)
    height, width = clip.shape[1:3]
    new_height = max(size, height * size // width)
    new_width = max(size, width * size // height)
    return resize(clip, new_height, new_width)


def _crop(clip: np.ndarray, top: int, left: int, height: int, width: int) -> np.ndarray:
    return clip[:, top : top + height, left : left + width]


def _multi_scale_offsets(
    image_w: int, image_h: int, crop_w: int, crop_h: int, more_fix_crop: bool
) -> list[tuple[float, float]]:
    w_step = (image_w - crop_w) / 4
    h_step = (image_h - crop_h) / 4
    offsets = [(0.0, 0.0)]
    # Paddle (allow_duplication=False) drops the corners that coincide when a step is 0.
    if w_step != 0:
        offsets.append((4 * w_step, 0.0))
    if h_step != 0:
        offsets.append((0.0, 4 * h_step))
    if h_step != 0 and w_step != 0:
        offsets.append((4 * w_step, 4 * h_step))
    if h_step != 0 or w_step != 0:
        offsets.append((2 * w_step, 2 * h_step))
    if more_fix_crop:
        offsets += [
            (0.0, 2 * h_step),
            (4 * w_step, 2 * h_step),
            (2 * w_step, 4 * h_step),
            (2 * w_step, 0.0),
            (1 * w_step, 1 * h_step),
            (3 * w_step, 1 * h_step),
            (1 * w_step, 3 * h_step),
            (3 * w_step, 3 * h_step),
        ]
    return offsets


def multi_scale_crop(
    clip: np.ndarray,
    target_size: int,
    rng: np.random.Generator,
    *,
    scales: tuple[float, ...] = MULTI_SCALE_CROP_SCALES,
    max_distort: int = 1,
    more_fix_crop: bool = True,
) -> np.ndarray:
    """PaddleVideo `MultiScaleCrop` (TSN corner cropping), resized to target_size x target_size.

    Crop sides are `int(min(H, W) * s)` for s in `scales`, snapped to `target_size` when within
    3 px; a (width, height) pair is drawn among those whose scale indices differ by at most
    `max_distort`, and the offset among the fixed positions (corners, centre, and with
    `more_fix_crop` the 8 edge-centre and quarter points; 13 in all). Offsets are multiples of a
    quarter of the slack and are rounded half-to-even like Pillow's `crop`.

    Args:
        clip: (T, H, W, 3) uint8.
        target_size: Output side (Paddle passes the short size, 192).
        rng: Random generator.

    Returns:
        (T, target_size, target_size, 3) uint8.
    """
    _check_clip(clip)
    image_h, image_w = clip.shape[1:3]
    base = min(image_w, image_h)
    sizes = [int(base * scale) for scale in scales]
    sizes = [target_size if abs(size - target_size) < 3 else size for size in sizes]
    pairs = [
        (width, height)
        for i, height in enumerate(sizes)
        for j, width in enumerate(sizes)
        if abs(i - j) <= max_distort
    ]
    crop_w, crop_h = pairs[int(rng.integers(len(pairs)))]
    offsets = _multi_scale_offsets(image_w, image_h, crop_w, crop_h, more_fix_crop)
    offset_w, offset_h = offsets[int(rng.integers(len(offsets)))]
    left, top = round(offset_w), round(offset_h)
    return resize(_crop(clip, top, left, crop_h, crop_w), target_size, target_size)


def random_crop(clip: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """PaddleVideo `RandomCrop`: a size x size crop at a uniform offset (both ends inclusive).

    Args:
        clip: (T, H, W, 3) uint8 with H, W >= size.
        size: Crop side.
        rng: Random generator.

    Returns:
        (T, size, size, 3) uint8 (a view of `clip`).
    """
    _check_clip(clip)
    _check_fits(clip, size, size, "random crop")
    height, width = clip.shape[1:3]
    left = int(rng.integers(0, width - size + 1))
    top = int(rng.integers(0, height - size + 1))
    return _crop(clip, top, left, size, size)


def center_crop(clip: np.ndarray, size: int) -> np.ndarray:
    """PaddleVideo `CenterCrop`: offset `round((side - size) / 2)` (Python rounding, half to even).

    TF's `resize_with_crop_or_pad` floors instead; the two differ by one pixel when the slack
    is odd.

    Args:
        clip: (T, H, W, 3) uint8 with H, W >= size.
        size: Crop side.

    Returns:
        (T, size, size, 3) uint8 (a view of `clip`).
    """
    _check_clip(clip)
    _check_fits(clip, size, size, "centre crop")
    height, width = clip.shape[1:3]
    left = int(round((width - size) / 2.0))
    top = int(round((height - size) / 2.0))
    return _crop(clip, top, left, size, size)


def three_crops(clip: np.ndarray, size: int) -> np.ndarray:
    """TF three-crop evaluation: crops at the start, centre and end of the longer side.

    Along the longer side the offsets are 0, `round(L / 2 - size // 2)` and `L - size`
    (TF `crop_image(num_crops=3)`); across it the crop is centred (TF uses offset 0 there, the
    same thing whenever the shorter side equals `size`, as in TF's eval configs).

    Args:
        clip: (T, H, W, 3) uint8 with H, W >= size.
        size: Crop side.

    Returns:
        (3, T, size, size, 3) uint8: left/centre/right (landscape) or top/centre/bottom (portrait).
    """
    _check_clip(clip)
    _check_fits(clip, size, size, "three crops")
    height, width = clip.shape[1:3]
    long_side = max(height, width)
    along = [0, int(np.round(long_side / 2 - size // 2)), long_side - size]
    across = int(round((min(height, width) - size) / 2.0))
    if height >= width:
        views = [_crop(clip, offset, across, size, size) for offset in along]
    else:
        views = [_crop(clip, across, offset, size, size) for offset in along]
    return np.stack(views)


def horizontal_flip(clip: np.ndarray) -> np.ndarray:
    """Mirrors every frame left-right. (T, H, W, 3) -> (T, H, W, 3) (a view)."""
    _check_clip(clip)
    return clip[:, :, ::-1]


def random_resized_crop(
    clip: np.ndarray,
    size: int,
    rng: np.random.Generator,
    area: tuple[float, float] = (0.08, 1.0),
    aspect: tuple[float, float] = (0.5, 2.0),
    max_attempts: int = 100,
) -> np.ndarray:
    """TF recipe random resized crop (`random_crop_resize` via `sample_distorted_bounding_box`).

    Draws a relative area uniformly in `area` and a width/height ratio uniformly in `aspect`, up to
    `max_attempts` times until the box fits; falls back to the whole frame (TF
    `use_image_if_no_bounding_boxes`). The box is then resized to size x size.

    Args:
        clip: (T, H, W, 3) uint8.
        size: Output side.
        rng: Random generator.
        area: Range of crop area as a fraction of the frame area.
        aspect: Range of crop width / height.
        max_attempts: Draws before falling back to the whole frame.

    Returns:
        (T, size, size, 3) uint8.
    """
    _check_clip(clip)
    height, width = clip.shape[1:3]
    top, left, crop_h, crop_w = 0, 0, height, width
    for _ in range(max_attempts):
        target_area = rng.uniform(area[0], area[1]) * height * width
        ratio = rng.uniform(aspect[0], aspect[1])
        box_w = int(round(np.sqrt(target_area * ratio)))
        box_h = int(round(np.sqrt(target_area / ratio)))
        if 0 < box_w <= width and 0 < box_h <= height:
            top = int(rng.integers(0, height - box_h + 1))
            left = int(rng.integers(0, width - box_w + 1))
            crop_h, crop_w = box_h, box_w
            break
    return resize(_crop(clip, top, left, crop_h, crop_w), size, size)


def normalize_array(clip: np.ndarray, mode: str = "imagenet") -> np.ndarray:
    """uint8 (T, H, W, 3) -> float32 array (3, T, H, W), in numpy (the inference path needs no torch).

    Args:
        clip: (T, H, W, 3) uint8 RGB.
        mode: "imagenet": x / 255, minus mean (0.485, 0.456, 0.406), over std (0.229, 0.224, 0.225)
            (PaddleVideo `Normalization`, same float32 order of operations); "unit": x / 255 in
            [0, 1] (the official TF models).

    Returns:
        (3, T, H, W) float32, C-contiguous.
    """
    _check_clip(clip)
    if mode not in NORMALIZATIONS:
        raise ValueError(f"normalize must be one of {NORMALIZATIONS}, got {mode!r}")
    # float32 arithmetic in place on the channels-last copy (one allocation), one layout change at
    # the end; each operation is correctly rounded, so the bits equal torch's of the same steps.
    video = clip.astype(np.float32)
    video /= np.float32(255.0)
    if mode == "imagenet":
        video -= np.asarray(IMAGENET_MEAN, dtype=np.float32)
        video /= np.asarray(IMAGENET_STD, dtype=np.float32)
    return np.ascontiguousarray(video.transpose(3, 0, 1, 2))


def normalize(clip: np.ndarray, mode: str = "imagenet") -> torch.Tensor:
    """`normalize_array` as a torch tensor (3, T, H, W) float32 (the datasets' form)."""
    import torch

    return torch.from_numpy(normalize_array(clip, mode))


def validate_transform_config(cfg: TransformConfig) -> None:
    """Checks the `data.transform` section (both the training transform and the evaluation
    record are built from it).

    Raises:
        ValueError: Unknown preset / normalisation, crop larger than short side, bad crop count;
            the message names the config key to fix.
    """
    if cfg.preset not in PRESETS:
        raise ValueError(f"transform.preset must be one of {PRESETS}, got {cfg.preset!r}")
    if cfg.normalize not in NORMALIZATIONS:
        raise ValueError(f"transform.normalize must be one of {NORMALIZATIONS}, got {cfg.normalize!r}")
    if cfg.test_num_crops not in (1, 3):
        raise ValueError(f"transform.test_num_crops must be 1 or 3, got {cfg.test_num_crops!r}")
    if cfg.crop_size < 1 or cfg.short_size < 1:
        raise ValueError(
            f"transform sizes must be positive, got short_size={cfg.short_size}, crop_size={cfg.crop_size}"
        )
    if cfg.crop_size > cfg.short_size:
        raise ValueError(
            f"transform.crop_size ({cfg.crop_size}) must not exceed transform.short_size "
            f"({cfg.short_size}): the crop is taken from frames whose shorter side is short_size"
        )


@dataclass(frozen=True)
class TrainTransform:
    """The random training augmentation of a preset, as a picklable callable (DataLoader workers).

    Call with `(clip, rng)`: clip (T, H, W, 3) uint8. Returns (3, T, crop, crop) float32.
    Evaluation clips are not made here: they come from the preprocessing record
    (`movinet.data.preprocessing.Preprocessing.transform`), the pipeline `predict` runs too.
    """

    cfg: TransformConfig

    def __call__(self, clip: np.ndarray, rng: np.random.Generator) -> torch.Tensor:
        if rng is None:
            raise ValueError("the training transform needs an rng (np.random.Generator)")
        return normalize(self._augment(clip, rng), self.cfg.normalize)

    def _augment(self, clip: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        cfg = self.cfg
        if cfg.preset == "paddle":
            clip = scale_fixed_ratio(clip, cfg.short_size)
            clip = multi_scale_crop(clip, cfg.short_size, rng)
            clip = random_crop(clip, cfg.crop_size, rng)
        else:
            clip = random_resized_crop(clip, cfg.crop_size, rng,
                                       area=(cfg.min_area_ratio, cfg.max_area_ratio),
                                       aspect=(cfg.min_aspect_ratio, cfg.max_aspect_ratio))
        if cfg.flip and rng.random() < 0.5:
            clip = horizontal_flip(clip)
        return clip


def build_train_transform(cfg: TransformConfig) -> TrainTransform:
    """The training transform of a preset (see `TransformConfig`).

    paddle: Scale(short, 4:3) -> MultiScaleCrop(short) -> RandomCrop(crop) -> flip(0.5).
    tf: random resized crop (area 0.08-1, aspect 0.5-2) to crop -> flip(0.5).

    Args:
        cfg: Transform settings (the whole section is checked, test settings included).

    Returns:
        A callable `(clip uint8 (T, H, W, 3), rng) -> Tensor (3, T, crop, crop) float32`.

    Raises:
        ValueError: see `validate_transform_config`.
    """
    validate_transform_config(cfg)
    return TrainTransform(cfg=cfg)
