"""The model zoo: one `ModelInfo` per registered name, and `build_model`.

Official TF Model Garden models (`movinet_{a0..a5,t0}_{base,stream}`) and PaddleVideo's A0
(`movinet_a0_paddle`). Per-variant facts (eval input size, activations, positional encoding,
normalisation) live here, next to the names; the layer tables live in `specs.py`.
"""

from __future__ import annotations

import difflib
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from movinet.models.specs import ARCH_SPECS, PADDLE_A0_PADDINGS, PADDLE_STEM_PADDING

if TYPE_CHECKING:
    from movinet.models.movinet import MoViNet


@dataclass(frozen=True)
class ModelInfo:
    """Everything that distinguishes one registered model from another."""

    name: str
    arch: str  # key of ARCH_SPECS
    family: str  # "official" (TF Model Garden) or "paddle" (PaddleVideo)
    causal: bool
    conv_type: str
    se_type: str
    activation: str
    gating_activation: str
    classifier_activation: str
    positional_encoding: bool
    num_classes: int
    input_size: tuple[int, int, int]  # (frames, height, width) of the reference evaluation
    resize: int  # eval: shorter side resized to this before the centre crop
    normalize: str  # "unit" (RGB in [0, 1]) or "imagenet" (mean/std)
    dropout: float
    labels: str  # label set name: "kinetics600" | "kinetics400"
    model_kwargs: dict[str, Any] = field(default_factory=dict)  # extra MoViNet arguments

    @property
    def kind(self) -> str:
        return "stream" if self.causal else "base"


# Eval clip (frames, size) and resize per official variant (TF README + yaml `min_image_size`).
_OFFICIAL_INPUTS = {
    "a0": ((50, 172, 172), 192), "a1": ((50, 172, 172), 192), "a2": ((50, 224, 224), 256),
    "a3": ((120, 256, 256), 288), "a4": ((80, 290, 290), 320), "a5": ((120, 320, 320), 368),
    "t0": ((25, 160, 160), 192),
}
_BASE_DROPOUT = {"a0": 0.2, "t0": 0.2}
_STREAM_DROPOUT = {"a0": 0.2, "a1": 0.2, "t0": 0.2}


def _official(arch: str, stream: bool) -> ModelInfo:
    input_size, resize = _OFFICIAL_INPUTS[arch]
    return ModelInfo(
        name=f"movinet_{arch}_{'stream' if stream else 'base'}",
        arch=arch, family="official", causal=stream,
        conv_type="2plus1d" if stream else "3d",
        se_type="2plus3d" if stream else "3d",
        activation="hard_swish" if stream else "swish",
        gating_activation="hard_sigmoid" if stream else "sigmoid",
        classifier_activation="swish",
        positional_encoding=stream and arch in ("a3", "a4", "a5"),
        num_classes=600, input_size=input_size, resize=resize, normalize="unit",
        dropout=(_STREAM_DROPOUT if stream else _BASE_DROPOUT).get(arch, 0.5),
        labels="kinetics600",
    )


MODELS: dict[str, ModelInfo] = {
    info.name: info
    for arch in ("a0", "a1", "a2", "a3", "a4", "a5", "t0")
    for info in (_official(arch, False), _official(arch, True))
}
MODELS["movinet_a0_paddle"] = ModelInfo(
    name="movinet_a0_paddle", arch="a0", family="paddle", causal=False, conv_type="3d", se_type="3d",
    activation="swish", gating_activation="sigmoid", classifier_activation="swish",
    positional_encoding=False, num_classes=400, input_size=(50, 172, 172), resize=192,
    normalize="imagenet", dropout=0.2, labels="kinetics400",
    # PaddleVideo: explicit symmetric padding, Paddle's BN epsilon 1e-5. Paddle's momentum=0.1 is
    # the weight of the *old* statistic; the PyTorch port it came from meant PyTorch's 0.1.
    model_kwargs={"paddings": (PADDLE_STEM_PADDING, PADDLE_A0_PADDINGS), "bn_eps": 1e-5, "bn_momentum": 0.1},
)


def list_models(pattern: str = "*") -> list[str]:
    """Registered model names matching a glob pattern, e.g. list_models('*stream')."""
    import fnmatch

    return sorted(name for name in MODELS if fnmatch.fnmatch(name, pattern))


def get_model_info(name: str) -> ModelInfo:
    """The registry entry for `name`; a ValueError suggests close names when unknown."""
    if name not in MODELS:
        close = difflib.get_close_matches(str(name), MODELS, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ValueError(f"unknown model {name!r}{hint} Known models: {', '.join(list_models())}")
    return MODELS[name]


def build_model(info: ModelInfo, *, num_classes: int | None = None, dropout: float | None = None,
                stochastic_depth: float | None = None, causal: bool | None = None,
                se_hidden_channels: list[int] | None = None) -> MoViNet:
    """Instantiate the architecture of `info` with random weights."""
    from movinet.models.movinet import MoViNet  # torch is imported only when a model is built

    return MoViNet(
        ARCH_SPECS[info.arch],
        num_classes=num_classes if num_classes is not None else info.num_classes,
        causal=info.causal if causal is None else causal,
        conv_type=info.conv_type, se_type=info.se_type, activation=info.activation,
        gating_activation=info.gating_activation, classifier_activation=info.classifier_activation,
        positional_encoding=info.positional_encoding,
        dropout=info.dropout if dropout is None else dropout,
        stochastic_depth=0.0 if stochastic_depth is None else stochastic_depth,
        se_hidden_channels=se_hidden_channels,
        **info.model_kwargs,
    )


def describe(info: ModelInfo) -> dict[str, Any]:
    """A JSON-friendly summary of a registry entry."""
    out = asdict(info)
    out.pop("model_kwargs")
    out["kind"] = info.kind
    return out
