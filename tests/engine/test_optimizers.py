"""Optimizer rules against hand-computed steps, L2 parameter selection and clipping."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from movinet.engine.config import OptimizerConfig
from movinet.engine.optim import RMSPropTF, build_optimizer, clip_gradients, split_decay_parameters


def rmsprop_reference(w, g, steps, lr, rho, momentum, eps, wd):
    """Scalar TF/Paddle RMSProp with coupled L2, one parameter at a time."""
    w, r, v = list(w), [0.0] * len(w), [0.0] * len(w)
    for _ in range(steps):
        for i in range(len(w)):
            grad = g[i] + wd * w[i]
            r[i] = rho * r[i] + (1 - rho) * grad * grad
            v[i] = momentum * v[i] + lr * grad / math.sqrt(r[i] + eps)
            w[i] -= v[i]
    return w


def run_steps(optimizer_factory, w, g, steps):
    param = nn.Parameter(torch.tensor(w, dtype=torch.float64))
    optimizer = optimizer_factory([param])
    for _ in range(steps):
        param.grad = torch.tensor(g, dtype=torch.float64)
        optimizer.step()
    return param.detach().tolist(), optimizer


def test_rmsprop_first_step_by_hand():
    # w = [1, -2], g = [0.5, 1], lr 0.1, rho 0.9, momentum 0.9, eps 1, L2 0.01:
    # g' = g + 0.01 w = [0.51, 0.98]; r = 0.1 g'^2 = [0.02601, 0.09604]
    # v = 0.1 g' / sqrt(r + 1) = [0.051 / 1.0129215, 0.098 / 1.0469193]; w - v:
    w, optimizer = run_steps(lambda p: RMSPropTF(p, lr=0.1, rho=0.9, momentum=0.9, eps=1.0, weight_decay=0.01),
                             [1.0, -2.0], [0.5, 1.0], 1)
    assert w == pytest.approx([1.0 - 0.051 / 1.0129215, -2.0 - 0.098 / 1.0469193], abs=1e-7)
    state = optimizer.state[optimizer.param_groups[0]["params"][0]]
    assert state["square_avg"].tolist() == pytest.approx([0.02601, 0.09604])


@pytest.mark.parametrize("momentum", [0.9, 0.0])
def test_rmsprop_matches_scalar_reference_over_steps(momentum):
    args = dict(lr=0.05, rho=0.9, momentum=momentum, eps=1.0, wd=3e-5)
    expected = rmsprop_reference([0.3, -0.7, 2.0], [0.1, -0.4, 0.25], 5, **args)
    w, _ = run_steps(lambda p: RMSPropTF(p, lr=0.05, rho=0.9, momentum=momentum, eps=1.0, weight_decay=3e-5),
                     [0.3, -0.7, 2.0], [0.1, -0.4, 0.25], 5)
    assert w == pytest.approx(expected, rel=1e-12, abs=1e-12)


def test_rmsprop_differs_from_torch_rmsprop_eps_outside_sqrt():
    ours, _ = run_steps(lambda p: RMSPropTF(p, lr=0.1, momentum=0.0, eps=1.0), [1.0], [0.5], 1)
    theirs, _ = run_steps(lambda p: torch.optim.RMSprop(p, lr=0.1, alpha=0.9, eps=1.0), [1.0], [0.5], 1)
    assert ours[0] == pytest.approx(1.0 - 0.1 * 0.5 / math.sqrt(0.025 + 1.0))
    assert theirs[0] == pytest.approx(1.0 - 0.1 * 0.5 / (math.sqrt(0.025) + 1.0))
    assert abs(ours[0] - theirs[0]) > 1e-3


def test_rmsprop_rejects_bad_settings():
    with pytest.raises(ValueError, match="invalid RMSProp settings"):
        RMSPropTF([nn.Parameter(torch.zeros(1))], lr=0.1, eps=0.0)


def tiny_net() -> nn.Module:
    return nn.Sequential(nn.Conv3d(3, 4, 1), nn.BatchNorm3d(4), nn.Conv3d(4, 2, 1))


def test_l2_on_all_parameters_paddle():
    net = tiny_net()
    decay, no_decay = split_decay_parameters(net, "all")
    assert len(decay) == len(list(net.parameters())) and no_decay == []


def test_l2_on_conv_kernels_only_tf():
    net = tiny_net()
    decay, no_decay = split_decay_parameters(net, "conv_kernels")
    assert [id(p) for p in decay] == [id(net[0].weight)]  # not biases, BN, nor the final classifier
    assert {id(p) for p in no_decay} == {id(p) for p in net.parameters()} - {id(net[0].weight)}


def test_l2_conv_kernels_on_movinet_excludes_final_classifier():
    from movinet import create_model

    model = create_model("movinet_a0_base", num_classes=3)
    decay, _ = split_decay_parameters(model, "conv_kernels")
    ids = {id(p) for p in decay}
    assert id(model.classifier.logits.weight) not in ids
    assert id(model.classifier.hidden.weight) in ids
    assert all(p.dim() == 5 for p in decay)  # only conv kernels
    assert not any(id(m.weight) in ids for m in model.modules() if isinstance(m, nn.BatchNorm3d))


def test_build_optimizer_groups_and_kinds():
    net = tiny_net()
    cfg = OptimizerConfig(name="rmsprop", weight_decay=1e-3, l2_params="conv_kernels")
    optimizer = build_optimizer(net, cfg, lr=0.2)
    assert isinstance(optimizer, RMSPropTF)
    assert [g["weight_decay"] for g in optimizer.param_groups] == [1e-3, 0.0]
    assert all(g["lr"] == 0.2 for g in optimizer.param_groups)
    assert isinstance(build_optimizer(net, OptimizerConfig(name="sgd"), lr=0.1), torch.optim.SGD)
    adamw = build_optimizer(net, OptimizerConfig(name="adamw", eps=1e-8), lr=0.1)
    assert isinstance(adamw, torch.optim.AdamW) and adamw.param_groups[0]["eps"] == 1e-8


def test_clip_per_param_like_keras_clipnorm():
    big, small = nn.Parameter(torch.zeros(2)), nn.Parameter(torch.zeros(2))
    big.grad, small.grad = torch.tensor([3.0, 4.0]), torch.tensor([0.3, 0.4])
    norm = clip_gradients([big, small], 1.0, "per_param")
    assert big.grad.tolist() == pytest.approx([0.6, 0.8])
    assert small.grad.tolist() == pytest.approx([0.3, 0.4])  # already below the limit: untouched
    assert norm == pytest.approx(math.sqrt(25 + 0.25))


def test_clip_global():
    a, b = nn.Parameter(torch.zeros(2)), nn.Parameter(torch.zeros(2))
    a.grad, b.grad = torch.tensor([3.0, 4.0]), torch.tensor([0.0, 0.0])
    clip_gradients([a, b], 1.0, "global")
    assert a.grad.tolist() == pytest.approx([0.6, 0.8], rel=1e-5)
