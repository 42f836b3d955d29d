"""The MoViNet network: one class for the official base/stream models and PaddleVideo's A0.

Mirrors TF Model Garden `movinet.Movinet` + `movinet_model.MovinetClassifier` (arXiv 2103.11511).
Layout (B, 3, T, H, W). The official and PaddleVideo flavours differ only in options: padding rule,
BN epsilon, activations, SE type, (2+1)D factorisation and causality.

Streaming (causal models only):
    state = model.init_state(batch_size=1, height=172, width=172)
    for clip in video.split(1, dim=2):
        logits, state = model.stream_step(clip, state)
The last logits equal `model(video)` up to float error; the module itself is never mutated.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from movinet.models.layers import (
    BottleneckLayer,
    ConvBlock,
    State,
    TemporalAveragePool,
    apply_conv_block,
    conv_block_state_shapes,
    init_weights,
    make_activation,
    make_conv_block,
    make_divisible,
)
from movinet.models.specs import ArchSpec, Triple

MIN_FRAME_SIZE = 32  # five stride-2 stages: smaller frames vanish before the head


class Head(nn.Module):
    """1x1x1 projection conv + BN + act, then the (running) average over T, H, W."""

    def __init__(self, in_channels: int, out_channels: int, activation: str, bn_eps: float, bn_momentum: float) -> None:
        super().__init__()
        self.project = ConvBlock(in_channels, out_channels, activation=activation, bn_eps=bn_eps, bn_momentum=bn_momentum)
        self.pool = TemporalAveragePool(causal=False)

    def forward(self, x: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        """x: (B, C, T, H, W) -> ((B, C_proj, 1, 1, 1), new state entries)."""
        x = self.project(x)
        return self.pool(x.mean(dim=(3, 4), keepdim=True), state)


class Classifier(nn.Module):
    """TF `ClassifierHead`: 1x1x1 conv to the hidden width + act, dropout, 1x1x1 conv to classes."""

    def __init__(self, in_channels: int, hidden_channels: int, num_classes: int, activation: str, dropout: float) -> None:
        super().__init__()
        self.hidden = nn.Conv3d(in_channels, hidden_channels, 1, bias=True)
        self.act = make_activation(activation)
        self.dropout = nn.Dropout(dropout)
        self.logits = nn.Conv3d(hidden_channels, num_classes, 1, bias=True)
        nn.init.normal_(self.logits.weight, std=0.01)
        nn.init.zeros_(self.logits.bias)

    def forward(self, x: Tensor) -> Tensor:
        """x: (B, C, 1, 1, 1) -> (B, num_classes)."""
        return self.logits(self.dropout(self.act(self.hidden(x)))).flatten(1)


class MoViNet(nn.Module):
    """MoViNet video classifier.

    Args:
        spec: architecture table (`movinet.models.specs.ARCH_SPECS`).
        num_classes: classifier outputs.
        causal: causal temporal padding and cumulative pooling; enables `stream_step`.
        conv_type: "3d" or "2plus1d" (spatial then temporal depthwise convs, two BNs).
        se_type: "3d", "2d", "2plus3d" or "none".
        activation / gating_activation / classifier_activation: TF activation names.
        positional_encoding: add the sinusoidal frame encoding in SE (official A3-A5 streams).
        dropout: classifier dropout rate.
        stochastic_depth: final drop-path rate; layer i of L gets rate * i / L (TF rule).
        paddings: None for TF SAME everywhere, or (stem padding, per-layer (conv, pool) paddings)
            for PaddleVideo's explicit symmetric padding.
        bn_eps / bn_momentum: BatchNorm epsilon and PyTorch momentum (TF 0.99 decay = 0.01).
        se_hidden_channels: per-layer SE hidden widths overriding the TF rule (older checkpoints).
    """

    def __init__(
        self,
        spec: ArchSpec,
        *,
        num_classes: int = 600,
        causal: bool = False,
        conv_type: str = "3d",
        se_type: str = "3d",
        activation: str = "swish",
        gating_activation: str = "sigmoid",
        classifier_activation: str = "swish",
        positional_encoding: bool = False,
        dropout: float = 0.2,
        stochastic_depth: float = 0.0,
        paddings: tuple[Triple, Sequence[tuple[Triple, Triple | None]]] | None = None,
        bn_eps: float = 1e-3,
        bn_momentum: float = 0.01,
        se_hidden_channels: Sequence[int] | None = None,
    ) -> None:
        super().__init__()
        if conv_type not in ("3d", "2plus1d"):
            raise ValueError(f"conv_type must be '3d' or '2plus1d', got {conv_type!r}")
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        if se_hidden_channels is not None and len(se_hidden_channels) != spec.num_layers:
            raise ValueError(f"se_hidden_channels needs {spec.num_layers} entries, got {len(se_hidden_channels)}")
        self.spec, self.num_classes, self.causal = spec, num_classes, causal
        bn = dict(bn_eps=bn_eps, bn_momentum=bn_momentum)
        factorize = conv_type == "2plus1d"
        stem_padding, layer_paddings = paddings if paddings is not None else (None, None)

        self.stem = make_conv_block(3, spec.stem_channels, spec.stem_kernel, spec.stem_stride, causal=causal,
                                    factorize=factorize, activation=activation, padding=stem_padding, **bn)
        se_multiplier = 2 if se_type == "2plus3d" else 1
        stages, in_channels, index = [], spec.stem_channels, 0
        for stage in spec.stages:
            layers = []
            for layer in stage.layers:
                conv_pad, pool_pad = layer_paddings[index] if layer_paddings is not None else (None, None)
                hidden = (se_hidden_channels[index] if se_hidden_channels is not None
                          else make_divisible(0.25 * layer.expand_channels * se_multiplier, 8))
                index += 1
                layers.append(BottleneckLayer(
                    in_channels, stage.out_channels, layer.expand_channels, layer.kernel_size, layer.stride,
                    se_hidden_channels=hidden, causal=causal, factorize=factorize, se_type=se_type,
                    activation=activation, gating_activation=gating_activation,
                    positional_encoding=positional_encoding, drop_path=stochastic_depth * index / spec.num_layers,
                    padding=conv_pad, pool_padding=pool_pad, **bn))
                in_channels = stage.out_channels
            stages.append(nn.ModuleList(layers))
        self.blocks = nn.ModuleList(stages)
        self.head = Head(in_channels, spec.head_channels, activation, **bn)
        self.classifier = Classifier(spec.head_channels, spec.hidden_channels, num_classes, classifier_activation, dropout)
        self.num_features = spec.head_channels
        # None for the training form; "eager", "onnx" or "litert" once `optimize_for_inference` folded its leaves.
        self.inference_target: str | None = None
        self.min_frame_size = self._smallest_valid_frame_size()
        if not self.classifier.logits.weight.is_meta:  # meta models (shape/MAC queries) need no init
            init_weights(self)
            nn.init.normal_(self.classifier.logits.weight, std=0.01)
        for name, module in self.named_modules():
            if hasattr(module, "state_prefix"):
                module.state_prefix = name

    # ----------------------------------------------------------------------------------------
    @property
    def is_causal(self) -> bool:
        return self.causal

    def _layers(self) -> list[BottleneckLayer]:
        return [layer for stage in self.blocks for layer in stage]

    def _spatial_sizes(self, size: int) -> list[int]:
        """Feature-map side after the stem and after every layer, for square frames of `size`."""
        sizes = [self.stem.output_size(size, size)[0]]
        for layer in self._layers():
            sizes.append(layer.output_size(sizes[-1], sizes[-1])[0])
            if layer.skip is not None and layer.skip.pool is not None:
                sizes.append(layer.skip.pool.output_size(sizes[-2], sizes[-2])[0])
        return sizes

    def _smallest_valid_frame_size(self) -> int:
        """Smallest frame side (>= MIN_FRAME_SIZE) for which no feature map vanishes."""
        size = MIN_FRAME_SIZE
        while min(self._spatial_sizes(size)) < 1:
            size += 1
        return size

    def _check_video(self, video: Tensor) -> None:
        if not isinstance(video, Tensor):
            raise ValueError(f"expected a torch.Tensor video of shape (B, 3, T, H, W), got {type(video).__name__}")
        if video.dim() != 5:
            raise ValueError(f"expected a 5-D video (B, 3, T, H, W), got shape {tuple(video.shape)}; "
                             "add a batch dimension with video[None] or permute (B, T, H, W, 3) inputs")
        if video.shape[1] != 3:
            raise ValueError(f"expected 3 RGB channels in dim 1 of (B, 3, T, H, W), got shape {tuple(video.shape)}")
        if not video.is_floating_point():
            raise ValueError(f"expected a floating-point video, got {video.dtype}; convert uint8 frames first")
        if video.shape[2] < 1 or min(video.shape[3], video.shape[4]) < self.min_frame_size:
            raise ValueError(f"frames must be at least {self.min_frame_size}x{self.min_frame_size} px with T >= 1, "
                             f"got T x H x W = {tuple(video.shape[2:])}")

    def forward_features(self, video: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        """video (B, 3, T, H, W) -> (pooled features (B, C_proj, 1, 1, 1), new state entries)."""
        x, new_state = apply_conv_block(self.stem, video, state)
        for stage in self.blocks:
            for layer in stage:
                x, layer_state = layer(x, state)
                new_state.update(layer_state)
        x, head_state = self.head(x, state)
        new_state.update(head_state)
        return x, new_state

    def forward_head(self, features: Tensor) -> Tensor:
        """(B, C_proj, 1, 1, 1) -> logits (B, num_classes)."""
        return self.classifier(features)

    def forward(self, video: Tensor) -> Tensor:
        """Whole-clip logits. video: (B, 3, T, H, W) float -> (B, num_classes).

        A causal model starts from an empty (zero) state, exactly like a fresh stream.
        """
        self._check_video(video)
        return self.forward_head(self.forward_features(video)[0])

    def stream_step(self, clip: Tensor, state: State) -> tuple[Tensor, State]:
        """Run a chunk of a stream. clip: (B, 3, t, H, W), any t >= 1.

        Returns (logits after the last frame of the chunk (B, num_classes), new state). The input
        state dict is not modified; missing entries count as zeros (a fresh stream).
        """
        if not self.causal:
            raise ValueError("stream_step needs a causal model: this one sees the whole clip at once. Use a "
                             "'*_stream' model, or create_model(name, causal=True) for a causal 3D variant")
        if not isinstance(state, dict):
            raise ValueError(f"state must be a dict of tensors (see init_state), got {type(state).__name__}")
        self._check_video(clip)
        features, updates = self.forward_features(clip, state)
        return self.forward_head(features), {**state, **updates}

    def state_shapes(self, batch_size: int, height: int, width: int) -> dict[str, tuple[tuple[int, ...], torch.dtype]]:
        """Name -> (shape, dtype) of every stream state tensor for frames of height x width."""
        if not self.causal:
            raise ValueError("only causal models have a stream state")
        shapes = conv_block_state_shapes(self.stem, batch_size, height, width)
        height, width = self.stem.output_size(height, width)
        for layer in self._layers():
            shapes.update(layer.state_shapes(batch_size, height, width))
            height, width = layer.output_size(height, width)
        shapes.update(self.head.pool.state_shapes(batch_size, self.num_features))
        return shapes

    def init_state(self, batch_size: int = 1, height: int = 172, width: int = 172) -> State:
        """Zero stream state (a fresh stream) for frames of height x width."""
        if min(height, width) < self.min_frame_size or batch_size < 1:
            raise ValueError(f"need batch_size >= 1 and frames of at least {self.min_frame_size} px, "
                             f"got batch {batch_size}, {height}x{width}")
        like = next(self.buffers()) if self.inference_target else next(self.parameters())
        return {name: torch.zeros(shape, dtype=like.dtype if dtype == torch.float32 else dtype, device=like.device)
                for name, (shape, dtype) in self.state_shapes(batch_size, height, width).items()}

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the final classifier conv (fine-tuning on a new label set)."""
        if self.inference_target:
            raise ValueError("this is the inference form of a model (optimize_for_inference): fine-tune the "
                             "training model, then convert it again")
        hidden = self.classifier.hidden.out_channels
        self.classifier.logits = nn.Conv3d(hidden, num_classes, 1, bias=True).to(self.classifier.hidden.weight.device)
        nn.init.normal_(self.classifier.logits.weight, std=0.01)
        nn.init.zeros_(self.classifier.logits.bias)
        self.num_classes = num_classes
