"""Parity with PaddleVideo's MoViNet A0 (fixtures produced by PaddleVideo with Paddle 3.3.1)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import movinet
from movinet.convert.paddle import paddle_to_state_dict
from movinet.convert.pdparams import load_pdparams
from tests.conftest import fixture_path

# Paddle logits are small (std 0.34) and only weakly input dependent, so the bound is absolute.
ABS_TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def paddle_model():
    model, state = paddle_to_state_dict(load_pdparams(fixture_path("paddle_a0", "MoViNetA0_fixture.pdparams")))
    model.load_state_dict(state, strict=False)
    return model.eval()


@pytest.fixture(scope="module", params=["training", "fast"])
def paddle_any_form(request, paddle_model):
    """The converted model, and its inference form (`optimize_for_inference`)."""
    return movinet.optimize_for_inference(paddle_model) if request.param == "fast" else paddle_model


def paddle_clip(name: str) -> torch.Tensor:
    """Paddle inputs are (N, T, C, H, W); the recognizer transposes to (N, C, T, H, W)."""
    return torch.from_numpy(np.load(fixture_path("paddle_a0", name))).permute(0, 2, 1, 3, 4).contiguous()


@pytest.mark.parametrize("clip, ref", [("input_small.npy", "logits_small.npy"), ("input.npy", "logits.npy")])
def test_paddle_logits_match(paddle_any_form, clip, ref):
    with torch.inference_mode():
        logits = paddle_any_form(paddle_clip(clip)).numpy()
    reference = np.load(fixture_path("paddle_a0", ref))
    assert np.abs(logits - reference).max() <= ABS_TOLERANCE
    assert list(np.argsort(-logits[0])[:5]) == list(np.argsort(-reference[0])[:5])


def test_paddle_uses_its_own_padding(paddle_model):
    """PaddleVideo pads symmetrically: 172 px gives 86/43/21/10/5 grids, not TF SAME's 22/11/6."""
    sizes = []
    height = width = 172
    height, width = paddle_model.stem.output_size(height, width)
    sizes.append(height)
    for stage in paddle_model.blocks:
        height, width = stage[0].output_size(height, width)
        sizes.append(height)
    assert sizes == [86, 43, 21, 10, 10, 5]
