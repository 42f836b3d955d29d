"""Training the classifier alone: a frozen backbone (`train.freeze_backbone_epochs`).

Fine-tuning a pretrained MoViNet on new classes starts with a random classifier whose large early
gradients would push the pretrained features around; training the classifier alone first (the
backbone's weights fixed, its BatchNorm statistics, dropout and stochastic depth in evaluation mode)
lets the new head settle, after which the whole network trains. With the backbone's parameters not
requiring gradients, autograd records nothing below the classifier, so a frozen epoch costs about
one forward pass per clip.

The optimizer is built over every parameter before any freezing; a frozen parameter simply gets no
gradient and is skipped by the optimizer's step.
"""

from __future__ import annotations

from torch import nn


def _classifier_of(model: nn.Module) -> nn.Module:
    classifier = getattr(model, "classifier", None)
    if not isinstance(classifier, nn.Module):
        raise ValueError(f"{type(model).__name__} has no `classifier` module to train alone; set "
                         "train.freeze_backbone_epochs: 0")
    return classifier


def backbone_modules(model: nn.Module) -> list[nn.Module]:
    """The top-level modules of `model` other than its classifier (stem, blocks, head for a MoViNet)."""
    classifier = _classifier_of(model)
    return [module for module in model.children() if module is not classifier]


def set_backbone_trainable(model: nn.Module, trainable: bool) -> None:
    """Let the backbone's parameters receive gradients (True) or not (False); the classifier's always do."""
    for module in backbone_modules(model):
        for parameter in module.parameters():
            parameter.requires_grad_(trainable)


def hold_backbone(model: nn.Module) -> None:
    """Put the backbone in evaluation mode (BN statistics fixed, no dropout or stochastic depth),
    after `model.train()` has put everything in training mode."""
    for module in backbone_modules(model):
        module.eval()


def backbone_frozen(epoch: int, freeze_backbone_epochs: int) -> bool:
    """Whether the backbone is frozen in (0-based) `epoch`."""
    return epoch < freeze_backbone_epochs
