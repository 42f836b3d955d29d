"""Optimizers of the MoViNet recipes and gradient clipping.

`RMSPropTF` is RMSProp as TensorFlow (`ResourceApplyRMSProp`) and Paddle (`RMSProp`, centered=False)
define it, which differs from `torch.optim.RMSprop` in two ways that matter with the recipes'
eps = 1.0: eps sits inside the square root, and the learning rate is applied inside the momentum
buffer:

    r = rho * r + (1 - rho) * g^2
    v = momentum * v + lr * g / sqrt(r + eps)
    w = w - v

L2 regularisation is "coupled": `weight_decay * w` is added to the gradient before the update, either
on every parameter (PaddleVideo `L2Decay(3e-5)`) or on conv/linear kernels only except the final
classifier layer (TF Model Garden, whose Keras `l2(1.5e-5)` has gradient 3e-5 * w).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import nn

from movinet.engine.config import OptimizerConfig


class RMSPropTF(torch.optim.Optimizer):
    """RMSProp with eps inside the sqrt and lr inside the momentum (TF / Paddle rule).

    Args:
        params: parameters or parameter groups.
        lr: learning rate (the training loop sets it before every step).
        rho: decay of the mean square `r`.
        momentum: momentum of the update buffer `v` (0 = plain RMSProp).
        eps: added to `r` inside the square root.
        weight_decay: coupled L2 coefficient c: the gradient becomes g + c * w.

    Slots start at zero (as Paddle and Keras; TF1's RMSPropOptimizer started `r` at one).
    """

    def __init__(
        self,
        params: Iterable[torch.Tensor] | Iterable[dict],
        lr: float = 0.01,
        rho: float = 0.9,
        momentum: float = 0.9,
        eps: float = 1.0,
        weight_decay: float = 0.0,
    ) -> None:
        if lr < 0 or eps <= 0 or not 0 <= rho < 1 or momentum < 0 or weight_decay < 0:
            raise ValueError(
                f"invalid RMSProp settings lr={lr}, rho={rho}, momentum={momentum}, eps={eps}, "
                f"weight_decay={weight_decay}; need lr >= 0, eps > 0, 0 <= rho < 1, momentum >= 0"
            )
        defaults = dict(lr=lr, rho=rho, momentum=momentum, eps=eps, weight_decay=weight_decay)
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor] | None = None) -> torch.Tensor | None:
        """Apply one update to every parameter that has a gradient."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for param in group["params"]:
                if param.grad is None:
                    continue
                self._update(param, group)
        return loss

    def _update(self, param: torch.Tensor, group: dict) -> None:
        grad = param.grad
        if grad.is_sparse:
            raise ValueError("RMSPropTF does not support sparse gradients; use dense embeddings")
        if group["weight_decay"]:
            grad = grad.add(param, alpha=group["weight_decay"])
        state = self.state[param]
        if not state:
            state["square_avg"] = torch.zeros_like(param, memory_format=torch.preserve_format)
            state["momentum_buffer"] = torch.zeros_like(param, memory_format=torch.preserve_format)
        square_avg = state["square_avg"]
        square_avg.mul_(group["rho"]).addcmul_(grad, grad, value=1.0 - group["rho"])
        denom = square_avg.add(group["eps"]).sqrt_()
        if group["momentum"] > 0:
            buffer = state["momentum_buffer"]
            buffer.mul_(group["momentum"]).addcdiv_(grad, denom, value=group["lr"])
            param.sub_(buffer)
        else:
            param.addcdiv_(grad, denom, value=-group["lr"])


def final_classifier_layer(model: nn.Module) -> nn.Module | None:
    """The layer producing the logits: `model.get_classifier()` if the model has one, else the
    last Conv/Linear module in registration order."""
    getter = getattr(model, "get_classifier", None)
    if callable(getter):
        layer = getter()
        if isinstance(layer, nn.Module):
            return layer
    layers = [m for m in model.modules() if isinstance(m, (nn.Linear, nn.modules.conv._ConvNd))]
    return layers[-1] if layers else None


def split_decay_parameters(model: nn.Module, l2_params: str) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """Split trainable parameters into (decayed, not decayed).

    Args:
        model: the network (unwrapped, not DDP).
        l2_params: "all" (every parameter decayed) or "conv_kernels" (weights of conv/linear layers
            only, and not the final classifier layer's, as TF Model Garden's MoViNet).
    """
    trainable = [p for p in model.parameters() if p.requires_grad]
    if l2_params == "all":
        return trainable, []
    if l2_params != "conv_kernels":
        raise ValueError(f"optimizer.l2_params must be 'all' or 'conv_kernels', got {l2_params!r}")
    classifier = final_classifier_layer(model)
    excluded = {id(p) for p in classifier.parameters()} if classifier is not None else set()
    kernels = {
        id(m.weight)
        for m in model.modules()
        if isinstance(m, (nn.Linear, nn.modules.conv._ConvNd)) and id(m.weight) not in excluded
    }
    decay = [p for p in trainable if id(p) in kernels]
    no_decay = [p for p in trainable if id(p) not in kernels]
    return decay, no_decay


def build_optimizer(model: nn.Module, cfg: OptimizerConfig, lr: float) -> torch.optim.Optimizer:
    """Create the optimizer of `cfg` with weight decay only on the parameters `cfg.l2_params` names.

    Args:
        model: the network (unwrapped).
        cfg: the `optimizer:` section.
        lr: initial learning rate (the schedule overwrites it before every step).
    """
    decay, no_decay = split_decay_parameters(model, cfg.l2_params)
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}]
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0})
    if cfg.name == "rmsprop":
        return RMSPropTF(groups, lr=lr, rho=cfg.rho, momentum=cfg.momentum, eps=cfg.eps)
    if cfg.name == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=cfg.momentum, nesterov=cfg.nesterov)
    if cfg.name == "adamw":
        return torch.optim.AdamW(groups, lr=lr, betas=(cfg.betas[0], cfg.betas[1]), eps=cfg.eps)
    raise ValueError(f"optimizer.name must be one of rmsprop, sgd, adamw; got {cfg.name!r}")


def set_learning_rate(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Set the same learning rate on every parameter group."""
    for group in optimizer.param_groups:
        group["lr"] = lr


def clip_gradients(parameters: Iterable[nn.Parameter], max_norm: float, mode: str = "global") -> float:
    """Clip gradients in place and return the global gradient norm before clipping.

    Args:
        parameters: the model parameters.
        max_norm: the largest allowed L2 norm.
        mode: "global" (one norm over all gradients, `torch.nn.utils.clip_grad_norm_`) or "per_param"
            (every gradient clipped on its own, Keras `clipnorm` as in the TF MoViNet recipes).
    """
    grads = [p for p in parameters if p.grad is not None]
    if not grads:
        return 0.0
    if mode == "global":
        return float(nn.utils.clip_grad_norm_(grads, max_norm))
    if mode != "per_param":
        raise ValueError(f"optimizer.clip_mode must be 'global' or 'per_param', got {mode!r}")
    norms = torch.stack([torch.linalg.vector_norm(p.grad.detach().float()) for p in grads])
    # tf.clip_by_norm: g * max_norm / max(|g|, max_norm), i.e. untouched when already small enough.
    scales = max_norm / norms.clamp(min=max_norm)
    for param, scale in zip(grads, scales):
        param.grad.mul_(scale.to(param.grad.dtype))
    return float(torch.linalg.vector_norm(norms))
