"""The preprocessing record: its two constructors, sampling and transforms, storage, labels."""

from __future__ import annotations

import numpy as np
import pytest

from movinet.data.preprocessing import Preprocessing, PreprocessingError
from movinet.engine.config import config_from_dict
from movinet.labels import load_labels
from movinet.models.registry import get_model_info


def official(name: str = "movinet_a0_base") -> Preprocessing:
    return Preprocessing.from_model(get_model_info(name))


def test_official_registry_record_covers_the_video_evenly():
    prep = official()
    assert (prep.frames, prep.height, prep.resize, prep.normalize, prep.preset) == (50, 172, 192, "unit", "tf")
    assert prep.sampling == "even" and prep.stream_fps is None
    assert prep.sample_indices(250).tolist() == list(range(0, 250, 5))
    assert prep.sample_indices(30).tolist()[:4] == [0, 0, 1, 1]
    assert official("movinet_a0_stream").stream_fps == 5.0


def test_config_record_takes_the_evaluation_clip_not_the_training_one():
    """The A3-A5 recipes train on 64/32/32 frames and evaluate on 120/80/120."""
    cfg = config_from_dict({"model": {"name": "movinet_a3_base"},
                            "data": {"sampling": {"mode": "clips", "num_frames": 64, "temporal_stride": 2},
                                     "transform": {"preset": "tf", "short_size": 288, "crop_size": 256,
                                                   "normalize": "unit"}},
                            "test": {"num_frames": 120}})
    prep = Preprocessing.from_config(cfg)
    assert (prep.frames, prep.temporal_stride, prep.height, prep.resize) == (120, 2, 256, 288)
    restrided = config_from_dict({"model": {"name": "movinet_a3_base"},
                                  "data": {"sampling": {"mode": "clips", "num_frames": 64, "temporal_stride": 2}},
                                  "test": {"num_frames": 120, "temporal_stride": 3}})
    assert Preprocessing.from_config(restrided).temporal_stride == 3


def test_stride_one_clips_keep_the_centre_clip():
    """`temporal_stride: 1` is TF's consecutive centre clip, never the even cover."""
    cfg = config_from_dict({"model": {"name": "movinet_a0_base"},
                            "data": {"sampling": {"mode": "clips", "num_frames": 8, "temporal_stride": 1},
                                     "transform": {"preset": "tf", "normalize": "unit"}}})
    prep = Preprocessing.from_config(cfg)
    assert (prep.sampling, prep.temporal_stride) == ("clips", 1)
    assert prep.sample_indices(100).tolist() == list(range(46, 54))
    assert Preprocessing.from_dict(prep.to_dict()) == prep


def test_tf_strided_clips_loop_like_tf():
    prep = Preprocessing(frames=50, height=172, width=172, resize=192, sampling="clips", temporal_stride=5)
    assert prep.sample_indices(300).tolist()[:3] == [25, 30, 35]  # centre 250 of 300 frames
    assert prep.sample_indices(100).tolist()[20:22] == [0, 5]  # loops like TF


def test_paddle_pipeline_is_the_seeds():
    prep = official("movinet_a0_paddle")
    assert (prep.preset, prep.sampling, prep.normalize) == ("paddle", "segments", "imagenet")
    assert prep.mean == (0.485, 0.456, 0.406) and prep.std == (0.229, 0.224, 0.225)
    # Segment centres: avg = 300 // 50 = 6, index i * 6 + (6 - 1) // 2.
    assert prep.sample_indices(300).tolist()[:3] == [2, 8, 14]
    frames = np.full((2, 120, 320, 3), 255, dtype=np.uint8)
    out = prep.transform(frames)
    assert out.shape == (3, 2, 172, 172) and out.dtype == np.float32
    assert np.allclose(out[:, 0, 0, 0], (1 - np.array(prep.mean)) / np.array(prep.std), atol=1e-5)
    paddle_cfg = config_from_dict({"model": {"name": "movinet_a0_paddle"}})  # the defaults are the seed's
    assert Preprocessing.from_config(paddle_cfg) == prep


def test_stream_rate_size_changes_and_storage():
    prep = official("movinet_a0_stream").with_size(frames=8, height=64, width=64)
    assert prep.stream_fps == 5.0 and (prep.frames, prep.height, prep.resize) == (8, 64, 71)
    assert Preprocessing.from_dict(prep.to_dict()) == prep
    assert prep.for_causality(False, "official").stream_fps is None
    paddle_stream = official("movinet_a0_paddle").for_causality(True, "paddle")
    assert paddle_stream.stream_fps == 5.0  # 50 frames per 10-s Kinetics clip


def test_files_of_movinet_0_1_still_read():
    old = {"frames": 50, "height": 172, "width": 172, "resize": 192, "resize_mode": "fixed_ratio",
           "sampling": "segments", "normalize": "imagenet", "temporal_stride": None}
    assert Preprocessing.from_dict(old) == official("movinet_a0_paddle")
    old_tf = {"frames": 50, "height": 172, "width": 172, "resize": 192, "resize_mode": "short_side",
              "sampling": "clips", "normalize": "unit", "temporal_stride": None}
    assert Preprocessing.from_dict(old_tf) == official()


def test_bad_preprocessing_is_rejected():
    with pytest.raises(PreprocessingError, match="lacks"):
        Preprocessing.from_dict({"frames": 8})
    with pytest.raises(PreprocessingError, match="square"):
        Preprocessing(frames=8, height=64, width=96, resize=96)
    with pytest.raises(PreprocessingError, match="normalize"):
        Preprocessing(frames=8, height=64, width=64, resize=72, normalize="zscore")
    with pytest.raises(PreprocessingError, match="preset"):
        Preprocessing.from_dict({"frames": 8, "height": 64, "width": 64, "resize": 72, "preset": "caffe"})


def test_label_files():
    k600, k400 = load_labels("kinetics600"), load_labels("kinetics400")
    assert len(k600) == 600 and len(set(k600)) == 600
    assert len(k400) == 400 and len(set(k400)) == 400
    assert (k600[0], k600[9], k600[-1]) == ("abseiling", "archery", "zumba")
    assert k600[k600.index("passing American football (in game)") + 1] == "passing american football (not in game)"
    # PaddleVideo's Kinetics-400 list: class 5 is archery (its predict example), alphabetical order.
    assert (k400[0], k400[5], k400[-1]) == ("abseiling", "archery", "zumba")
    assert k400 == sorted(k400) and "skiing (not slalom or crosscountry)" in k400
