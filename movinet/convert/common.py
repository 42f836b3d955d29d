"""What the TF and PaddleVideo converters share: layer paths, the target tensors, the final check."""

from __future__ import annotations

import torch

from movinet.models.movinet import MoViNet
from movinet.models.specs import ArchSpec


class ConversionError(ValueError):
    """The weights do not match the requested model."""


def layer_paths(spec: ArchSpec) -> list[str]:
    """Module paths of the bottleneck layers in order (TF block{b}_layer{l}, Paddle blocks.{k})."""
    return [f"blocks.{b}.{l}" for b, stage in enumerate(spec.stages) for l in range(len(stage.layers))]


def expected_tensors(model: MoViNet) -> dict[str, torch.Tensor]:
    """Every tensor a converted file must provide (BN batch counters excepted)."""
    return {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}


def check_complete(model_name: str, source: str, expected: dict[str, torch.Tensor],
                   state: dict[str, torch.Tensor], problems: list[str]) -> None:
    """Raise one ConversionError naming unmatched inputs and model tensors left without a value."""
    missing = sorted(set(expected) - set(state))
    if missing:
        problems.append(f"{len(missing)} {model_name} tensors have no {source}: {missing[:10]}")
    if problems:
        raise ConversionError("cannot convert to " + model_name + ":\n  " + "\n  ".join(problems[:20]))
