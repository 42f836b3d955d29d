"""Every packaged recipe: training, export and `test` describe one evaluation pipeline, and
`predict` feeds the model bit for bit the clip `test` evaluates, with the same code."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from movinet.data.datasets import build_dataset
from movinet.data.preprocessing import Preprocessing
from movinet.engine import evaluate as ev
from movinet.engine.config import eval_data_config, load_config
from movinet.engine.train import fit
from movinet.export.onnx import export_from_weights
from movinet.inference import load_clip, read_sidecar
from movinet.weights import read_weights

from engine_helpers import RandomVideoDataset

CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs"
CONFIGS = sorted(CONFIG_DIR.glob("*.yaml"))
HEAVY = ("a3", "a4", "a5")


def marked(paths: list[Path]) -> list:
    return [pytest.param(p, id=p.stem, marks=[pytest.mark.slow] if any(f"_{a}_" in p.name for a in HEAVY) else [])
            for p in paths]


def test_every_recipe_is_checked():
    assert len(CONFIGS) >= 14 and (CONFIG_DIR / "movinet_a3_base_k600.yaml") in CONFIGS


def _small_run_overrides(tmp_path: Path) -> list[str]:
    """Shrink the frames (spatially: the record changes the same way for all three) and the run."""
    return ["data.transform.crop_size=64", "data.transform.short_size=72", "data.labels_file=''",
            "data.batch_size=1", "data.num_workers=0", f"train.output_dir={tmp_path / 'run'}", "train.epochs=1",
            "train.max_steps=1", "train.global_batch_size=null", "train.amp=none", "train.sync_bn=false",
            "train.device=cpu", "train.progress=false", "train.save_interval=0", "train.precise_bn_batches=0",
            "train.checkpoint_every_iters=0", "model.num_classes=3",
            "model.weights=null"]  # finetune.yaml starts from a download


@pytest.mark.parametrize("path", marked(CONFIGS))
def test_training_export_and_test_record_the_same_evaluation(path, tmp_path):
    cfg = load_config(path, _small_run_overrides(tmp_path))
    expected_frames = cfg.test.num_frames or cfg.data.sampling.num_frames  # the recipe's evaluation clip
    result = fit(cfg, datasets={"train": RandomVideoDataset(1, frames=2, size=64)})

    trained = Preprocessing.from_dict(read_weights(result["final_weights"])[1]["preprocessing"])
    exported = export_from_weights(result["final_weights"], tmp_path / "onnx", model_name=cfg.model.name,
                                   preprocessing=Preprocessing.from_config(cfg), verify=False)
    exported_record = Preprocessing.from_dict(read_sidecar(exported.onnx_path)["preprocessing"])
    report = ev.test(cfg, result["final_weights"], dataset=RandomVideoDataset(1, frames=2, size=64, views=1))
    tested = Preprocessing.from_dict(report["preprocessing"])

    assert trained == exported_record == tested == Preprocessing.from_config(cfg)
    assert trained.frames == expected_frames
    if cfg.test.num_frames is not None and cfg.test.num_frames != cfg.data.sampling.num_frames:
        assert trained.frames != cfg.data.sampling.num_frames  # not the training clip (the A3-A5 bug)
    if cfg.data.sampling.mode == "clips":
        assert trained.temporal_stride == (cfg.test.temporal_stride or cfg.data.sampling.temporal_stride)


@pytest.mark.parametrize("path", [pytest.param(p, id=p.stem) for p in CONFIGS])
def test_predict_clip_is_bit_equal_to_the_evaluation_dataset(path, tmp_path):
    from movinet.data.video import write_video

    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (37, 90, 120, 3), dtype=np.uint8)  # odd sizes: resize and crop matter
    video = write_video(tmp_path / "clip.mp4", frames, 25.0)
    (tmp_path / "test.txt").write_text("clip.mp4 0\n")
    cfg = load_config(path, [f"data.root={tmp_path}", "data.format=videos", "data.test_list=test.txt",
                             "data.labels_file=''"])
    dataset = build_dataset(eval_data_config(cfg), "test", num_classes=cfg.model.num_classes or 600)
    evaluated = dataset[0]["video"]  # (views, 3, T, H, W)
    assert evaluated.shape[0] == 1, "the packaged recipes evaluate one view"
    predicted, _ = load_clip(video, Preprocessing.from_config(cfg))
    assert predicted.shape == tuple(evaluated.shape[1:])
    assert torch.equal(torch.from_numpy(predicted), evaluated[0])


@pytest.mark.parametrize("path", [pytest.param(p, id=p.stem) for p in CONFIGS])
def test_evaluation_dataset_runs_the_preprocessing_record(path, tmp_path, monkeypatch):
    """`test` and `predict` share code, not only results: the evaluation dataset's item is made by the
    config's record's `sample_indices` and `transform` (patched here, so a second pipeline shows)."""
    from movinet.data.video import write_video

    frames = np.random.default_rng(0).integers(0, 256, (37, 90, 120, 3), dtype=np.uint8)
    write_video(tmp_path / "clip.mp4", frames, 25.0)
    (tmp_path / "test.txt").write_text("clip.mp4 0\n")
    cfg = load_config(path, [f"data.root={tmp_path}", "data.format=videos", "data.test_list=test.txt",
                             "data.labels_file=''"])
    records, clips = [], []

    def first_frame_only(self: Preprocessing, num_frames: int) -> np.ndarray:
        records.append(self)
        return np.zeros(self.frames, dtype=np.int64)

    def marked(self: Preprocessing, clip: np.ndarray) -> np.ndarray:
        clips.append(clip)
        return np.full((3, len(clip), self.height, self.width), -7.0, np.float32)  # no real pixel is -7

    monkeypatch.setattr(Preprocessing, "sample_indices", first_frame_only)
    monkeypatch.setattr(Preprocessing, "transform", marked)
    dataset = build_dataset(eval_data_config(cfg), "test", num_classes=cfg.model.num_classes or 600)
    evaluated = dataset[0]["video"]

    record = dataclasses.replace(Preprocessing.from_config(cfg), stream_fps=None)  # the rate is the model's
    assert records == [record]
    assert len(clips) == 1 and clips[0].shape[0] == record.frames
    assert (clips[0] == clips[0][:1]).all(), "the dataset read other frames than the record's indices"
    assert evaluated.shape == (1, 3, record.frames, record.height, record.width)
    assert bool((evaluated == -7.0).all())
