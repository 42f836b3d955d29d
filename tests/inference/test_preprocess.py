"""Preprocessing records: sampling and transforms per model family, sidecar round trip, labels."""

from __future__ import annotations

import numpy as np
import pytest

from movinet.inference.preprocess import (
    Preprocessing,
    PreprocessingError,
    preprocessing_dict,
    resolve_preprocessing,
)
from movinet.labels import load_labels


def test_official_sampling_is_tf_stride_five_on_kinetics_clips():
    prep = resolve_preprocessing("movinet_a0_base")
    assert (prep.frames, prep.height, prep.resize, prep.normalize) == (50, 172, 192, "unit")
    assert prep.sample_indices(250).tolist() == list(range(0, 250, 5))
    assert prep.sample_indices(30).tolist()[:4] == [0, 0, 1, 1]


def test_config_values_with_a_stride_give_tf_clips():
    data = preprocessing_dict(frames=50, crop_size=172, short_size=192, preset="tf", sampling="clips",
                              normalize="unit", temporal_stride=5)
    prep = resolve_preprocessing("movinet_a0_stream", data)
    assert prep.temporal_stride == 5 and prep.stream_fps == 5.0
    assert prep.sample_indices(300).tolist()[:3] == [25, 30, 35]  # centre 250 of 300 frames
    assert prep.sample_indices(100).tolist()[20:22] == [0, 5]  # loops like TF
    paddle = preprocessing_dict(frames=50, crop_size=172, short_size=192, preset="paddle", sampling="segments",
                                normalize="imagenet", temporal_stride=1)
    assert resolve_preprocessing("movinet_a0_paddle", paddle) == resolve_preprocessing("movinet_a0_paddle")


def test_paddle_pipeline_is_the_seeds():
    prep = resolve_preprocessing("movinet_a0_paddle")
    assert (prep.resize_mode, prep.sampling, prep.normalize) == ("fixed_ratio", "segments", "imagenet")
    # Segment centres: avg = 300 // 50 = 6, index i * 6 + (6 - 1) // 2.
    assert prep.sample_indices(300).tolist()[:3] == [2, 8, 14]
    frames = np.full((2, 120, 320, 3), 255, dtype=np.uint8)
    out = prep.transform(frames)
    assert out.shape == (3, 2, 172, 172) and out.dtype == np.float32
    assert np.allclose(out[:, 0, 0, 0], (1 - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225]),
                       atol=1e-5)


def test_stream_rate_and_size_overrides():
    prep = resolve_preprocessing("movinet_a0_stream", frames=8, height=64, width=64)
    assert prep.stream_fps == 5.0 and (prep.frames, prep.height, prep.resize) == (8, 64, 71)
    assert Preprocessing.from_dict(prep.to_dict()) == prep
    assert resolve_preprocessing("movinet_a0_base").stream_fps is None


def test_bad_preprocessing_is_rejected():
    with pytest.raises(PreprocessingError, match="lacks"):
        Preprocessing.from_dict({"frames": 8})
    with pytest.raises(PreprocessingError, match="square"):
        Preprocessing(frames=8, height=64, width=96, resize=96)
    with pytest.raises(PreprocessingError, match="normalize"):
        resolve_preprocessing("movinet_a0_base", {"normalize": "zscore"})


def test_label_files():
    k600, k400 = load_labels("kinetics600"), load_labels("kinetics400")
    assert len(k600) == 600 and len(set(k600)) == 600
    assert len(k400) == 400 and len(set(k400)) == 400
    assert (k600[0], k600[9], k600[-1]) == ("abseiling", "archery", "zumba")
    assert k600[k600.index("passing American football (in game)") + 1] == "passing american football (not in game)"
    # PaddleVideo's Kinetics-400 list: class 5 is archery (its predict example), alphabetical order.
    assert (k400[0], k400[5], k400[-1]) == ("abseiling", "archery", "zumba")
    assert k400 == sorted(k400) and "skiing (not slalom or crosscountry)" in k400
