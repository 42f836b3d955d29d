"""Converters: official TF checkpoints and PaddleVideo .pdparams -> movinet .safetensors."""

from __future__ import annotations

import shutil
import tarfile

import numpy as np
import pytest
import torch

import movinet
from movinet.cli import main
from movinet.convert.paddle import convert_paddle
from movinet.convert.tf import ConversionError, convert_tf, read_tf_variables, tf_to_state_dict
from movinet.weights import WeightsError, read_weights
from tests.conftest import fixture_path, relative_error, tf_clip


def logits_of(model, clip):
    with torch.inference_mode():
        return model.eval()(clip).numpy()


def test_tf_checkpoint_round_trip_reproduces_fixture_logits(tmp_path):
    out = convert_tf(fixture_path("tf_a0_base", "ckpt"), "movinet_a0_base", tmp_path / "a0.safetensors")
    model = movinet.create_model("movinet_a0_base", weights=out)
    reference = np.load(fixture_path("tf_a0_base", "logits.npy"))
    assert relative_error(logits_of(model, tf_clip("input.npy", "tf_a0_base")), reference) <= 1e-4
    tensors, meta = read_weights(out)
    assert meta["model_name"] == "movinet_a0_base" and meta["num_classes"] == 600
    assert meta["preprocessing"]["normalize"] == "unit"
    assert (tmp_path / "a0.json").is_file()


def test_tf_release_tarball_and_stream_checkpoint(tmp_path):
    tarball = tmp_path / "movinet_a0_stream.tar.gz"
    with tarfile.open(tarball, "w:gz") as tar:
        tar.add(fixture_path("tf_a0_stream", "ckpt"), arcname="movinet_a0_stream")
    out = convert_tf(tarball, "movinet_a0_stream", tmp_path / "a0s.safetensors")
    model = movinet.create_model("movinet_a0_stream", weights=out)
    reference = np.load(fixture_path("tf_a0_stream", "logits_whole_clip.npy"))
    assert relative_error(logits_of(model, tf_clip("input.npy", "tf_a0_stream")), reference) <= 1e-4


def test_npz_variable_name_form_equals_checkpoint_form():
    from_npz = tf_to_state_dict(read_tf_variables(fixture_path("tf_a0_base", "weights.npz")), "movinet_a0_base")[1]
    from_ckpt = tf_to_state_dict(read_tf_variables(fixture_path("tf_a0_base", "ckpt")), "movinet_a0_base")[1]
    assert from_npz.keys() == from_ckpt.keys()
    assert all(torch.equal(from_npz[k], from_ckpt[k]) for k in from_npz)


def test_se_widths_are_taken_from_the_checkpoint(tmp_path):
    """Older stream checkpoints used make_divisible(0.25*E) SE widths; shapes decide, not the rule."""
    variables = read_tf_variables(fixture_path("tf_a0_stream", "weights.npz"))
    rng = np.random.default_rng(0)
    for var in variables:  # shrink every SE hidden width to 8 (simulating an older revision)
        if "/se/se_reduce/" in var.name:
            var.value = rng.standard_normal(var.value.shape[:-1] + (8,)).astype(np.float32) \
                if var.value.ndim > 1 else np.zeros(8, np.float32)
        elif "/se/se_expand/" in var.name and var.value.ndim > 1:
            var.value = rng.standard_normal((1, 1, 8, var.value.shape[-1])).astype(np.float32)
    model, state = tf_to_state_dict(variables, "movinet_a0_stream")
    model.load_state_dict(state, strict=False)
    assert all(layer.se.reduce.out_channels == 8 for stage in model.blocks for layer in stage)
    from movinet.weights import save_weights

    path = save_weights(model, tmp_path / "old.safetensors", model_name="movinet_a0_stream")
    reloaded = movinet.create_model("movinet_a0_stream", weights=path)
    clip = torch.rand(1, 3, 2, 48, 48)
    np.testing.assert_allclose(logits_of(reloaded, clip), logits_of(model, clip), rtol=1e-5, atol=1e-5)


