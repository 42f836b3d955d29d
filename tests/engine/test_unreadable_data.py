"""Unreadable videos never end a run: skipped, counted once per file, listed in the run log; only a
split with no readable sample stops, with one line naming the split and its first files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml

import movinet
from engine_helpers import tiny_config
from movinet.cli import main
from movinet.data.datasets import UnreadableSplitError, build_dataset
from movinet.data.synthetic import make_motion_video
from movinet.engine.evaluate import test as run_test
from movinet.engine.train import fit
from movinet.weights import save_weights

NUM_BAD = 11  # more than the 10 tries the dataset used to give a run of bad files


def write_split(root: Path, good: dict[str, int], bad: dict[str, int]) -> None:
    """Class folders of real videos and of files that are not videos (sorted: the bad ones in a row)."""
    for name, count in good.items():
        for index in range(count):
            make_motion_video(root / name / f"good_{index}.mp4", "grow" if name == "a" else "shrink",
                              num_frames=6, size=32, seed=index)
    for name, count in bad.items():
        for index in range(count):
            path = root / name / f"bad_{index:02d}.mp4"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(64))  # an mp4 header and nothing else


def data_section(root: Path, train: str = "train", val: str = "val") -> dict:
    return {"format": "folders", "root": str(root), "train_list": train, "val_list": val, "test_list": val,
            "batch_size": 2, "val_batch_size": 2, "test_batch_size": 2, "num_workers": 0,
            "sampling": {"mode": "clips", "num_frames": 4, "temporal_stride": 1},
            "transform": {"preset": "tf", "short_size": 32, "crop_size": 32, "normalize": "unit"}}


@pytest.fixture(scope="module")
def mixed_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("mixed")
    write_split(root / "train", good={"a": 3, "b": 2}, bad={"b": NUM_BAD})
    write_split(root / "val", good={"a": 1, "b": 1}, bad={"a": 2})
    return root


def test_each_unreadable_file_counts_once_and_every_item_is_readable(mixed_data):
    cfg = tiny_config(mixed_data / "out", data=data_section(mixed_data))
    dataset = build_dataset(cfg.data, "train", num_classes=2)
    with pytest.warns(UserWarning):
        items = [dataset[index] for index in range(len(dataset))]
    bad = [i for i, sample in enumerate(dataset.samples) if sample.path.name.startswith("bad_")]
    assert len(bad) == NUM_BAD
    assert sum(item["num_skipped"] for item in items) == NUM_BAD
    for index, item in enumerate(items):
        returned = dataset.samples[item["index"]].path.name
        assert item["video"].shape == (3, 4, 32, 32) and returned.startswith("good_")
        assert bool(item["unreadable"]) == (index in bad)
        assert item["unreadable"].startswith(str(dataset.samples[index].path)) or index not in bad


def test_training_goes_on_and_the_log_lists_each_bad_file_once(mixed_data, tmp_path):
    cfg = tiny_config(tmp_path / "run", model={"name": "movinet_t0_base", "num_classes": 2},
                      data=data_section(mixed_data))
    result = fit(cfg, validate=True)
    assert result["epochs"] == 1 and Path(result["final_weights"]).is_file()
    log_text = (tmp_path / "run" / "train.log").read_text()
    for index in range(NUM_BAD):
        lines = [line for line in log_text.splitlines() if f"train/b/bad_{index:02d}.mp4" in line]
        assert len(lines) == 1 and "unreadable" in lines[0], log_text
    records = [json.loads(line) for line in (tmp_path / "run" / "train_log.jsonl").read_text().splitlines()]
    epoch = next(r for r in records if r["type"] == "epoch")
    assert epoch["num_skipped"] == len(epoch["unreadable"])
    assert 0 < epoch["num_skipped"] <= NUM_BAD  # drop_last may leave a few samples unrequested
    val = next(r for r in records if r["type"] == "val")
    assert val["num_skipped"] == 2 and val["num_samples"] == 2  # unreadable ones are left out of the metrics


def write_config(path: Path, cfg_dict: dict) -> Path:
    path.write_text(yaml.safe_dump(cfg_dict))
    return path


def test_an_all_unreadable_train_split_is_one_line_naming_the_split(tmp_path, capsys):
    write_split(tmp_path / "train", good={}, bad={"a": 4, "b": 2})
    cfg = {"model": {"name": "movinet_a0_base", "num_classes": 2}, "data": data_section(tmp_path),
           "train": {"output_dir": str(tmp_path / "run"), "epochs": 1, "device": "cpu", "progress": False}}
    with pytest.raises(UnreadableSplitError, match=r"train split.*bad_00\.mp4.*bad_01\.mp4"):
        fit(tiny_config(tmp_path / "run", **cfg))
    assert main(["train", "-c", str(write_config(tmp_path / "cfg.yaml", cfg))]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no sample of the train split can be read" in err


def test_an_all_unreadable_test_split_is_one_line_naming_the_split(tmp_path, capsys):
    write_split(tmp_path / "train", good={"a": 1, "b": 1}, bad={})
    write_split(tmp_path / "val", good={}, bad={"a": 2, "b": 2})
    model = movinet.create_model("movinet_a0_base", num_classes=2)
    weights = save_weights(model, tmp_path / "w.safetensors", model_name="movinet_a0_base")
    cfg = {"model": {"name": "movinet_a0_base", "num_classes": 2}, "data": data_section(tmp_path),
           "train": {"output_dir": str(tmp_path / "run"), "device": "cpu", "progress": False}}
    with pytest.raises(UnreadableSplitError, match=r"test split.*bad_00\.mp4"):
        run_test(tiny_config(tmp_path / "run", **cfg), str(weights))
    assert main(["test", "-c", str(write_config(tmp_path / "cfg.yaml", cfg)), "-w", str(weights)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no sample of the test split can be read" in err
    torch.set_num_threads(1)
