"""Config loading: strict keys and types, -o overrides, the shipped recipes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from movinet.engine.config import (
    Config,
    apply_override,
    config_from_dict,
    eval_data_config,
    load_config,
    save_config,
)

CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cfg.yaml"
    path.write_text(text)
    return path


def test_defaults_are_the_paddle_recipe():
    cfg = config_from_dict({})
    assert isinstance(cfg, Config)
    assert cfg.model.name == "movinet_a0_paddle"
    assert (cfg.optimizer.name, cfg.optimizer.eps, cfg.optimizer.weight_decay) == ("rmsprop", 1.0, 3e-5)
    assert (cfg.lr_schedule.base_lr, cfg.lr_schedule.warmup, cfg.lr_schedule.total) == (0.5, 10.0, 160.0)


def test_unknown_nested_key_names_full_path_and_valid_keys(tmp_path):
    path = write(tmp_path, "train:\n  epoch: 3\n")
    with pytest.raises(ValueError) as info:
        load_config(path)
    message = str(info.value)
    assert "'train.epoch'" in message
    assert "epochs" in message and "save_interval" in message  # lists the valid keys
    assert "Did you mean 'epochs'" in message
    assert str(path) in message


def test_unknown_top_level_and_deep_keys():
    with pytest.raises(ValueError, match=r"unknown config key 'trian'"):
        config_from_dict({"trian": {}})
    with pytest.raises(ValueError, match=r"'data\.sampling\.num_frame'"):
        config_from_dict({"data": {"sampling": {"num_frame": 8}}})
    with pytest.raises(ValueError, match=r"'test\.ensemble\.0\.weight'"):
        config_from_dict({"test": {"ensemble": [{"weight": "a.safetensors"}]}})


def test_wrong_type_names_key_expected_and_got():
    with pytest.raises(ValueError) as info:
        config_from_dict({"train": {"epochs": "ten"}})
    message = str(info.value)
    assert "'train.epochs'" in message and "expects int" in message and "got str ('ten')" in message
    with pytest.raises(ValueError, match=r"'data\.batch_size' expects int, got float"):
        config_from_dict({"data": {"batch_size": 2.5}})
    with pytest.raises(ValueError, match=r"'train\.channels_last' expects bool or one of 'auto', got int"):
        config_from_dict({"train": {"channels_last": 1}})
    with pytest.raises(ValueError, match=r"'optimizer\.name' expects one of 'rmsprop', 'sgd', 'adamw', got str"):
        config_from_dict({"optimizer": {"name": "adam"}})
    with pytest.raises(ValueError, match=r"'model' expects ModelConfig, got list"):
        config_from_dict({"model": ["movinet_a0_base"]})


def test_ints_widen_to_float_and_exponents_without_dot_are_floats(tmp_path):
    path = write(tmp_path, "optimizer:\n  weight_decay: 3e-5\n  eps: 1\nlr_schedule:\n  base_lr: 1\n")
    cfg = load_config(path)
    assert cfg.optimizer.weight_decay == pytest.approx(3e-5)
    assert isinstance(cfg.optimizer.eps, float) and isinstance(cfg.lr_schedule.base_lr, float)


def test_overrides_apply_before_validation(tmp_path):
    path = write(tmp_path, "train:\n  epochs: 3\n")
    cfg = load_config(path, ["train.epochs=5", "optimizer.weight_decay=1e-4", "data.sampling.num_frames=8",
                             "model.weights=null", "test.ensemble=[{weights: a.pt, num_frames: 16}]"])
    assert cfg.train.epochs == 5
    assert cfg.optimizer.weight_decay == pytest.approx(1e-4)
    assert cfg.data.sampling.num_frames == 8
    assert cfg.model.weights is None
    assert cfg.test.ensemble[0].weights == "a.pt" and cfg.test.ensemble[0].num_frames == 16
    with pytest.raises(ValueError, match=r"'train\.epochs' expects int"):
        load_config(path, ["train.epochs=many"])
    with pytest.raises(ValueError, match=r"unknown config key 'train\.epoch'"):
        load_config(path, ["train.epoch=5"])


@pytest.mark.parametrize("bad", ["train.epochs", "=5", "train..epochs=5", "train.epochs 5", "train-epochs=5",
                                 "train.epochs=[1,"])
def test_bad_override_syntax_is_explained(bad):
    with pytest.raises(ValueError, match="bad override"):
        apply_override({}, bad)


def test_override_into_a_value_is_rejected():
    with pytest.raises(ValueError, match="is a value, not a section"):
        apply_override({"train": {"epochs": 3}}, "train.epochs.sub=1")


def test_range_checks_name_the_key():
    with pytest.raises(ValueError, match=r"train\.epochs must be >= 1"):
        config_from_dict({"train": {"epochs": 0}})
    with pytest.raises(ValueError, match=r"optimizer\.eps must be > 0"):
        config_from_dict({"optimizer": {"eps": 0.0}})


def test_missing_and_invalid_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(ValueError, match="not valid YAML"):
        load_config(write(tmp_path, "train: [1, 2\n"))
    with pytest.raises(ValueError, match="top level must be a mapping"):
        load_config(write(tmp_path, "- 1\n- 2\n"))


def test_empty_section_takes_defaults(tmp_path):
    cfg = load_config(write(tmp_path, "train:\nmodel:\n  name: movinet_a0_base\n"))
    assert cfg.train.epochs == 160 and cfg.model.name == "movinet_a0_base"


def test_saved_config_round_trips(tmp_path):
    cfg = config_from_dict({"train": {"epochs": 7}, "optimizer": {"name": "sgd"}})
    yaml_path, json_path = save_config(cfg, tmp_path / "run")
    assert load_config(yaml_path) == cfg
    assert json.loads(json_path.read_text())["train"]["epochs"] == 7


def test_eval_data_config_applies_test_clip_settings():
    cfg = config_from_dict({"data": {"sampling": {"num_frames": 64, "temporal_stride": 2}},
                            "test": {"num_frames": 120}})
    data = eval_data_config(cfg)
    assert (data.sampling.num_frames, data.sampling.temporal_stride) == (120, 2)
    assert cfg.data.sampling.num_frames == 64  # the training config is untouched


@pytest.mark.parametrize("path", sorted(CONFIG_DIR.glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_configs_load_and_say_what_they_reproduce(path):
    cfg = load_config(path)
    header = path.read_text().splitlines()[0]
    assert header.startswith("#") and ("Reproduces" in header or "demo" in header.lower()
                                      or "not a published recipe" in header)  # finetune.yaml
    if "k600" in path.name:
        arch, kind = path.name.split("_")[1:3]
        assert cfg.model.name == f"movinet_{arch}_{kind}"
        assert (cfg.lr_schedule.base_lr, cfg.lr_schedule.warmup, cfg.lr_schedule.total) == (1.8, 2145, 85785)
        assert cfg.train.global_batch_size == 1024 and cfg.train.label_smoothing == 0.1
        assert cfg.optimizer.clip_grad_norm == 1.0 and cfg.optimizer.l2_params == "conv_kernels"
        assert cfg.model.stochastic_depth == 0.2 and cfg.data.transform.normalize == "unit"
        small = arch == "a0" or (kind == "stream" and arch == "a1")
        assert cfg.model.dropout == (0.2 if small else 0.5)


def test_paddle_recipe_values():
    cfg = load_config(CONFIG_DIR / "movinet_k400_frame.yaml")
    assert cfg.model.name == "movinet_a0_paddle" and cfg.data.format == "frames"
    assert (cfg.data.sampling.num_frames, cfg.data.transform.crop_size) == (50, 172)
    assert (cfg.data.batch_size, cfg.data.val_batch_size, cfg.data.test_batch_size) == (32, 32, 8)
    assert cfg.train.epochs == 160 and cfg.train.seed == 1234 and cfg.train.save_interval == 10
    o = cfg.optimizer
    assert (o.name, o.rho, o.momentum, o.eps, o.weight_decay, o.l2_params) == ("rmsprop", 0.9, 0.9, 1.0, 3e-5, "all")
    s = cfg.lr_schedule
    assert (s.unit, s.base_lr, s.warmup_start_lr, s.warmup, s.total) == ("epoch", 0.5, 0.001, 10, 160)
    assert yaml.safe_load((CONFIG_DIR / "movinet_k400_frame.yaml").read_text())["data"]["suffix"] == "img_{:05}.jpg"
