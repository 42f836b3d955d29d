"""The one loader: our files, training checkpoints, PaddleVideo .pdparams; typed metadata."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import movinet
from movinet.data.preprocessing import Preprocessing
from movinet.loading import load_model
from movinet.weights import ModelMetadata, WeightsError, metadata_path, read_weights, save_weights
from tests.conftest import fixture_path, random_model, relative_error


def test_round_trip_returns_the_model_and_typed_metadata(tmp_path):
    model = random_model("movinet_a0_stream", num_classes=3)
    prep = Preprocessing(frames=8, height=64, width=64, resize=72, stream_fps=4.0)
    path = save_weights(model, tmp_path / "m.safetensors", model_name="movinet_a0_stream",
                        labels=["a", "b", "c"], preprocessing=prep)
    loaded, meta = load_model(path)
    assert isinstance(meta, ModelMetadata)
    assert (meta.name, meta.num_classes, meta.causal, meta.labels) == ("movinet_a0_stream", 3, True, ["a", "b", "c"])
    assert meta.preprocessing == prep
    assert not hasattr(loaded, "labels") and not hasattr(loaded, "preprocessing")  # metadata is not on the module
    assert not loaded.training
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    assert json.loads(metadata_path(path).read_text()) == read_weights(path)[1]  # sidecar = header


def test_create_model_uses_the_loader_and_checks_the_name(tmp_path):
    path = save_weights(random_model("movinet_a0_base"), tmp_path / "b.safetensors", model_name="movinet_a0_base")
    with pytest.raises(WeightsError, match="movinet_a0_base"):
        movinet.create_model("movinet_a0_stream", weights=path)
    with pytest.raises(WeightsError, match="not 'movinet_a1_base'"):
        load_model(path, model_name="movinet_a1_base")
    causal, meta = load_model(path, causal=True)
    assert causal.causal and meta.causal and meta.preprocessing.stream_fps == 5.0
    tuned = movinet.create_model("movinet_a0_base", weights=path, num_classes=7)
    assert tuned.num_classes == 7 and tuned.training
    with pytest.raises(FileNotFoundError, match="release name"):
        load_model(tmp_path / "missing.safetensors")
    with pytest.raises(ValueError, match="needs the model"):
        load_model("kinetics600")


def test_pdparams_load_in_memory_and_match_paddlevideo():
    model, meta = load_model(fixture_path("paddle_a0", "MoViNetA0_fixture.pdparams"))
    assert meta.name == "movinet_a0_paddle" and len(meta.labels) == 400 and meta.labels[5] == "archery"
    assert meta.preprocessing == Preprocessing.from_model(movinet.get_model_info("movinet_a0_paddle"))
    clip = torch.from_numpy(np.load(fixture_path("paddle_a0", "input_small.npy")))
    if clip.shape[1] != 3:  # Paddle's (N, T, C, H, W)
        clip = clip.permute(0, 2, 1, 3, 4)
    with torch.no_grad():
        logits = model(clip.contiguous()).numpy()
    assert relative_error(logits, np.load(fixture_path("paddle_a0", "logits_small.npy"))) <= 1e-4


def test_a_foreign_file_is_refused_with_a_clear_error(tmp_path):
    bad = tmp_path / "x.safetensors"
    bad.write_bytes(b"not a safetensors file")
    with pytest.raises(WeightsError, match="movinet convert"):
        load_model(bad)


def write_checkpoint(path, model, cfg, **entries):
    """A training checkpoint of `model` (optimizer and counters are placeholders) plus `entries`."""
    from movinet.engine.checkpoint import save_checkpoint
    from movinet.engine.config import config_to_dict

    save_checkpoint(path, {"model": model.state_dict(), "optimizer": {}, "epoch": 1, "step_in_epoch": 0,
                           "global_step": 1, "config": config_to_dict(cfg), **entries})
    return path


def test_a_checkpoint_loads_from_its_metadata_record_without_the_config(tmp_path, monkeypatch):
    from movinet.engine import checkpoint
    from movinet.engine.config import config_from_dict
    from movinet.weights import describe_model

    model = random_model("movinet_a0_stream", num_classes=3)
    prep = Preprocessing(frames=8, height=64, width=64, resize=72, stream_fps=4.0)  # not the config's
    record = describe_model(model, "movinet_a0_stream", labels=["a", "b", "c"], preprocessing=prep)
    cfg = config_from_dict({"model": {"name": "movinet_a0_stream"}})
    path = write_checkpoint(tmp_path / "last.pt", model, cfg, **{checkpoint.METADATA_KEY: record.to_dict()})

    def no_config(*args, **kwargs):
        raise AssertionError("a checkpoint with a metadata record was read through its config")

    monkeypatch.setattr(checkpoint, "config_from_dict", no_config)
    loaded, meta = load_model(path)
    assert meta == ModelMetadata(**{**vars(record), "source": f"training checkpoint {path}"})
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key


def test_a_checkpoint_without_a_record_loads_through_its_config(tmp_path):
    """Checkpoints of version 1 (before the record) name `arch` and `model_kwargs` only."""
    from movinet.engine.config import config_from_dict

    model = random_model("movinet_a0_base", num_classes=3)
    cfg = config_from_dict({"model": {"name": "movinet_a0_base"}})
    path = write_checkpoint(tmp_path / "old.pt", model, cfg, arch="movinet_a0_base", num_classes=3,
                            class_names=["a", "b", "c"], model_kwargs={"num_classes": 3, "causal": False})
    loaded, meta = load_model(path)
    assert (meta.name, meta.num_classes, meta.causal, meta.labels) == ("movinet_a0_base", 3, False, ["a", "b", "c"])
    assert meta.preprocessing == Preprocessing.from_config(cfg)
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