def test_checkpoint_of_another_model_fails_naming_the_problem():
    with pytest.raises(ConversionError, match="movinet_a1_base"):
        tf_to_state_dict(read_tf_variables(fixture_path("tf_a0_base", "ckpt")), "movinet_a1_base")
    with pytest.raises(ConversionError, match="cannot convert to movinet_a0_base(.|\n)*bn_temporal"):
        tf_to_state_dict(read_tf_variables(fixture_path("tf_a0_stream", "ckpt")), "movinet_a0_base")


def test_missing_and_unmatched_variables_are_named():
    variables = read_tf_variables(fixture_path("tf_a0_base", "weights.npz"))
    dropped = [v for v in variables if v.name != "head/project/bn/gamma"]
    with pytest.raises(ConversionError, match=r"head\.project\.bn\.weight"):
        tf_to_state_dict(dropped, "movinet_a0_base")
    variables[0].name = "mystery/layer/kernel"
    with pytest.raises(ConversionError, match="mystery/layer/kernel"):
        tf_to_state_dict(variables, "movinet_a0_base")


def test_truncated_and_foreign_files_fail_clearly(tmp_path):
    ckpt = tmp_path / "ckpt"
    shutil.copytree(fixture_path("tf_a0_base", "ckpt"), ckpt)
    data = ckpt / "ckpt-1.data-00000-of-00001"
    data.write_bytes(data.read_bytes()[:1000])
    with pytest.raises(ValueError, match="(?i)truncat|short|size"):
        convert_tf(ckpt, "movinet_a0_base", tmp_path / "x.safetensors")
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"definitely not a checkpoint")
    with pytest.raises(WeightsError):
        movinet.create_model("movinet_a0_base", weights=junk)
    with pytest.raises(FileNotFoundError):
        movinet.create_model("movinet_a0_base", weights=tmp_path / "absent.safetensors")


def test_weights_for_another_model_are_refused(tmp_path):
    path = convert_tf(fixture_path("tf_a0_base", "ckpt"), "movinet_a0_base", tmp_path / "a0.safetensors")
    with pytest.raises(WeightsError, match="movinet_a0_base"):
        movinet.create_model("movinet_a0_stream", weights=path)


def test_fine_tuning_head_keeps_the_backbone(tmp_path):
    path = convert_tf(fixture_path("tf_a0_base", "ckpt"), "movinet_a0_base", tmp_path / "a0.safetensors")
    pretrained = movinet.create_model("movinet_a0_base", weights=path)
    finetune = movinet.create_model("movinet_a0_base", weights=path, num_classes=5)
    assert finetune.num_classes == 5
    assert torch.equal(finetune.head.project.conv.weight, pretrained.head.project.conv.weight)
    assert torch.equal(finetune.classifier.hidden.weight, pretrained.classifier.hidden.weight)


def test_paddle_round_trip_reproduces_fixture_logits(tmp_path):
    out = convert_paddle(fixture_path("paddle_a0", "MoViNetA0_fixture.pdparams"), "movinet_a0_paddle",
                         tmp_path / "p.safetensors")
    model = movinet.create_model("movinet_a0_paddle", weights=out)
    clip = torch.from_numpy(np.load(fixture_path("paddle_a0", "input_small.npy"))).permute(0, 2, 1, 3, 4)
    reference = np.load(fixture_path("paddle_a0", "logits_small.npy"))
    assert np.abs(logits_of(model, clip.contiguous()) - reference).max() <= 1e-4
    assert read_weights(out)[1]["preprocessing"]["normalize"] == "imagenet"


def test_paddle_weights_for_an_official_model_are_refused():
    with pytest.raises(ConversionError, match="PaddleVideo"):
        convert_paddle(fixture_path("paddle_a0", "MoViNetA0_fixture.pdparams"), "movinet_a0_base", "x.safetensors")


def test_cli_convert_and_list(tmp_path, capsys):
    out = tmp_path / "a0.safetensors"
    assert main(["convert", "tf", str(fixture_path("tf_a0_base", "ckpt")), "--model", "movinet_a0_base",
                 "-o", str(out)]) == 0
    assert out.is_file()
    assert main(["convert", "tf", str(tmp_path / "nothing"), "--model", "movinet_a0_base", "-o", str(out)]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["list", "--pattern", "movinet_a0*"]) == 0
    listing = capsys.readouterr().out
    assert "movinet_a0_base" in listing and "3,111,799" in listing and "2.63" in listing
