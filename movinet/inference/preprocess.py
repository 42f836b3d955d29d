"""The input pipeline of a model, as written beside its weights and its ONNX graph.

One `Preprocessing` record drives whole-video prediction, streaming and export, so the three
paths feed a model identical tensors:

* PaddleVideo (`movinet_a0_paddle`, seed `predict.py`): `num_seg` segment centres
  (`Sampler(valid_mode=True)`), `Scale(192)` with the fixed 4:3 ratio, `CenterCrop(172)`,
  ImageNet mean/std.
* Official TF models: shorter side resized to `resize`, centre crop, RGB in [0, 1]. Frames:
  with `temporal_stride` set (a config's `sampling.temporal_stride`), TF's evaluation clip exactly
  (`clip_indices`: the centre T frames `stride` apart, looping over short videos); without it
  (the default of weight files and the registry), frames evenly covering the video: frame `i` of
  `T` is `floor(i * N / T)` of an `N`-frame video. For a 10-s Kinetics clip at 25 fps and T = 50
  both are frames 0, 5, 10, ..., 245; the even cover also sees all of a longer video and repeats
  frames of a shorter one.

Streaming feeds frames at `stream_fps`: the rate the model saw in training (official stream models:
25-fps clips at temporal stride 5, i.e. 5 fps).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from movinet.data.sampling import clip_indices, segment_indices
from movinet.data.transforms import preprocess_for_inference

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
UNIT_MEAN = (0.0, 0.0, 0.0)
UNIT_STD = (1.0, 1.0, 1.0)
# Official recipes: Kinetics clips at 25 fps sampled with temporal stride 5.
OFFICIAL_STREAM_FPS = 5.0
# A Kinetics clip lasts 10 s: a model trained on T-frame clips saw T / 10 frames per second.
KINETICS_CLIP_SECONDS = 10.0

_RESIZE_MODES = ("short_side", "fixed_ratio")
_SAMPLINGS = ("clips", "segments")
_NORMALIZATIONS = ("unit", "imagenet")


class PreprocessingError(ValueError):
    """A preprocessing description is incomplete or inconsistent."""


@dataclass(frozen=True)
class Preprocessing:
    """How raw uint8 frames become the model input (3, T, H, W).

    Attributes:
        frames: clip length T for whole-video prediction.
        height / width: model input size (the centre crop).
        resize: shorter side before the crop.
        resize_mode: "short_side" (aspect kept, TF) or "fixed_ratio" (short side -> resize, long
            side -> 4/3 of it, PaddleVideo `Scale`).
        sampling: "clips" (frames evenly covering the video) or "segments" (segment centres).
        normalize: "unit" ([0, 1]) or "imagenet" (mean/std), with the matching mean and std.
        stream_fps: frame rate fed to a stream model (None for base models).
        temporal_stride: "clips" sampling only: TF's strided centre clip instead of the even cover.
    """

    frames: int
    height: int
    width: int
    resize: int
    resize_mode: str = "short_side"
    sampling: str = "clips"
    normalize: str = "unit"
    mean: tuple[float, float, float] = UNIT_MEAN
    std: tuple[float, float, float] = UNIT_STD
    stream_fps: float | None = None
    temporal_stride: int | None = None

    def __post_init__(self) -> None:
        if self.resize_mode not in _RESIZE_MODES:
            raise PreprocessingError(f"resize_mode must be one of {_RESIZE_MODES}, got {self.resize_mode!r}")
        if self.sampling not in _SAMPLINGS:
            raise PreprocessingError(f"sampling must be one of {_SAMPLINGS}, got {self.sampling!r}")
        if self.normalize not in _NORMALIZATIONS:
            raise PreprocessingError(f"normalize must be one of {_NORMALIZATIONS}, got {self.normalize!r}")
        if min(self.frames, self.height, self.width, self.resize) < 1:
            raise PreprocessingError(f"frames, height, width and resize must be positive: {self}")
        if self.height != self.width:
            raise PreprocessingError(f"only square crops are supported, got {self.height}x{self.width}")
        if self.temporal_stride is not None and self.temporal_stride < 1:
            raise PreprocessingError(f"temporal_stride must be >= 1, got {self.temporal_stride}")
        if self.resize < self.height:
            raise PreprocessingError(f"resize ({self.resize}) must be at least the crop size ({self.height})")

    # -- (de)serialisation ----------------------------------------------------------------------

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Preprocessing:
        """Read the `preprocessing` dict of a weights or ONNX sidecar (see `ModelInfo.preprocessing`)."""
        missing = [key for key in ("frames", "height", "width", "resize") if key not in data]
        if missing:
            raise PreprocessingError(f"preprocessing lacks {missing}; got keys {sorted(data)}")
        normalize = data.get("normalize", "unit")
        # mean/std follow `normalize` (the two pipelines the transforms implement), never the dict.
        mean, std = (IMAGENET_MEAN, IMAGENET_STD) if normalize == "imagenet" else (UNIT_MEAN, UNIT_STD)
        fps, stride = data.get("stream_fps"), data.get("temporal_stride")
        return cls(
            frames=int(data["frames"]), height=int(data["height"]), width=int(data["width"]),
            resize=int(data["resize"]), resize_mode=data.get("resize_mode", "short_side"),
            sampling=data.get("sampling", "clips"), normalize=normalize,
            mean=mean, std=std,
            stream_fps=None if fps is None else float(fps),
            temporal_stride=None if stride is None else int(stride),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict; `from_dict(to_dict())` round-trips."""
        return {
            "frames": self.frames, "height": self.height, "width": self.width, "resize": self.resize,
            "resize_mode": self.resize_mode, "sampling": self.sampling, "normalize": self.normalize,
            "mean": list(self.mean), "std": list(self.std), "stream_fps": self.stream_fps,
            "temporal_stride": self.temporal_stride,
            "layout": "B,3,T,H,W", "color": "RGB", "scale": 1.0 / 255.0,
        }

    # -- the pipeline ---------------------------------------------------------------------------

    def sample_indices(self, num_frames: int) -> np.ndarray:
        """Frame indices of the whole-video clip. Returns (frames,) int64 in [0, num_frames)."""
        if num_frames < 1:
            raise ValueError(f"a video needs at least one frame, got {num_frames}")
        if self.sampling == "segments":
            return segment_indices(num_frames, self.frames, train=False)
        if self.temporal_stride is not None:
            return clip_indices(num_frames, self.frames, self.temporal_stride, train=False)[0]
        return (np.arange(self.frames, dtype=np.int64) * num_frames) // self.frames

    def transform(self, frames: np.ndarray) -> np.ndarray:
        """Resize, centre-crop and normalise.

        Args:
            frames: (T, H, W, 3) uint8 RGB.

        Returns:
            (3, T, height, width) float32.
        """
        preset = "paddle" if self.resize_mode == "fixed_ratio" else "tf"
        video = preprocess_for_inference(frames, preset=preset, short_size=self.resize, crop_size=self.height,
                                         normalize=self.normalize)
        return video.numpy()

    def with_size(self, *, frames: int | None = None, height: int | None = None,
                  width: int | None = None) -> Preprocessing:
        """A copy for another clip length or input size.

        A new crop size scales `resize` by the same factor (172 / 192 -> 96 / 107), so the crop
        keeps covering the same part of the frame.
        """
        changes: dict[str, Any] = {}
        if frames is not None:
            changes["frames"] = int(frames)
        if height is not None or width is not None:
            height = int(height) if height is not None else int(width)  # type: ignore[arg-type] - one is set
            width = int(width) if width is not None else height
            if height != self.height:
                changes["resize"] = max(height, int(round(height * self.resize / self.height)))
            changes.update(height=height, width=width)
        return replace(self, **changes) if changes else self


