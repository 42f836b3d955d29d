"""Frames are scaled down as they are decoded, so memory follows the model's input, not the source's
resolution, on every path that decodes (predict, test, train, stream, serve); predict and test still
see bit for bit the same clip. (The memory figures are in benchmarks/bench_memory.py.)"""

from __future__ import annotations

import io

import numpy as np
import pytest

import movinet
import movinet.data.video as video_module
from movinet.data.config import DataConfig, SamplingConfig, TransformConfig
from movinet.data.datasets import build_dataset
from movinet.data.preprocessing import Preprocessing
from movinet.data.video import iter_frames, open_video, read_frame_folder, write_video
from movinet.inference.backends.pytorch import TorchPredictor
from movinet.inference.predict import load_clip
from movinet.inference.stream import run_stream
from movinet.serve.model import ServedModel

HEIGHT, WIDTH = 240, 360  # a "large" source: 6.7x the resize below


def data_config(root, preset: str = "tf") -> DataConfig:
    return DataConfig(format="videos", root=str(root), train_list="list.txt", val_list="list.txt",
                      test_list="list.txt", labels_file="", sampling=SamplingConfig(mode="clips", num_frames=4),
                      transform=TransformConfig(preset=preset, short_size=36, crop_size=32, normalize="unit"))


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    root = tmp_path_factory.mktemp("large")
    rng = np.random.default_rng(0)
    clip = rng.integers(0, 256, (12, HEIGHT // 8, WIDTH // 8, 3), dtype=np.uint8).repeat(8, 1).repeat(8, 2)
    write_video(root / "big.mp4", clip, 10.0)
    (root / "list.txt").write_text("big.mp4 0\n")
    return root


@pytest.fixture
def decoded_sizes(monkeypatch):
    """The (height, width) of every RGB frame the decoder hands out."""
    sizes = []
    convert = video_module._to_rgb

    def spy(frame, *args, **kwargs):
        rgb = convert(frame, *args, **kwargs)
        sizes.append(rgb.shape[:2])
        return rgb

    monkeypatch.setattr(video_module, "_to_rgb", spy)
    return sizes


def test_the_reader_scales_frames_as_it_decodes(source, tmp_path):
    with open_video(source / "big.mp4", max_short_side=64) as reader:
        assert reader.read_frames([0, 5, 11]).shape == (3, 64, 96, 3)
        assert next(iter(reader)).shape == (64, 96, 3)
    assert next(iter_frames(source / "big.mp4", max_short_side=64))[1].shape == (64, 96, 3)
    with open_video(source / "big.mp4") as reader:
        frame = reader.read_frames([0])[0]
    (tmp_path / "frames").mkdir()
    from PIL import Image

    Image.fromarray(frame).save(tmp_path / "frames" / "img_00001.jpg")
    assert read_frame_folder(tmp_path / "frames", [0], max_short_side=64).shape == (1, 64, 96, 3)
    assert read_frame_folder(tmp_path / "frames", [0]).shape == (1, HEIGHT, WIDTH, 3)


@pytest.mark.parametrize("split", ["train", "test"])
def test_datasets_decode_at_most_twice_the_model_input(source, split, decoded_sizes):
    dataset = build_dataset(data_config(source), split, num_classes=1)
    dataset[0]
    assert decoded_sizes and max(min(size) for size in decoded_sizes) <= 2 * 36  # DECODE_OVERSAMPLE x short_size


def test_predict_and_serve_decode_at_most_twice_the_model_input(source, decoded_sizes):
    prep = Preprocessing.from_data_config(data_config(source))
    load_clip(source / "big.mp4", prep)
    model = movinet.create_model("movinet_t0_stream", num_classes=2)
    served = ServedModel(TorchPredictor.from_model(model, "movinet_t0_stream", preprocessing=prep.for_causality(
        True, "official")))
    clip, _ = served.load_upload(source / "big.mp4")  # what serve's POST /predict decodes
    assert clip.shape[-2:] == (prep.height, prep.width)
    assert decoded_sizes and max(min(size) for size in decoded_sizes) == 72  # DECODE_OVERSAMPLE x resize


def test_stream_decodes_at_most_twice_the_model_input(source, decoded_sizes):
    prep = Preprocessing.from_data_config(data_config(source)).for_causality(True, "official")
    predictor = TorchPredictor.from_model(movinet.create_model("movinet_t0_stream", num_classes=2),
                                          "movinet_t0_stream", preprocessing=prep)
    summary = run_stream(source / "big.mp4", predictor=predictor, target_fps=5.0, print_every=0, out=io.StringIO())
    assert summary.frames > 0
    assert decoded_sizes and max(min(size) for size in decoded_sizes) <= 72


@pytest.mark.parametrize("preset", ["tf", "paddle"])
def test_predict_and_test_stay_bit_equal_on_scaled_sources(source, preset):
    cfg = data_config(source, preset)
    prep = Preprocessing.from_data_config(cfg)
    clip, _ = load_clip(source / "big.mp4", prep)
    item = build_dataset(cfg, "test", num_classes=1)[0]["video"]
    assert item.shape == (1, *clip.shape)
    assert np.array_equal(item[0].numpy(), clip)


def test_very_large_frames_decode_on_fewer_threads():
    """Frame threads hold about two source-size frames each: 8K gets as many as fit in 256 MiB."""
    from movinet.data.video import decoder_threads

    assert decoder_threads(0, 640, 272) == 0  # FFmpeg's own count, one per core
    assert decoder_threads(0, 7680, 4320) == 2
    assert decoder_threads(0, 15360, 8640) == 1
    assert decoder_threads(3, 7680, 4320) == 3  # an explicit count is kept
