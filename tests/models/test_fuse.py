"""BatchNorm folding keeps the function and the stream behaviour."""

from __future__ import annotations

import pytest
import torch

from movinet.models.fuse import fuse_batchnorm
from tests.conftest import random_model


@pytest.mark.parametrize("name", ["movinet_a0_base", "movinet_a0_stream", "movinet_a0_paddle"])
def test_fused_model_computes_the_same_logits(name):
    model = random_model(name)
    fused = fuse_batchnorm(model)
    assert not any(isinstance(m, torch.nn.BatchNorm3d) for m in fused.modules())
    assert any(isinstance(m, torch.nn.BatchNorm3d) for m in model.modules())  # the original is untouched
    video = torch.rand(1, 3, 5, 64, 64)
    with torch.inference_mode():
        torch.testing.assert_close(fused(video), model(video), rtol=1e-5, atol=1e-5)


def test_fused_stream_model_streams():
    model = random_model("movinet_a0_stream")
    fused = fuse_batchnorm(model)
    video = torch.rand(1, 3, 4, 48, 48)
    state = fused.init_state(1, 48, 48)
    with torch.inference_mode():
        for t in range(4):
            logits, state = fused.stream_step(video[:, :, t:t + 1], state)
        torch.testing.assert_close(logits, model(video), rtol=1e-4, atol=1e-4)
