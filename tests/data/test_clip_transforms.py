"""Clip transforms: Paddle geometry, one crop for all frames, layout and normalisation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from movinet.data.config import DataConfig, SamplingConfig, TransformConfig
from movinet.data.preprocessing import EvaluationViews, Preprocessing
from movinet.data.transforms import (
    _multi_scale_offsets,
    build_train_transform,
    center_crop,
    horizontal_flip,
    multi_scale_crop,
    normalize,
    random_crop,
    random_resized_crop,
    resize_short_side,
    scale_fixed_ratio,
    three_crops,
)


def _coordinate_clip(frames: int, height: int, width: int) -> np.ndarray:
    """Channel 0 = x, channel 1 = y (mod 256), channel 2 = frame number * 10."""
    y, x = np.mgrid[0:height, 0:width]
    clip = np.zeros((frames, height, width, 3), np.uint8)
    clip[..., 0] = x % 256
    clip[..., 1] = y % 256
    clip[..., 2] = (np.arange(frames) * 10)[:, None, None]
    return clip


def _offset_clip(frames: int, height: int, width: int, seed: int = 0) -> np.ndarray:
    """Frame t = a fixed random image + 3*t: any per-frame difference in geometry shows up."""
    base = np.random.default_rng(seed).integers(0, 200, size=(height, width, 3))
    return (base[None] + 3 * np.arange(frames)[:, None, None, None]).astype(np.uint8)


def _assert_same_geometry(out: np.ndarray, tolerance: int) -> None:
    differences = out.astype(np.int32) - out[:1].astype(np.int32)
    expected = 3 * np.arange(len(out))[:, None, None, None]
    assert np.abs(differences - expected).max() <= tolerance


@pytest.mark.parametrize(
    ("shape", "expected"),
    [((240, 320), (192, 256)), ((320, 240), (256, 192)), ((100, 100), (256, 192)), ((192, 500), (192, 500))],
)
def test_scale_fixed_ratio_is_paddle_scale(shape: tuple[int, int], expected: tuple[int, int]) -> None:
    out = scale_fixed_ratio(np.zeros((2, *shape, 3), np.uint8), 192)
    assert out.shape == (2, *expected, 3)


def test_resize_short_side_keeps_aspect() -> None:
    assert resize_short_side(np.zeros((1, 240, 321, 3), np.uint8), 120).shape == (1, 120, 160, 3)
    assert resize_short_side(np.zeros((1, 400, 200, 3), np.uint8), 100).shape == (1, 200, 100, 3)


@pytest.mark.parametrize(("width", "left"), [(257, 42), (259, 44), (192, 10)])
def test_center_crop_offset_is_python_round(width: int, left: int) -> None:
    out = center_crop(_coordinate_clip(1, 172, width), 172)
    assert out.shape == (1, 172, 172, 3)
    assert int(out[0, 0, 0, 0]) == left  # round(85 / 2) = 42, round(87 / 2) = 44 (half to even)


def test_three_crops_landscape_left_centre_right() -> None:
    views = three_crops(_coordinate_clip(2, 20, 50), 20)
    assert views.shape == (3, 2, 20, 20, 3)
    assert [int(view[0, 0, 0, 0]) for view in views] == [0, 15, 30]


def test_three_crops_portrait_top_centre_bottom() -> None:
    views = three_crops(_coordinate_clip(1, 50, 24), 20)
    assert [int(view[0, 0, 0, 1]) for view in views] == [0, 15, 30]
    assert [int(view[0, 0, 0, 0]) for view in views] == [2, 2, 2]


def test_multi_scale_offsets_hand_computed() -> None:
    # 256x192 image, 192x192 crop: w_step 16, h_step 0 -> corners collapse, 5 fixed + 8 extra points.
    offsets = _multi_scale_offsets(256, 192, 192, 192, more_fix_crop=True)
    assert offsets == [
        (0.0, 0.0), (64.0, 0.0), (32.0, 0.0),
        (0.0, 0.0), (64.0, 0.0), (32.0, 0.0), (32.0, 0.0),
        (16.0, 0.0), (48.0, 0.0), (16.0, 0.0), (48.0, 0.0),
    ]  # fmt: skip
    assert len(_multi_scale_offsets(256, 192, 144, 126, more_fix_crop=True)) == 13


def test_multi_scale_crop_size() -> None:
    out = multi_scale_crop(np.zeros((3, 192, 256, 3), np.uint8), 192, np.random.default_rng(0))
    assert out.shape == (3, 192, 192, 3)


@pytest.mark.parametrize("seed", range(4))
def test_random_geometry_is_shared_by_all_frames(seed: int) -> None:
    clip = _offset_clip(5, 60, 80, seed)
    rng = np.random.default_rng(seed)
    _assert_same_geometry(random_crop(clip, 40, rng), tolerance=0)
    _assert_same_geometry(horizontal_flip(random_crop(clip, 40, rng)), tolerance=0)
    # Bilinear resampling of (image + constant) is (resampled image + constant) up to rounding.
    _assert_same_geometry(multi_scale_crop(clip, 48, rng), tolerance=1)
    _assert_same_geometry(random_resized_crop(clip, 32, rng), tolerance=1)


def test_random_crop_is_inclusive_of_both_ends() -> None:
    clip = _coordinate_clip(1, 10, 12)
    rng = np.random.default_rng(0)
    lefts = {int(random_crop(clip, 10, rng)[0, 0, 0, 0]) for _ in range(200)}
    assert lefts == {0, 1, 2}


def test_random_resized_crop_respects_area_range() -> None:
    clip = _coordinate_clip(1, 100, 100)
    rng = np.random.default_rng(0)
    for _ in range(20):
        # The crop's x extent shows in the resized x channel: min and max source column.
        out = random_resized_crop(clip, 50, rng, area=(0.25, 0.25), aspect=(1.0, 1.0))
        span = int(out[0, 0, -1, 0]) - int(out[0, 0, 0, 0])
        assert 44 <= span <= 50  # a 50x50 box, its edge columns 49 apart minus resampling


def test_flip_mirrors_columns() -> None:
    clip = _coordinate_clip(2, 4, 6)
    assert horizontal_flip(clip)[1, 2, :, 0].tolist() == [5, 4, 3, 2, 1, 0]


def test_normalize_imagenet_and_unit() -> None:
    clip = np.zeros((2, 3, 4, 3), np.uint8)
    clip[..., 0] = 255
    out = normalize(clip, "imagenet")
    assert out.shape == (3, 2, 3, 4) and out.dtype == torch.float32
    assert out[0].flatten()[0].item() == pytest.approx((1 - 0.485) / 0.229, rel=1e-6)
    assert out[1].flatten()[0].item() == pytest.approx(-0.456 / 0.224, rel=1e-6)
    unit = normalize(clip, "unit")
    assert unit.min().item() == 0.0 and unit.max().item() == 1.0
    with pytest.raises(ValueError, match="imagenet"):
        normalize(clip, "caffe")


def _evaluation_views(cfg: TransformConfig, frames: int) -> EvaluationViews:
    prep = Preprocessing.from_data_config(DataConfig(sampling=SamplingConfig(num_frames=frames), transform=cfg))
    return EvaluationViews(prep, crops=cfg.test_num_crops)


@pytest.mark.parametrize("preset", ["paddle", "tf"])
def test_train_transform_and_evaluation_view_shapes(preset: str) -> None:
    clip = _offset_clip(6, 72, 96)
    cfg = TransformConfig(preset=preset, short_size=48, crop_size=40)
    train = build_train_transform(cfg)(clip, np.random.default_rng(0))
    assert train.shape == (3, 6, 40, 40) and train.dtype == torch.float32
    test = _evaluation_views(cfg, 6).transform(clip[None])
    assert test.shape == (1, 3, 6, 40, 40) and test.dtype == np.float32
    three = _evaluation_views(TransformConfig(preset=preset, short_size=48, crop_size=40, test_num_crops=3), 6)
    assert three.transform(clip[None]).shape == (3, 3, 6, 40, 40)


@pytest.mark.parametrize(("preset", "resize"), [("paddle", scale_fixed_ratio), ("tf", resize_short_side)])
def test_three_crop_views_are_tf_crops_of_the_records_resized_frames(preset, resize) -> None:
    clip = _offset_clip(3, 72, 120)
    cfg = TransformConfig(preset=preset, short_size=48, crop_size=40, normalize="unit", test_num_crops=3)
    views = _evaluation_views(cfg, 3).transform(np.stack([clip, clip[::-1]]))
    expected = [normalize(view, "unit").numpy() for frames in (clip, clip[::-1])
                for view in three_crops(resize(frames, 48), 40)]
    assert np.array_equal(views, np.stack(expected))  # clip-major, bit for bit


def test_train_transform_is_deterministic_per_rng() -> None:
    clip = _offset_clip(4, 60, 80)
    transform = build_train_transform(TransformConfig(short_size=48, crop_size=40))
    first = transform(clip, np.random.default_rng(5))
    assert torch.equal(first, transform(clip, np.random.default_rng(5)))
    others = [transform(clip, np.random.default_rng(seed)) for seed in range(6, 12)]
    assert not all(torch.equal(first, other) for other in others)


def test_paddle_test_transform_matches_manual_pipeline() -> None:
    clip = _offset_clip(3, 240, 320)
    expected = normalize(center_crop(scale_fixed_ratio(clip, 192), 172), "imagenet")
    prep = Preprocessing(frames=3, height=172, width=172, resize=192, preset="paddle", sampling="segments",
                         normalize="imagenet")
    assert np.array_equal(prep.transform(clip), expected.numpy())
    assert Preprocessing.from_data_config(DataConfig(sampling=SamplingConfig(num_frames=3))) == prep  # the defaults


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"crop_size": 200}, "crop_size"),
        ({"preset": "mmaction"}, "preset"),
        ({"normalize": "caffe"}, "normalize"),
        ({"test_num_crops": 5}, "test_num_crops"),
    ],
)
def test_invalid_transform_config(changes: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_train_transform(TransformConfig(**changes))
    with pytest.raises(ValueError, match=message):
        Preprocessing.from_data_config(DataConfig(transform=TransformConfig(**changes)))


def test_invalid_evaluation_views() -> None:
    prep = Preprocessing(frames=4, height=40, width=40, resize=48, preset="paddle", sampling="segments")
    with pytest.raises(ValueError, match="test_num_crops"):
        EvaluationViews(prep, crops=5)
    with pytest.raises(ValueError, match="test_num_clips=2 needs sampling.mode 'clips'"):
        EvaluationViews(prep, clips=2)
    with pytest.raises(ValueError, match="test_num_clips"):
        EvaluationViews(prep, clips=0)
