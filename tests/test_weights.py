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
