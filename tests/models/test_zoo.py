"""Every registered model: structure facts, forward/backward, parameter counts and GMACs."""

from __future__ import annotations

import pytest
import torch

import movinet
from movinet.models.registry import build_model, get_model_info
from movinet.models.summary import count_macs, count_parameters

# TF Model Garden parameter counts (tf-model-garden-movinet.md §11): (trainable, incl. BN statistics).
OFFICIAL_PARAMS = {
    "movinet_a0_base": (3_111_799, 3_126_071), "movinet_a0_stream": (3_748_031, 3_765_983),
    "movinet_a1_base": (4_690_296, 4_717_912), "movinet_a1_stream": (6_447_352, 6_481_560),
    "movinet_a2_base": (5_249_562, 5_280_922), "movinet_a2_stream": (7_326_962, 7_366_050),
    "movinet_a3_base": (7_397_545, 7_443_289), "movinet_a3_stream": (10_986_618, 11_043_146),
    "movinet_a4_base": (11_349_463, 11_422_727), "movinet_a4_stream": (18_136_182, 18_228_326),
    "movinet_a5_base": (18_650_523, 18_763_355), "movinet_a5_stream": (31_495_934, 31_636_734),
    "movinet_t0_base": (1_727_414, 1_740_502), "movinet_t0_stream": (2_368_958, 2_385_118),
    "movinet_a0_paddle": (2_701_999, 2_716_271),  # PaddleVideo (paddlevideo-movinet.md §1)
}
# MoViNet README "GFLOPs" (multiply-adds) at the eval input size, base models.
README_GMACS = {"a0": 2.7, "a1": 6.0, "a2": 10, "a3": 57, "a4": 110, "a5": 280}


def test_registry_lists_every_model():
    names = movinet.list_models()
    for arch in ("a0", "a1", "a2", "a3", "a4", "a5"):
        assert f"movinet_{arch}_base" in names and f"movinet_{arch}_stream" in names
    assert "movinet_a0_paddle" in names
    assert movinet.list_models("*stream") == sorted(n for n in names if n.endswith("stream"))


@pytest.mark.parametrize("name", sorted(OFFICIAL_PARAMS))
def test_parameter_counts_match_reference(name):
    with torch.device("meta"):
        model = build_model(get_model_info(name))
    counts = count_parameters(model)
    assert (counts["trainable"], counts["with_bn_stats"]) == OFFICIAL_PARAMS[name]


@pytest.mark.parametrize("arch", ["a0", "a1", "a3", "a5"])
def test_gmacs_within_3_percent_of_readme(arch):
    info = get_model_info(f"movinet_{arch}_base")
    with torch.device("meta"):
        model = build_model(info)
    gmacs = count_macs(model, *info.input_size) / 1e9
    assert abs(gmacs - README_GMACS[arch]) / README_GMACS[arch] <= 0.03


def test_mac_walker_equals_counting_every_conv_call():
    """The analytic walker must count exactly what the convolutions compute in a real forward."""
    for name in ("movinet_a0_base", "movinet_a0_stream", "movinet_a0_paddle"):
        model = movinet.create_model(name).eval()
        counted = 0

        def hook(module, inputs, output):
            nonlocal counted
            counted += output.numel() * module.weight[0].numel()

        hooks = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, torch.nn.Conv3d)]
        with torch.inference_mode():
            model(torch.rand(1, 3, 4, 64, 80))
        for h in hooks:
            h.remove()
        assert count_macs(model, 4, 64, 80) == counted, name


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n.startswith(("movinet_a4", "movinet_a5"))
                                  else n for n in movinet.list_models()])
def test_forward_backward_reaches_every_parameter(name):
    model = movinet.create_model(name, num_classes=5, stochastic_depth=0.2).train()
    for p in model.parameters():  # ReZero starts at 0, which would hide gradients of the branch
        if p.dim() == 0:
            torch.nn.init.constant_(p, 0.5)
    video = torch.rand(2, 3, 3, 32, 40)
    logits = model(video)
    assert logits.shape == (2, 5) and torch.isfinite(logits).all()
    logits.logsumexp(1).sum().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing
    assert sum(float(p.grad.abs().sum()) for p in model.parameters()) > 0


def test_num_classes_and_reset_classifier():
    model = movinet.create_model("movinet_a0_base", num_classes=7).eval()
    assert model(torch.rand(1, 3, 2, 32, 32)).shape == (1, 7)
    model.reset_classifier(3)
    assert model(torch.rand(1, 3, 2, 32, 32)).shape == (1, 3)
    assert movinet.create_model("movinet_a0_paddle").num_classes == 400
    assert movinet.create_model("movinet_a2_stream").num_classes == 600
