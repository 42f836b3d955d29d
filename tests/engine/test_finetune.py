"""`movinet finetune DATA_DIR`: the packaged recipe filled in for a folder of class videos, equal to
the `movinet train -c finetune.yaml` command it prints."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
import torch

from movinet.cli import build_parser, main
from movinet.data.synthetic import make_motion_video
from movinet.engine.config import config_to_dict, load_config
from movinet.engine.finetune import finetune_config, next_commands
from movinet.loading import load_model

# A tiny clip so a whole fine-tuning run takes seconds: 2 frames of 32 px.
TINY = ["data.sampling.num_frames=2", "data.transform.crop_size=32", "data.transform.short_size=36",
        "data.num_workers=0", "train.progress=false"]


def make_videos(root: Path, classes: tuple[str, ...] = ("grow", "move_up", "shrink"), per_class: int = 3) -> Path:
    for index, name in enumerate(classes):
        for number in range(per_class):
            make_motion_video(root / name / f"{name}_{number}.mp4", name, num_frames=6, size=40,
                              seed=10 * index + number, style="squares")
    return root


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    return make_videos(tmp_path_factory.mktemp("videos") / "my_videos")


def test_class_folders_get_a_recorded_held_out_split_and_the_recipe(videos, tmp_path):
    cfg, overrides, layout = finetune_config(videos, output_dir=tmp_path / "run")
    assert (cfg.model.name, cfg.model.weights) == ("movinet_a0_stream", "kinetics600")
    assert (cfg.data.format, cfg.data.root) == ("videos", str(videos))
    split_dir = tmp_path / "run" / "splits"
    assert cfg.data.train_list == str(split_dir / "train.txt") and cfg.data.labels_file == str(split_dir / "labels.txt")
    assert (split_dir / "val.txt").read_text().count("\n") == 3 and layout.split["seed"] == 0
    assert (cfg.data.transform.crop_size, cfg.data.transform.short_size, cfg.data.sampling.num_frames) == (172, 192, 16)
    recipe = load_config("finetune.yaml")
    assert (cfg.train.epochs, cfg.train.freeze_backbone_epochs) == (recipe.train.epochs,
                                                                    recipe.train.freeze_backbone_epochs)
    assert recipe.data.batch_size == 8 and cfg.data.batch_size == 6  # a batch of all 6 training videos
    assert cfg.train.output_dir == str(tmp_path / "run")


def test_the_printed_train_command_is_the_same_config(videos, tmp_path):
    from movinet.engine.finetune import train_command

    cfg, overrides, _ = finetune_config(videos, output_dir=tmp_path / "run", overrides=["train.epochs=3"])
    args = build_parser().parse_args(shlex.split(train_command("finetune.yaml", overrides))[1:])
    assert args.command == "train" and args.validate is True
    assert config_to_dict(load_config(args.config, args.override)) == config_to_dict(cfg)
    assert cfg.train.epochs == 3  # the caller's overrides come last and win


def test_given_splits_are_used_as_they_are(tmp_path):
    make_videos(tmp_path / "data" / "train")
    make_videos(tmp_path / "data" / "val", per_class=1)
    cfg, _, layout = finetune_config(tmp_path / "data", output_dir=tmp_path / "run")
    assert (cfg.data.format, cfg.data.train_list, cfg.data.val_list, cfg.data.test_list) == (
        "folders", "train", "val", "val")
    assert layout.split is None and not (tmp_path / "run" / "splits").exists()
    make_videos(tmp_path / "data" / "test", per_class=1)
    assert finetune_config(tmp_path / "data", output_dir=tmp_path / "run")[0].data.test_list == "test"
    (tmp_path / "lonely" / "train" / "a").mkdir(parents=True)
    with pytest.raises(ValueError, match="train/ but no val/"):
        finetune_config(tmp_path / "lonely")


@pytest.mark.parametrize("model, weights, expected", [
    ("movinet_a2_stream", None, {"model.weights": "kinetics600", "crop": 224, "short": 256}),
    ("movinet_a0_paddle", None, {"model.weights": "kinetics400", "crop": 172, "normalize": "imagenet"}),
    ("movinet_a0_base", "none", {"model.weights": None, "crop": 172}),
])
def test_the_model_sets_its_input_size_and_weights(videos, tmp_path, model, weights, expected):
    cfg = finetune_config(videos, model=model, weights=weights, output_dir=tmp_path / "run")[0]
    assert cfg.model.name == model and cfg.model.weights == expected["model.weights"]
    assert cfg.data.transform.crop_size == expected["crop"]
    if "short" in expected:
        assert cfg.data.transform.short_size == expected["short"]
    if "normalize" in expected:
        assert cfg.data.transform.normalize == expected["normalize"]


def test_another_split_in_the_output_directory_is_refused(videos, tmp_path):
    finetune_config(videos, output_dir=tmp_path / "run")
    before = (tmp_path / "run" / "splits" / "val.txt").read_text()
    finetune_config(videos, output_dir=tmp_path / "run")  # the same split again: fine
    with pytest.raises(ValueError, match="holds another split"):
        finetune_config(videos, output_dir=tmp_path / "run", overrides=["train.seed=7"], val_fraction=0.5)
    assert (tmp_path / "run" / "splits" / "val.txt").read_text() == before
    finetune_config(videos, output_dir=tmp_path / "run", val_fraction=0.5, overwrite=True)
    assert (tmp_path / "run" / "splits" / "val.txt").read_text() != before


def test_next_commands_follow_the_model_kind(tmp_path):
    stream = next_commands(tmp_path / "run", tmp_path / "run" / "best.safetensors", "movinet_a0_stream",
                           Path("v/a.mp4"), causal=True)
    assert [line.split()[1] for line in stream] == ["test", "export", "predict", "serve", "push"]
    assert f"--model_file {tmp_path / 'run' / 'export' / 'movinet_a0_stream.onnx'}" in stream[2]
    base = next_commands(tmp_path / "run", tmp_path / "run" / "best.safetensors", "movinet_a0_base",
                         Path("v/a.mp4"), causal=False)
    assert "serve" not in [line.split()[1] for line in base]


def test_finetune_command_trains_records_and_equals_movinet_train(videos, tmp_path, monkeypatch, capsys):
    """The whole command on a tiny clip size: fine-tunes, records, prints what comes next; the
    printed `movinet train` command trains bit-identical weights."""
    torch.set_num_threads(1)
    monkeypatch.chdir(tmp_path)
    argv = ["finetune", str(videos), "--weights", "none", "-o", "runs/mine", "--epochs", "2",
            *(item for override in TINY for item in ("-O", override))]
    assert main(argv) == 0
    out = capsys.readouterr().out
    run = tmp_path / "runs" / "mine"
    record = json.loads((run / "finetune.json").read_text())
    assert record["command"] == "movinet " + " ".join(argv) and record["split"]["val_videos"] == {
        "grow": 1, "move_up": 1, "shrink": 1}
    assert f"movinet test    -c runs/mine/config.yaml -w runs/mine/{Path(record['weights']).name}" in out
    assert "(classifier only, backbone frozen)" in (run / "train.log").read_text()

    train = shlex.split(record["train_command"])[1:] + ["-O", "train.output_dir=runs/again"]
    assert main(train) == 0
    ours, _ = load_model(run / "final.safetensors")
    theirs, _ = load_model(tmp_path / "runs" / "again" / "final.safetensors")
    for key, value in ours.state_dict().items():
        assert torch.equal(value, theirs.state_dict()[key]), key
    capsys.readouterr()
    assert main(["test", "-c", "runs/mine/config.yaml", "-w", record["weights"]]) == 0
    assert "on 3 videos" in capsys.readouterr().out