def preprocessing_dict(*, frames: int, crop_size: int, short_size: int, preset: str, sampling: str,
                       normalize: str, temporal_stride: int | None = None) -> dict[str, Any]:
    """A `preprocessing` dict from a config's data settings (`sampling.*`, `transform.*`).

    Args:
        frames: `sampling.num_frames`.
        crop_size / short_size: `transform.crop_size` / `transform.short_size`.
        preset: `transform.preset`, "paddle" (fixed 4:3 scale) or "tf" (shorter-side resize).
        sampling: `sampling.mode`, "segments" or "clips".
        normalize: `transform.normalize`, "imagenet" or "unit".
        temporal_stride: `sampling.temporal_stride` for "clips" (None or 1: the even cover).
    """
    if preset not in ("paddle", "tf"):
        raise PreprocessingError(f"preset must be 'paddle' or 'tf', got {preset!r}")
    strided = sampling == "clips" and temporal_stride is not None and temporal_stride > 1
    prep = Preprocessing(frames=frames, height=crop_size, width=crop_size, resize=short_size,
                         resize_mode="fixed_ratio" if preset == "paddle" else "short_side", sampling=sampling,
                         normalize=normalize, temporal_stride=temporal_stride if strided else None)
    data = prep.to_dict()
    data.pop("stream_fps")  # the model decides (resolve_preprocessing)
    return data


def default_stream_fps(family: str, frames: int) -> float:
    """The frame rate a stream model was trained at (official: 5 fps; else T frames per 10 s)."""
    return OFFICIAL_STREAM_FPS if family == "official" else frames / KINETICS_CLIP_SECONDS


def resolve_preprocessing(
    model_name: str,
    preprocessing: dict[str, Any] | Preprocessing | None = None,
    *,
    frames: int | None = None,
    height: int | None = None,
    width: int | None = None,
    causal: bool | None = None,
) -> Preprocessing:
    """The preprocessing of a model: given, else the registry's, with size overrides applied.

    Args:
        model_name: registry name; supplies the defaults and the stream rate.
        preprocessing: a sidecar/metadata dict or a `Preprocessing`; None for the registry's.
        frames / height / width: overrides (e.g. from a config or an export size).
        causal: whether the model streams (default: the registry's; a base model built with
            `causal=True` streams too).

    Returns:
        The resolved `Preprocessing` (stream models get `stream_fps`).
    """
    from movinet.models.registry import get_model_info

    info = get_model_info(model_name)
    if preprocessing is None:
        prep = Preprocessing.from_dict(info.preprocessing())
    elif isinstance(preprocessing, Preprocessing):
        prep = preprocessing
    else:
        prep = Preprocessing.from_dict({**info.preprocessing(), **preprocessing})
    prep = prep.with_size(frames=frames, height=height, width=width)
    if (info.causal if causal is None else causal) and prep.stream_fps is None:
        prep = replace(prep, stream_fps=default_stream_fps(info.family, prep.frames))
    return prep
