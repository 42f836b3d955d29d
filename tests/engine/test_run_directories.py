"""Run directories: a fresh run never overwrites another, a resume continues in its own directory and
cleans what an interrupted write left; mismatched class counts are refused in words."""

from __future__ import annotations

import dataclasses
import json

import pytest

import movinet
from engine_helpers import RandomVideoDataset, tiny_config
from movinet.engine.evaluate import test as run_test
from movinet.engine.train import fit
from movinet.weights import save_weights


def data(num_classes: int = 3) -> dict:
    return {"train": RandomVideoDataset(4, num_classes), "val": RandomVideoDataset(2, num_classes, views=1)}


def test_a_fresh_run_refuses_a_directory_holding_another_run(tmp_path):
    run = tmp_path / "run"
    fit(tiny_config(run, train={"save_interval": 1}), datasets=data())
    first = (run / "final.safetensors").read_bytes()
    with pytest.raises(ValueError, match=r"already holds a run.*--resume .*last\.pt.*--overwrite"):
        fit(tiny_config(run, train={"seed": 1}), datasets=data())
    assert (run / "final.safetensors").read_bytes() == first and (run / "epoch_00001.pt").is_file()
    (run / "notes.txt").write_text("mine")
    fit(tiny_config(run, train={"seed": 1}), datasets=data(), overwrite=True)
    assert (run / "final.safetensors").read_bytes() != first
    assert not (run / "epoch_00001.pt").exists()  # the replaced run's files are gone ...
    assert (run / "notes.txt").read_text() == "mine"  # ... and nobody else's


def test_a_resume_continues_in_the_checkpoint_directory(tmp_path):
    first, other = tmp_path / "first", tmp_path / "other"
    fit(tiny_config(first, train={"epochs": 1}), datasets=data())
    (first / ".last.pt.tmp-999999").write_bytes(b"half a checkpoint")  # a write killed midway
    result = fit(tiny_config(other, train={"epochs": 2}), resume=str(first / "last.pt"), datasets=data())
    assert result["run_dir"] == str(first.resolve()) and result["epochs"] == 2
    assert not other.exists()
    assert not list(first.glob(".*.tmp-*"))
    assert json.loads((first / "config.json").read_text())["train"]["output_dir"] == str(first.resolve())


def test_resuming_with_another_class_count_is_refused_in_words(tmp_path):
    run = tmp_path / "run"
    fit(tiny_config(run), datasets=data(3))
    cfg = tiny_config(run, model={"name": "movinet_a0_base", "num_classes": 4, "dropout": 0.0})
    with pytest.raises(ValueError, match="trained with 3 classes but this run's model has 4"):
        fit(cfg, resume=str(run / "last.pt"), datasets=data(4))


def test_testing_with_another_class_count_is_refused(tmp_path):
    weights = save_weights(movinet.create_model("movinet_a0_base", num_classes=6), tmp_path / "w.safetensors",
                           model_name="movinet_a0_base")
    cfg = tiny_config(tmp_path / "run")
    cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, num_classes=5))
    with pytest.raises(ValueError, match="model.num_classes=5 but .* has 6 classes"):
        run_test(cfg, str(weights), dataset=RandomVideoDataset(2, 5, views=1))


def test_a_missing_data_root_is_named(tmp_path):
    cfg = tiny_config(tmp_path / "run", data={"format": "folders", "root": str(tmp_path / "no_such_data"),
                                              "train_list": "train", "labels_file": "labels.txt"})
    with pytest.raises(FileNotFoundError, match=r"data.root .*no_such_data does not exist.*-o data.root=DIR"):
        fit(cfg)


def test_predict_reads_a_training_checkpoint(tmp_path, capsys):
    from movinet.cli import main
    from movinet.data.synthetic import make_motion_video

    run = tmp_path / "run"
    small = {"sampling": {"mode": "clips", "num_frames": 4, "temporal_stride": 1},
             "transform": {"preset": "tf", "short_size": 32, "crop_size": 32, "normalize": "unit"}}
    fit(tiny_config(run, data=small), datasets=data())
    video = make_motion_video(tmp_path / "clip.mp4", "grow", num_frames=8, size=32, seed=0)
    answers = []
    for weights in (run / "last.pt", run / "final.safetensors"):
        assert main(["predict", "-i", str(video), "-w", str(weights), "--json", "--top_k", "3"]) == 0
        answers.append(json.loads(capsys.readouterr().out.strip().splitlines()[-1])["top_k"])
    assert [a["class"] for a in answers[0]] == [b["class"] for b in answers[1]]
    assert [a["score"] for a in answers[0]] == pytest.approx([b["score"] for b in answers[1]], abs=1e-6)
