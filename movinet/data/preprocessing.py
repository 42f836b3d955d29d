"""`Preprocessing`: the one record of how a model sees video.

It says which frames of a video make the model's clip, how they are resized, cropped and
normalised, and the frame rate a stream model is fed at. Weights metadata, ONNX sidecars,
`predict`, `stream`, `test`, `export` and the demo all carry this record, so every path feeds a
model the same tensors. It has exactly two constructors:

* `Preprocessing.from_model(info)`: the registry's reference evaluation of a model;
* `Preprocessing.from_config(cfg)`: a training config's *evaluation* settings (`test.num_frames`
  and `test.temporal_stride` where set, else `data.sampling`; `data.transform`), built on
  `Preprocessing.from_data_config(data)`, the same record read from a `data:` section whose sampling
  is already the evaluation one (what the evaluation dataset gets), without the model's stream rate.

`from_dict` / `to_dict` only store and restore a record (weights metadata, sidecars).

The pipelines:
* preset "paddle" (PaddleVideo `predict.py`): `Scale(resize)` with the fixed 4:3 ratio, centre crop,
  ImageNet mean/std; sampling "segments": the centres of `frames` equal segments.
* preset "tf" (TF Model Garden): shorter side resized to `resize`, centre crop, RGB in [0, 1];
  sampling "clips": TF's evaluation clip (the centre `frames` frames `temporal_stride` apart,
  looping over short videos), or "even" (the registry default of official weights): frame `i` of
  `T` is `floor(i * N / T)` of an `N`-frame video, which for a 10-s Kinetics clip at 25 fps and
  T = 50 are frames 0, 5, ..., 245 like a stride-5 clip, and also sees all of a longer video.

The evaluation dataset (`movinet test`, validation during training) makes its clips with this
record's `sample_indices` and `transform`, the code `predict` runs (and `stream` and `serve` on live
frames), so `predict` on a video gives bit for bit the clip `movinet test` evaluates. Multi-view testing (several clips,
TF's three crops) is `EvaluationViews`: an evaluation-only extension of the record's one clip and one
view, made of the record's own steps. It is kept out of the record because no deployed path feeds a
model more than one view of a video: a record saying "3 crops" would describe something `predict`,
`stream`, `serve` and the sidecars' other runtimes do not do.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from movinet.data.config import DataConfig, evaluation_sampling
from movinet.limits import MAX_FRAMES, MAX_SIDE, MAX_STRIDE, LimitError, check_count, check_rate
from movinet.data.sampling import clip_indices, segment_indices
from movinet.data.transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    center_crop,
    normalize_array,
    resize_short_side,
    scale_fixed_ratio,
    three_crops,
    validate_transform_config,
)

if TYPE_CHECKING:  # for annotations only: the data layer never imports the engine or the models
    from movinet.engine.config import Config
    from movinet.models.registry import ModelInfo

UNIT_MEAN = (0.0, 0.0, 0.0)
UNIT_STD = (1.0, 1.0, 1.0)
# Official recipes: Kinetics clips at 25 fps sampled with temporal stride 5.
OFFICIAL_STREAM_FPS = 5.0
# A Kinetics clip lasts 10 s: a model trained on T-frame clips saw T / 10 frames per second.
KINETICS_CLIP_SECONDS = 10.0
# Frames are scaled down as they are decoded to at most this many times the model's resize (its
# shorter side): the resize that follows still shrinks, so it still antialiases, and the memory of
# a clip follows the model's input whatever the source's resolution (an 8K frame is 100 MB in RGB).
DECODE_OVERSAMPLE = 2

PRESETS = ("tf", "paddle")
SAMPLINGS = ("segments", "clips", "even")
NORMALIZATIONS = ("unit", "imagenet")
EVALUATION_CROPS = (1, 3)


class PreprocessingError(ValueError):
    """A preprocessing description is incomplete or inconsistent."""


def _stream_fps(official: bool, frames: int) -> float:
    """The frame rate a stream model was trained at (official: 5 fps; else T frames per 10 s)."""
    return OFFICIAL_STREAM_FPS if official else frames / KINETICS_CLIP_SECONDS


@dataclass(frozen=True)
class Preprocessing:
    """How raw uint8 frames become the model input (3, T, H, W).

    Attributes:
        frames: clip length T of whole-video prediction and evaluation.
        height / width: model input size (the centre crop; square).
        resize: shorter side before the crop.
        preset: "tf" (aspect-keeping shorter-side resize) or "paddle" (short side -> `resize`,
            long side -> 4/3 of it, PaddleVideo `Scale`).
        sampling: "segments", "clips" (with `temporal_stride`) or "even" (see the module doc).
        temporal_stride: frame step of "clips" sampling.
        normalize: "unit" ([0, 1]) or "imagenet" (mean/std, see `mean` / `std`).
        stream_fps: frame rate fed to a stream model (None for base models).
    """

    frames: int
    height: int
    width: int
    resize: int
    preset: str = "tf"
    sampling: str = "even"
    temporal_stride: int = 1
    normalize: str = "unit"
    stream_fps: float | None = None

    def __post_init__(self) -> None:
        for name, value, choices in (("preset", self.preset, PRESETS), ("sampling", self.sampling, SAMPLINGS),
                                     ("normalize", self.normalize, NORMALIZATIONS)):
            if value not in choices:
                raise PreprocessingError(f"{name} must be one of {choices}, got {value!r}")
        # Bounded before anything is allocated: these sizes come from files (weights, sidecars, configs).
        for name, maximum in (("frames", MAX_FRAMES), ("height", MAX_SIDE), ("width", MAX_SIDE),
                              ("resize", MAX_SIDE), ("temporal_stride", MAX_STRIDE)):
            try:
                check_count(getattr(self, name), f"preprocessing.{name}", maximum)
            except LimitError as error:
                raise PreprocessingError(str(error)) from None
        if self.height != self.width:
            raise PreprocessingError(f"only square crops are supported, got {self.height}x{self.width}")
        if self.resize < self.height:
            raise PreprocessingError(f"resize ({self.resize}) must be at least the crop size ({self.height})")
        if self.stream_fps is not None:
            try:
                check_rate(self.stream_fps, "preprocessing.stream_fps")
            except LimitError as error:
                raise PreprocessingError(str(error)) from None

    @property
    def decode_short_side(self) -> int:
        """The longest shorter side frames are decoded at (`movinet.data.video.open_video`'s
        `max_short_side`): `DECODE_OVERSAMPLE` times `resize`. `predict`, `test`, `stream` and
        `serve` all decode with it, so they see the same pixels."""
        return DECODE_OVERSAMPLE * self.resize

    @property
    def mean(self) -> tuple[float, float, float]:
        return IMAGENET_MEAN if self.normalize == "imagenet" else UNIT_MEAN

    @property
    def std(self) -> tuple[float, float, float]:
        return IMAGENET_STD if self.normalize == "imagenet" else UNIT_STD

    # -- the two constructors -------------------------------------------------------------------

    @classmethod
    def from_model(cls, info: ModelInfo, *, causal: bool | None = None) -> Preprocessing:
        """The reference evaluation of a registered model (`movinet.models.get_model_info`).

        Args:
            info: the registry entry.
            causal: whether the model streams (default: the entry's; a base model built with
                `causal=True` streams too); stream models get `stream_fps`.
        """
        frames, height, width = info.input_size
        paddle = info.family == "paddle"
        prep = cls(frames=frames, height=height, width=width, resize=info.resize,
                   preset="paddle" if paddle else "tf", sampling="segments" if paddle else "even",
                   normalize=info.normalize)
        return prep.for_causality(info.causal if causal is None else causal, info.family)

    @classmethod
    def from_config(cls, cfg: Config) -> Preprocessing:
        """The evaluation pipeline of a training config (`movinet.engine.config.Config`).

        Frames and stride are `test.num_frames` / `test.temporal_stride` where set (TF A3: train 64
        frames, evaluate 120), else `data.sampling`'s; resize, crop and normalisation are
        `data.transform`'s. The stream rate follows the model's family as in `from_model`.

        Raises:
            ValueError: bad `data.transform` settings (the message names the key).
        """
        from movinet.models.registry import get_model_info  # the registry is plain data: no torch

        sampling = evaluation_sampling(cfg.data.sampling, cfg.test.num_frames, cfg.test.temporal_stride)
        prep = cls.from_data_config(replace(cfg.data, sampling=sampling))
        info = get_model_info(cfg.model.name)
        return prep.for_causality(info.causal if cfg.model.causal is None else cfg.model.causal, info.family)

    @classmethod
    def from_data_config(cls, data: DataConfig) -> Preprocessing:
        """`from_config`'s record from a `data:` section alone, without a stream rate (that is the
        model's): the evaluation dataset's pipeline.

        `data.sampling` is taken as the evaluation sampling: pass
        `movinet.engine.config.eval_data_config(cfg)`, not `cfg.data`, when `test:` sets the
        evaluation clip.

        Raises:
            ValueError: bad `data.transform` settings (the message names the key).
        """
        validate_transform_config(data.transform)
        sampling, transform = data.sampling, data.transform
        return cls(frames=sampling.num_frames, height=transform.crop_size, width=transform.crop_size,
                   resize=transform.short_size, preset=transform.preset, sampling=sampling.mode,
                   temporal_stride=sampling.temporal_stride, normalize=transform.normalize)

    # -- storage --------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict for weights metadata and sidecars; `from_dict(to_dict())` round-trips.

        `mean`, `std`, `scale`, `layout` and `color` are written for runtimes that only read JSON.
        """
        return {
            "frames": self.frames, "height": self.height, "width": self.width, "resize": self.resize,
            "preset": self.preset, "sampling": self.sampling, "temporal_stride": self.temporal_stride,
            "normalize": self.normalize, "stream_fps": self.stream_fps,
            "mean": list(self.mean), "std": list(self.std), "scale": 1.0 / 255.0, "layout": "B,3,T,H,W",
            "color": "RGB",
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str | None = None) -> Preprocessing:
        """Restore a record written by `to_dict` (also the files of movinet 0.1, which said
        `resize_mode` and "clips" without a stride for what is now `preset` and "even").

        Args:
            data: the stored record.
            where: the file it was read from, named in errors.

        Raises:
            PreprocessingError: a missing field, or a value of the wrong type or out of range
                (`movinet.limits`); the message names `where` and the field.
        """
        prefix = f"{where}: " if where else ""
        if not isinstance(data, dict):
            raise PreprocessingError(f"{prefix}preprocessing must be a mapping, got {type(data).__name__}")
        missing = [key for key in ("frames", "height", "width", "resize") if key not in data]
        if missing:
            raise PreprocessingError(f"{prefix}preprocessing lacks {missing}; got keys {sorted(map(str, data))[:12]}")
        preset = data.get("preset") or {"fixed_ratio": "paddle", "short_side": "tf"}.get(data.get("resize_mode"), "tf")
        sampling, stride = data.get("sampling", "even"), data.get("temporal_stride")
        if sampling == "clips" and stride is None:
            sampling = "even"
        fps = data.get("stream_fps")
        try:
            sizes = {name: check_count(data[name], f"preprocessing.{name}", maximum)
                     for name, maximum in (("frames", MAX_FRAMES), ("height", MAX_SIDE), ("width", MAX_SIDE),
                                           ("resize", MAX_SIDE))}
            return cls(**sizes, preset=preset, sampling=sampling,
                       temporal_stride=check_count(stride or 1, "preprocessing.temporal_stride", MAX_STRIDE),
                       normalize=data.get("normalize", "unit"),
                       stream_fps=None if fps is None else check_rate(fps, "preprocessing.stream_fps"))
        except (TypeError, ValueError) as error:
            raise PreprocessingError(f"{prefix}{error}") from None

    # -- the pipeline ---------------------------------------------------------------------------

    def sample_indices(self, num_frames: int) -> np.ndarray:
        """Frame indices of the clip of a `num_frames`-frame video. Returns (frames,) int64."""
        if num_frames < 1:
            raise ValueError(f"a video needs at least one frame, got {num_frames}")
        if self.sampling == "segments":
            return segment_indices(num_frames, self.frames, train=False)
        if self.sampling == "clips":
            return clip_indices(num_frames, self.frames, self.temporal_stride, train=False)[0]
        return (np.arange(self.frames, dtype=np.int64) * num_frames) // self.frames

    def transform(self, frames: np.ndarray) -> np.ndarray:
        """Resize, centre-crop and normalise: the model input of `predict` and of the evaluation
        dataset.

        Args:
            frames: (T, H, W, 3) uint8 RGB.

        Returns:
            (3, T, height, width) float32.
        """
        return normalize_array(center_crop(self.resize_frames(frames), self.height), self.normalize)

    def resize_frames(self, frames: np.ndarray) -> np.ndarray:
        """The preset's resize, the first step of `transform`. (T, H, W, 3) uint8 -> (T, H', W', 3)
        uint8 with the shorter side `resize`."""
        if self.preset == "paddle":
            return scale_fixed_ratio(frames, self.resize)
        return resize_short_side(frames, self.resize)

    def for_causality(self, causal: bool, family: str) -> Preprocessing:
        """A copy for a model that streams (`causal`) or not: a stream model needs `stream_fps`
        (kept when set, else the rate its `family` trains at), a base model has none."""
        if not causal:
            return self if self.stream_fps is None else replace(self, stream_fps=None)
        if self.stream_fps is not None:
            return self
        return replace(self, stream_fps=_stream_fps(family == "official", self.frames))

    def with_size(self, *, frames: int | None = None, height: int | None = None,
                  width: int | None = None) -> Preprocessing:
        """A copy for another clip length or input size (e.g. an export at 96 px).

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


@dataclass(frozen=True)
class EvaluationViews:
    """The views of a video that evaluation averages: `clips` clips, each in `crops` crops.

    An evaluation-only extension of a `Preprocessing` (see the module doc): with one clip and one
    crop a video's only view is `preprocessing.sample_indices` then `preprocessing.transform`,
    exactly `predict`'s clip. More clips are TF's evenly spaced evaluation clips
    (`sampling.test_num_clips`, "clips" sampling only); three crops (`transform.test_num_crops`)
    are TF's start / centre / end crops along the longer side of the record's resized frames.

    Attributes:
        preprocessing: the record of each view.
        clips: clips per video.
        crops: 1 (the record's centre crop) or 3 crops per clip.
    """

    preprocessing: Preprocessing
    clips: int = 1
    crops: int = 1

    def __post_init__(self) -> None:
        if not isinstance(self.clips, int) or self.clips < 1:
            raise PreprocessingError(f"sampling.test_num_clips must be a positive integer, got {self.clips!r}")
        if self.crops not in EVALUATION_CROPS:
            raise PreprocessingError(f"transform.test_num_crops must be one of {EVALUATION_CROPS}, got {self.crops!r}")
        if self.clips > 1 and self.preprocessing.sampling != "clips":
            raise PreprocessingError(
                f"sampling.test_num_clips={self.clips} needs sampling.mode 'clips'; "
                f"{self.preprocessing.sampling!r} sampling takes one clip of the whole video: set test_num_clips to 1"
            )

    @property
    def num_views(self) -> int:
        """Views per video, `clips * crops`."""
        return self.clips * self.crops

    def sample_indices(self, num_frames: int) -> np.ndarray:
        """Frame indices of each clip of a `num_frames`-frame video. Returns (clips, frames) int64."""
        prep = self.preprocessing
        if self.clips == 1:
            return prep.sample_indices(num_frames)[None, :]
        return clip_indices(num_frames, prep.frames, prep.temporal_stride, train=False, num_clips=self.clips)

    def transform(self, clips: np.ndarray) -> np.ndarray:
        """The views of the clips, clip-major.

        Args:
            clips: (clips, T, H, W, 3) uint8 RGB, the frames of `sample_indices`.

        Returns:
            (clips * crops, 3, T, height, width) float32.
        """
        return np.concatenate([self._clip_views(clip) for clip in clips])

    def _clip_views(self, clip: np.ndarray) -> np.ndarray:
        """(T, H, W, 3) uint8 -> (crops, 3, T, height, width) float32."""
        prep = self.preprocessing
        if self.crops == 1:
            return prep.transform(clip)[None]
        crops = three_crops(prep.resize_frames(clip), prep.height)
        return np.stack([normalize_array(crop, prep.normalize) for crop in crops])
