"""Folded leaves: the inference form of each training leaf, with its signature and state keys.

`movinet.models.optimize.optimize_for_inference` swaps these in for the leaves of a copy of a
trained `MoViNet`; the network's own `forward`, `stream_step` and `init_state` run them. What is
folded when a leaf is built (exact up to float rounding):
  * every BatchNorm into the weight and bias of the conv before it (`fold_batchnorm`), and the
    ReZero scalar of a layer into its projection (the optimizer scales that BN first);
  * the hard-sigmoid gate's `+3` and `x0.16667` into the SE expand weights (a clamp remains);
  * the SAME padding of each conv and pool, resolved once per frame size (`SpatialPadding`).
How they run (parts inside a leaf are called by `.forward`, without the module-call machinery,
which costs as much as a small op on a per-frame path):
  * A clip between leaves keeps the training form's (B, C, T, H, W) shape, stored channels-last-3d
    (C innermost), so its frames are a free (B*T, C, H, W) channels-last view (`frames_of`): every
    1x1 and spatial conv is a 2D conv on the frames, a (kt, kh, kw) conv one channels-last 3D conv.
  * One frame (a clip with T == 1) goes from leaf to leaf as a (B, C, H, W) map (`one_frame`):
    every leaf takes either form and returns a frame as a map, so a stream step (and its exported
    graph) is a plain 2D network; the causal block's one-frame path computes its temporal
    depthwise conv as a weighted sum of the buffered frames (a grouped 1x1 conv in a graph). The
    network's `forward_features` still returns the head's (B, C, 1, 1, 1).
  * Kernels are chosen when converting, by `target` (`TARGETS`): "eager" PyTorch gets 1x1 convs of
    small batches as one matmul, border-only zero padding and shortcut window sums as a depthwise
    conv of ones; "onnx" gets one plain node for each (grouped convs, average pools, pads);
    "litert" keeps every frame-sized tensor a 4D map that LiteRT's converter lays out NHWC (zero
    borders by concatenation, buffered frames sliced channels-last, window sums as a depthwise
    conv of ones), so its graph needs no transposes.
Stream buffers come out channels-last-3d; their shapes, dtypes and values are the training form's,
so a stream can move between the two forms at any frame.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from movinet.models.layers import (
    CausalConvBlock,
    ConvBNActivation,
    HardSigmoid,
    HardSwish,
    Skip,
    SqueezeExcite,
    State,
    same_padding,
    squeeze_frames,
)
from movinet.models.movinet import Classifier, Head

TARGETS = ("eager", "onnx", "litert")
HARD_SIGMOID_SLOPE = 0.16667  # TF's literal (see layers.HardSigmoid)
ONEDNN_MIN_BATCH = 16  # from this batch on PyTorch runs 1x1 convs in oneDNN (see FoldedConv2d._matmul)
StateShapes = dict[str, tuple[tuple[int, ...], torch.dtype]]


# ------------------------------------------------------------------------------------------------
# Arithmetic and layout helpers


def fold_batchnorm(conv: nn.Conv3d, bn: nn.BatchNorm3d) -> tuple[Tensor, Tensor]:
    """Weight and bias of conv -> BN (eval statistics) as one conv.

    y = gamma * (conv(x) - mean) / sqrt(var + eps) + beta == conv'(x) with W' = W * s and
    b' = beta - mean * s (+ b * s), s = gamma / sqrt(var + eps) per output channel.
    Returns detached copies: weight (C_out, C_in/g, kt, kh, kw) and bias (C_out,).
    """
    with torch.no_grad():
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        bias = bn.bias - bn.running_mean * scale
        if conv.bias is not None:
            bias = bias + conv.bias * scale
        return (conv.weight * scale.view(-1, 1, 1, 1, 1)).detach().clone(), bias.detach().clone()


def activation_name(module: nn.Module) -> str | None:
    """The TF name of a training-form activation module (`layers.make_activation`)."""
    names = {nn.Identity: None, nn.SiLU: "swish", HardSwish: "hard_swish", nn.Sigmoid: "sigmoid",
             HardSigmoid: "hard_sigmoid", nn.ReLU: "relu"}
    if type(module) not in names:
        raise ValueError(f"optimize_for_inference does not know the activation {type(module).__name__}")
    return names[type(module)]


def activate_(x: Tensor, name: str | None) -> Tensor:
    """The activation `name`, in place on a fresh tensor (x * relu6(x + 3) / 6 for hard swish)."""
    if name == "swish":
        return F.silu(x, inplace=True)
    if name == "hard_swish":
        return F.hardswish(x, inplace=True)
    if name == "relu":
        return F.relu(x, inplace=True)
    if name == "sigmoid":
        return torch.sigmoid_(x)
    if name == "hard_sigmoid":
        return F.relu6(x.add_(3.0), inplace=True).mul_(HARD_SIGMOID_SLOPE)
    return x


def one_frame(x: Tensor) -> Tensor:
    """A one-frame clip (B, C, 1, H, W) as the (B, C, H, W) map folded leaves pass a frame as;
    a map or a longer clip as it is."""
    return x.squeeze(2) if x.dim() == 5 and x.shape[2] == 1 else x


def frames_of(clip: Tensor) -> Tensor:
    """(B, C, T, H, W) -> (B*T, C, H, W): a free view of a channels-last-3d clip."""
    return clip.transpose(1, 2).reshape(-1, *clip.shape[1:2], *clip.shape[3:])


def video_of(frames: Tensor, batch: int) -> Tensor:
    """(B*T, C, H, W) -> (B, C, T, H, W): the inverse view of `frames_of`."""
    return frames.reshape(batch, -1, *frames.shape[1:]).transpose(1, 2)


def frame_means(x: Tensor, target: str) -> Tensor:
    """A clip (B, C, T, H, W) or a frame (B, C, H, W) -> (B, C, T, 1, 1) spatial means (T = 1 for a
    frame). Eagerly a global average pool of the channels-last frames (on channels-last-3d data
    several times faster than `x.mean((3, 4))`); in a graph a global average pool of a frame (a
    4D mean for LiteRT, which lays that out NHWC), a clip's mean over H and W."""
    if x.dim() == 4:
        means = x.mean(dim=(2, 3), keepdim=True) if target == "litert" else F.adaptive_avg_pool2d(x, 1)
        return means.unsqueeze(2)
    if target != "eager":
        return x.mean(dim=(3, 4), keepdim=True)
    return video_of(F.adaptive_avg_pool2d(frames_of(x), 1), x.shape[0])


def channels_last_zeros(shape: tuple[int, ...], like: Tensor) -> Tensor:
    """Zeros of a (B, C, ...) shape stored channels-last (C innermost), like the stream buffers
    the folded causal blocks return: each buffered frame is then a channels-last (B, C, H, W) view."""
    order = (0, *range(2, len(shape)), 1)
    stored = like.new_zeros([shape[i] for i in order])
    return stored.permute(0, len(shape) - 1, *range(1, len(shape) - 1))


def pad_after(x: Tensor, surplus: tuple[int, int, int, int]) -> Tensor:
    """`F.pad(x, (0, w, 0, h))` (zeros after the last two axes) into a channels-last copy.

    It writes the interior once and zeroes only the new border (F.pad fills the whole tensor
    first: a second pass over tens of MB), whatever the layout of x.
    """
    _, right, _, bottom = surplus
    *lead, height, width = x.shape
    layout = torch.channels_last if x.dim() == 4 else torch.channels_last_3d
    out = torch.empty((*lead, height + bottom, width + right), dtype=x.dtype, device=x.device, memory_format=layout)
    out[..., :height, :width].copy_(x)
    out[..., height:, :].zero_()
    out[..., :height, width:].zero_()
    return out


def pad_surplus(x: Tensor, surplus: tuple[int, int, int, int], target: str) -> Tensor:
    """TF SAME's zeros after the last two axes (`surplus` as for `F.pad`), by the kernels of `target`:
    border-only writes eagerly (`pad_after`), one Pad node for ONNX, concatenated zero rows and
    columns for LiteRT (a Pad is laid out NCHW by its converter, a concatenation NHWC)."""
    if target == "eager":
        return pad_after(x, surplus)
    if target != "litert":
        return F.pad(x, surplus)
    _, right, _, bottom = surplus
    if bottom:
        x = torch.cat([x, x.new_zeros((*x.shape[:-2], bottom, x.shape[-1]))], dim=-2)
    if right:
        x = torch.cat([x, x.new_zeros((*x.shape[:-1], right))], dim=-1)
    return x


class SpatialPadding:
    """The padding rule of one 2D conv or pool: explicit symmetric, or TF SAME (None).

    `resolve(h, w)` gives the symmetric padding the op applies itself and the surplus to pad after
    (TF SAME at stride 2 on an even side), or None; cached per size, so it is fixed for a frame
    size after the first call (and baked into an exported graph).
    """

    def __init__(self, kernel: tuple[int, int], stride: tuple[int, int], explicit: tuple[int, int] | None) -> None:
        self.kernel, self.stride, self.explicit = tuple(kernel), tuple(stride), explicit
        self._cache: dict[tuple[int, int], tuple[tuple[int, int], tuple[int, int, int, int] | None]] = {}

    def pads(self, height: int, width: int) -> tuple[tuple[int, int], tuple[int, int]]:
        """(before, after) for H and W."""
        if self.explicit is not None:
            return (self.explicit[0],) * 2, (self.explicit[1],) * 2  # type: ignore[return-value]
        return (same_padding(height, self.kernel[0], self.stride[0]),
                same_padding(width, self.kernel[1], self.stride[1]))

    def resolve(self, height: int, width: int) -> tuple[tuple[int, int], tuple[int, int, int, int] | None]:
        key = (int(height), int(width))
        if key not in self._cache:
            (h0, h1), (w0, w1) = self.pads(*key)
            surplus = (0, w1 - w0, 0, h1 - h0)
            self._cache[key] = ((h0, w0), surplus if any(surplus) else None)
        return self._cache[key]

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        (h0, h1), (w0, w1) = self.pads(height, width)
        return ((height + h0 + h1 - self.kernel[0]) // self.stride[0] + 1,
                (width + w0 + w1 - self.kernel[1]) // self.stride[1] + 1)


# ------------------------------------------------------------------------------------------------
# Folded convolutions


class FoldedConv2d(nn.Module):
    """A folded 2D conv (+ activation) on every frame: a clip (B, C_in, T, H, W) -> (B, C_out, T, H', W')
    or a frame (B, C_in, H, W) -> (B, C_out, H', W').

    Eagerly, a 1x1 conv of under 16 frames is one matmul (see `_matmul`) and TF SAME's surplus is
    padded border-only (`pad_after`); `lay_out_input` (set on the stem's) first copies its input
    channels-last, padded in the same copy.
    """

    def __init__(self, weight: Tensor, bias: Tensor, stride: tuple[int, int], groups: int,
                 padding: tuple[int, int] | None, activation: str | None, *, target: str) -> None:
        super().__init__()
        self.register_buffer("weight", weight.contiguous())
        self.register_buffer("bias", bias.contiguous())
        self.stride, self.groups, self.activation = tuple(stride), groups, activation
        self.target, self.eager, self.lay_out_input = target, target == "eager", False
        self.out_channels = int(weight.shape[0])
        self.padding = SpatialPadding((weight.shape[2], weight.shape[3]), stride, padding)
        self.pointwise = tuple(weight.shape[2:]) == (1, 1) and self.stride == (1, 1) and groups == 1
        self.matmul_below = ONEDNN_MIN_BATCH if self.pointwise and self.eager else 0
        if self.matmul_below:  # (C_in, C_out) for the matmul form
            self.register_buffer("weight_t", weight[:, :, 0, 0].t().contiguous())

    def forward(self, x: Tensor, padded: tuple[int, int] | None = None) -> Tensor:
        """`padded`: x already carries TF SAME's surplus after (see `FoldedBlock`); the symmetric padding."""
        frames = x.shape[0] if x.dim() == 4 else x.shape[0] * x.shape[2]
        if frames < self.matmul_below:
            return self._matmul(x)
        if x.dim() == 4:
            return self._conv(x, padded)
        if self.pointwise and self.target == "onnx":  # in ONNX: a 1x1x1 3D conv on the clip, no layout change
            return self._conv(x, padded)
        return video_of(self._conv(frames_of(x), padded), x.shape[0])

    def _conv(self, x: Tensor, padded: tuple[int, int] | None = None) -> Tensor:
        """The conv on frames (N, C_in, H, W), or on a whole (B, C_in, T, H, W) clip as a 3D conv
        (a graph's 1x1 convs: ONNX Runtime runs its (1, kh, kw) 3D convs several times slower than
        2D ones on the frames, its 1x1x1 ones as fast as 1x1 convs with the layout changes they need)."""
        pad, surplus = (padded, None) if padded is not None else self.padding.resolve(x.shape[-2], x.shape[-1])
        if surplus is not None:
            x = pad_surplus(x, surplus, self.target)
        elif self.lay_out_input:
            x = x.contiguous(memory_format=torch.channels_last)
        if x.dim() == 5:
            y = F.conv3d(x, self.weight[:, :, None], self.bias, (1, *self.stride), (0, *pad), 1, self.groups)
        else:
            y = F.conv2d(x, self.weight, self.bias, self.stride, pad, 1, self.groups)
        return activate_(y, self.activation)

    def _matmul(self, x: Tensor) -> Tensor:
        """A 1x1 conv as one matmul on the channels-last (pixels, C) view of a frame or a clip.

        For a batch under 16 on one thread PyTorch runs 1x1 convs outside oneDNN, on NCHW copies
        of channels-last inputs and outputs; the matmul needs no copy (a stream frame's case).
        """
        if x.dim() == 4:
            n, c, h, w = x.shape
            y = torch.addmm(self.bias, x.permute(0, 2, 3, 1).reshape(n * h * w, c), self.weight_t)
            return activate_(y, self.activation).view(n, h, w, -1).permute(0, 3, 1, 2)
        b, c, t, h, w = x.shape
        y = torch.addmm(self.bias, x.permute(0, 2, 3, 4, 1).reshape(b * t * h * w, c), self.weight_t)
        return activate_(y, self.activation).view(b, t, h, w, -1).permute(0, 4, 1, 2, 3)

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        return self.padding.output_size(height, width)


class FoldedTimeConv(nn.Module):
    """A folded conv that sees time, (kt, kh, kw) with kt > 1 (+ activation).

    `clip`: (B, C, T, H, W) -> one channels-last 3D conv; a causal conv first prepends its history
    (the stream buffer, or zeros) and also returns the last kt-1 input frames. `frame` (causal
    only): one output frame from the kt-1 buffered frames and the new one: a weighted sum when the
    conv is a (kt, 1, 1) depthwise one (a grouped 1x1 conv over the kt frames side by side in an
    exported graph), else kt 2D convs.
    """

    def __init__(self, weight: Tensor, bias: Tensor, stride: tuple[int, int], groups: int,
                 padding: tuple[int, int] | None, activation: str | None, *, causal: bool, time_padding: int,
                 target: str) -> None:
        super().__init__()
        kt = weight.shape[2]
        self.register_buffer("weight", weight.contiguous())
        self.register_buffer("bias", bias.contiguous())
        self.stride, self.groups, self.activation = tuple(stride), groups, activation
        self.target, self.eager = target, target == "eager"
        self.causal, self.time_padding, self.history_frames = causal, time_padding, kt - 1
        self.in_channels = int(weight.shape[1]) * groups
        self.padding = SpatialPadding((weight.shape[3], weight.shape[4]), stride, padding)
        self.weighted_sum = tuple(weight.shape[3:]) == (1, 1) and groups == weight.shape[0] and weight.shape[1] == 1
        if self.weighted_sum:
            self.register_buffer("taps", weight[:, 0, :, 0, 0].t().reshape(kt, 1, -1, 1, 1).contiguous())
            self.register_buffer("bias4", bias.view(1, -1, 1, 1).contiguous())
            self.register_buffer("group_weight", weight[:, 0].contiguous())  # (C, kt, 1, 1): kt inputs per group
        if not self.weighted_sum or target == "litert":  # 2D kernels per tap: (kt, C_out, C_in/g, kh, kw)
            self.register_buffer("kernels", weight.permute(2, 0, 1, 3, 4).contiguous())

    def clip(self, x: Tensor, history: Tensor | None,
             padded: tuple[int, int] | None = None) -> tuple[Tensor, Tensor | None]:
        """x (B, C, T, H, W) -> (y (B, C_out, T, H', W'), last kt-1 input frames if causal, else None).

        `padded` (not causal): x already carries TF SAME's surplus after; the symmetric padding.
        """
        last = None
        if self.causal:
            if history is None:
                history = channels_last_zeros((x.shape[0], x.shape[1], self.history_frames, *x.shape[3:]), x)
            elif self.eager:
                history = history.contiguous(memory_format=torch.channels_last_3d)
            x = torch.cat([history, x], dim=2)
            last = x[:, :, -self.history_frames:]
            if self.eager:
                last = last.contiguous(memory_format=torch.channels_last_3d)
        pad, surplus = (padded, None) if padded is not None else self.padding.resolve(x.shape[-2], x.shape[-1])
        if surplus is not None:
            x = pad_surplus(x, surplus, self.target)
        if self.target == "litert":
            return self._litert_clip(x, pad), last
        y = F.conv3d(x, self.weight, self.bias, (1, *self.stride), (self.time_padding, *pad), 1, self.groups)
        return activate_(y, self.activation), last

    def _litert_clip(self, x: Tensor, pad: tuple[int, int]) -> Tensor:
        """The 3D conv as a sum over its kt taps of 2D convs of the time-shifted frames: LiteRT's
        converter has no grouped 3D conv. x (B, C, T + kt - 1 - 2 p_t, H, W) -> (B, C_out, T, H', W')."""
        if self.time_padding:
            zeros = x.new_zeros((*x.shape[:2], self.time_padding, *x.shape[3:]))
            x = torch.cat([zeros, x, zeros], dim=2)
        frames, batch = x.shape[2] - self.history_frames, x.shape[0]
        y = None
        for tap in range(self.history_frames + 1):
            out = F.conv2d(frames_of(x[:, :, tap:tap + frames]), self.kernels[tap], self.bias if tap == 0 else None,
                           self.stride, pad, 1, self.groups)
            y = out if y is None else y + out
        return video_of(activate_(y, self.activation), batch)

    def frame(self, x: Tensor, buffer: Tensor | None) -> tuple[Tensor, Tensor]:
        """x (B, C, H, W), buffer (B, C, kt-1, H, W) or None (zeros) -> (y (B, C_out, H', W'), new buffer)."""
        if buffer is None:
            buffer = channels_last_zeros((x.shape[0], x.shape[1], self.history_frames, x.shape[2], x.shape[3]), x)
        if self.weighted_sum and self.target == "litert":
            return self._litert_frame(x, buffer)
        if self.weighted_sum and self.target == "onnx":
            # In a graph: the kt frames side by side as kt channels per group, one grouped 1x1 conv
            # (bias and activation fused by the runtime) instead of kt multiply-adds.
            full = torch.cat([buffer, x.unsqueeze(2)], dim=2)  # (B, C, kt, H, W)
            channels, size = self.group_weight.shape[0], (int(x.shape[2]), int(x.shape[3]))  # fixed per graph
            y = F.conv2d(full.reshape(-1, channels * (self.history_frames + 1), *size), self.group_weight,
                         self.bias, 1, 0, 1, channels)
            return activate_(y, self.activation), full[:, :, 1:]
        if self.weighted_sum:
            y = torch.addcmul(self.bias4, x, self.taps[-1])
            for tap in range(self.history_frames):
                y.addcmul_(buffer[:, :, tap], self.taps[tap])
        else:
            pad, surplus = self.padding.resolve(x.shape[-2], x.shape[-1])
            y = None
            for tap, frame in enumerate([buffer[:, :, tap] for tap in range(self.history_frames)] + [x]):
                if surplus is not None:
                    frame = pad_surplus(frame, surplus, self.target)
                out = F.conv2d(frame, self.kernels[tap], self.bias if tap == 0 else None, self.stride, pad, 1,
                               self.groups)
                y = out if y is None else y.add_(out)
        # Kept channels-last-3d (a state made elsewhere may not be): each frame a channels-last view.
        new_buffer = torch.cat([buffer[:, :, 1:], x.unsqueeze(2)], dim=2)
        if self.eager:
            new_buffer = new_buffer.contiguous(memory_format=torch.channels_last_3d)
        return activate_(y, self.activation), new_buffer

    def _litert_frame(self, x: Tensor, buffer: Tensor) -> tuple[Tensor, Tensor]:
        """The weighted sum with the buffer sliced channels-last: each buffered frame a (B, H, W, C)
        slice turned (B, C, H, W), which LiteRT's converter lays out NHWC without a transpose (the
        graph's buffers come in and go out channels-last, see `movinet.export.litert`)."""
        frames = buffer.permute(0, 2, 3, 4, 1)  # (B, kt-1, H, W, C)
        y = self.bias4 + x * self.taps[-1]
        for tap in range(self.history_frames):
            y = y + frames[:, tap].permute(0, 3, 1, 2) * self.taps[tap]
        new_frames = torch.cat([frames[:, 1:], x.permute(0, 2, 3, 1).unsqueeze(1)], dim=1)
        return activate_(y, self.activation), new_frames.permute(0, 4, 1, 2, 3)

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        return self.padding.output_size(height, width)


def _fold_parts(block: ConvBNActivation, *, target: str) -> tuple[FoldedConv2d | None, FoldedTimeConv | None]:
    """The folded spatial (2D) and temporal (kt > 1) parts of a training conv block."""
    activation = activation_name(block.act)
    conv = block.conv
    weight, bias = fold_batchnorm(conv, block.bn)
    if block.factorized or conv.kernel_size[0] == 1:
        spatial = FoldedConv2d(weight[:, :, 0], bias, conv.stride[1:], conv.groups, conv.spatial_padding, activation,
                               target=target)
        if not block.factorized:
            return spatial, None
        conv, (weight, bias), padding = block.conv_t, fold_batchnorm(block.conv_t, block.bn_t), (0, 0)
    else:
        spatial, padding = None, conv.spatial_padding
    time = FoldedTimeConv(weight, bias, conv.stride[1:], conv.groups, padding, activation,
                          causal=isinstance(block, CausalConvBlock), time_padding=conv.temporal_padding, target=target)
    return spatial, time


class FoldedBlock(nn.Module):
    """What the folded conv blocks share: a spatial part, a temporal part, and optionally the
    layer's pointwise expansion in front (`fuse_expansion`)."""

    def __init__(self, block: ConvBNActivation, *, target: str) -> None:
        super().__init__()
        self.spatial, self.time = _fold_parts(block, target=target)
        self.expansion: FoldedConvBlock | None = None

    @property
    def first_padding(self) -> SpatialPadding:
        """The padding rule of the conv that sees the block's input."""
        return (self.spatial if self.spatial is not None else self.time).padding

    def fuse_expansion(self, expansion: FoldedConvBlock) -> None:
        """Run the layer's pointwise `expansion` first, so that where TF SAME adds a cell after (stride
        2, even side) the narrow layer input is padded, not the expanded tensor (a copy of a tenth
        of the size); the expansion's border (its activated bias) is zeroed."""
        self.expansion = expansion

    def _expanded(self, x: Tensor) -> tuple[Tensor, tuple[int, int] | None]:
        """The expansion's output, and the first conv's symmetric padding if that output already
        carries the surplus (else None)."""
        pad, surplus = self.first_padding.resolve(x.shape[-2], x.shape[-1])
        if surplus is None:
            return self.expansion.forward(x), None
        height, width = x.shape[-2], x.shape[-1]
        y = self.expansion.forward(pad_after(x, surplus))
        y[..., height:, :].zero_()
        y[..., :height, width:].zero_()
        return y, pad

    def _input(self, x: Tensor) -> tuple[Tensor, tuple[int, int] | None]:
        """The block's input as a frame map or a clip, through the fused expansion if any, and the
        first conv's symmetric padding if it is already padded."""
        x = one_frame(x)
        return self._expanded(x) if self.expansion is not None else (x, None)

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        return (self.spatial if self.spatial is not None else self.time).output_size(height, width)


class FoldedConvBlock(FoldedBlock):
    """`layers.ConvBlock` folded: a clip (B, C_in, T, H, W) -> (B, C_out, T, H', W'), a frame
    (`one_frame`) -> (B, C_out, H', W'); no state."""

    stateful = False

    def forward(self, x: Tensor) -> Tensor:
        x, padded = self._input(x)
        if self.spatial is not None:
            x, padded = self.spatial.forward(x, padded), None
        if self.time is None:
            return x
        if x.dim() == 4:  # a frame through a conv that pads time symmetrically: a clip of one frame
            return self.time.clip(x.unsqueeze(2), None, padded)[0].squeeze(2)
        return self.time.clip(x, None, padded)[0]


class FoldedCausalConvBlock(FoldedBlock):
    """`layers.CausalConvBlock` folded, with its one-frame path: returns `(tensor, new state entries)`.

    A clip (B, C_in, T, H, W) -> (B, C_out, T, H', W'), a frame (`one_frame`) -> (B, C_out, H', W').
    State: `{prefix}.buffer` (B, C, kt-1, H, W), the last kt-1 frames seen by the temporal conv, as
    in the training form (stored channels-last-3d).
    """

    stateful = True

    def __init__(self, block: CausalConvBlock, *, target: str) -> None:
        super().__init__(block, target=target)
        self.buffer_key = block.buffer_key

    def fuse_expansion(self, expansion: FoldedConvBlock) -> None:
        if self.spatial is None:
            raise ValueError("a causal 3D conv buffers the expanded frames: its expansion cannot be fused")
        super().fuse_expansion(expansion)

    def forward(self, x: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        x, padded = self._input(x)
        if self.spatial is not None:
            x = self.spatial.forward(x, padded)
        buffer = None if state is None else state.get(self.buffer_key)
        if x.dim() == 4:
            y, buffer = self.time.frame(x, buffer)
        else:
            y, buffer = self.time.clip(x, buffer)
        return y, ({} if state is None else {self.buffer_key: buffer})

    def state_shapes(self, batch: int, height: int, width: int) -> StateShapes:
        """Shapes of this block's state for an input of spatial size (height, width), as the training block's."""
        if self.spatial is not None:
            height, width = self.spatial.output_size(height, width)
        return {self.buffer_key: ((batch, self.time.in_channels, self.time.history_frames, height, width),
                                  torch.float32)}


# ------------------------------------------------------------------------------------------------
# Squeeze-excitation, shortcut, head, classifier


class FoldedSqueezeExcite(nn.Module):
    """`layers.SqueezeExcite` folded: the same squeeze (its own pool and positional-encoding
    modules, so the same state keys), the excitation as two matmuls (1x1 convs on a frame in a
    graph) with the gate constants folded. A clip (B, C, T, H, W) or a frame (B, C, H, W) ->
    (x * gate, new state entries)."""

    def __init__(self, se: SqueezeExcite, *, target: str) -> None:
        super().__init__()
        self.se_type, self.causal, self.target, self.eager = se.se_type, se.causal, target, target == "eager"
        self.pool, self.pos_enc = se.pool, se.pos_enc
        self.activation, self.gate = activation_name(se.act), activation_name(se.gate)
        self.register_buffer("reduce_weight", se.reduce.weight[:, :, 0, 0, 0].detach().clone())
        self.register_buffer("reduce_bias", se.reduce.bias.detach().clone())
        weight, bias = se.expand.weight[:, :, 0, 0, 0].detach(), se.expand.bias.detach()
        self.gate_max: float | None = None
        if self.gate == "hard_sigmoid":  # relu6(z + 3) * s == clamp(s z + 3 s, 0, 6 s)
            weight, bias = weight * HARD_SIGMOID_SLOPE, (bias + 3.0) * HARD_SIGMOID_SLOPE
            self.gate, self.gate_max = None, 6.0 * HARD_SIGMOID_SLOPE
        self.register_buffer("expand_weight", weight.clone())
        self.register_buffer("expand_bias", bias.clone())
        self.channels, self.squeezed_channels = int(weight.shape[0]), int(self.reduce_weight.shape[1])

    def forward(self, x: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        x = one_frame(x)
        squeezed, new_state = squeeze_frames(frame_means(x, self.target), state, se_type=self.se_type, causal=self.causal,
                                             pool=self.pool, pos_enc=self.pos_enc)
        return x * self._excite(squeezed, frame=x.dim() == 4), new_state

    def _excite(self, squeezed: Tensor, frame: bool) -> Tensor:
        """(B, C_in, T', 1, 1) -> the gate: (B, C, 1, 1) for a frame, else (B, C, T', 1, 1)."""
        if squeezed.shape[2] == 1 and not self.eager:
            # In a graph: two 1x1 convs on (B, C, 1, 1) maps, each fused with its activation.
            maps = squeezed.view(-1, self.squeezed_channels, 1, 1)
            hidden = activate_(F.conv2d(maps, self.reduce_weight[:, :, None, None], self.reduce_bias),
                               self.activation)
            gate = self._gate(F.conv2d(hidden, self.expand_weight[:, :, None, None], self.expand_bias))
            return gate if frame else gate.unsqueeze(2)
        if squeezed.shape[2] == 1:  # one vector per sample: constant reshapes only
            rows = squeezed.view(-1, self.squeezed_channels)
        else:
            rows = squeezed.flatten(2).transpose(1, 2)  # (B, T', C_in)
        hidden = activate_(F.linear(rows, self.reduce_weight, self.reduce_bias), self.activation)
        gate = self._gate(F.linear(hidden, self.expand_weight, self.expand_bias))
        if squeezed.shape[2] == 1:
            return gate.view(-1, self.channels, 1, 1) if frame else gate.view(-1, self.channels, 1, 1, 1)
        return gate.transpose(1, 2)[..., None, None]

    def _gate(self, z: Tensor) -> Tensor:
        return z.clamp_(0.0, self.gate_max) if self.gate_max is not None else activate_(z, self.gate)

    def state_shapes(self, batch: int) -> StateShapes:
        shapes = {} if self.se_type == "2d" else self.pool.state_shapes(batch, self.channels)
        if self.pos_enc is not None:
            shapes[f"{self.pos_enc.state_prefix}.count"] = ((batch,), torch.int64)
        return shapes


class FoldedSkip(nn.Module):
    """`layers.Skip` folded: optional 3x3/2 average pool that excludes padding, then a folded 1x1
    conv. A clip (B, C_in, T, H, W) -> (B, C_out, T, H', W'), a frame -> (B, C_out, H', W')."""

    def __init__(self, skip: Skip, *, target: str) -> None:
        super().__init__()
        self.target = target
        self.pool: SpatialPadding | None = None
        if skip.pool is not None:
            pad = skip.pool.explicit_padding
            self.pool = SpatialPadding((skip.pool.kernel,) * 2, (skip.pool.stride,) * 2,
                                       None if pad is None else (pad[1], pad[2]))
            self.pool_kernel, self.pool_stride = skip.pool.kernel, skip.pool.stride
            channels = skip.project.conv.in_channels
            self.register_buffer("pool_ones", torch.ones(channels, 1, self.pool_kernel, self.pool_kernel))
            self._reciprocals: dict[tuple, Tensor] = {}
        self.project = FoldedConvBlock(skip.project, target=target)

    def forward(self, x: Tensor) -> Tensor:
        x = one_frame(x)
        if self.pool is not None:
            x = self._pooled(x) if x.dim() == 4 or self._pools_clips(x) else video_of(self._pooled(frames_of(x)),
                                                                                        x.shape[0])
        return self.project.forward(x)

    def _pools_clips(self, x: Tensor) -> bool:
        """Whether a clip is pooled as it is (in an ONNX graph; PyTorch's 3D pool refuses maps
        smaller than its window, which the 2D pool of the frames takes)."""
        return self.target == "onnx" and min(x.shape[-2], x.shape[-1]) >= self.pool_kernel

    def _pooled(self, x: Tensor) -> Tensor:
        """Mean over the valid cells of each window, as `layers.SpatialAvgPool`: of frames (N, C, H, W),
        or in a graph of a clip (B, C, T, H, W)."""
        (h0, h1), (w0, w1) = self.pool.pads(x.shape[-2], x.shape[-1])
        if self.target == "onnx":
            # One average pool that excludes padding: its own symmetric `before` padding, and for TF
            # SAME's extra cell after (stride 2, even side) ceil_mode, whose last window hangs over
            # the end and is averaged over the cells it covers: the same windows, no padded copy.
            k, s, ceil = self.pool_kernel, self.pool_stride, h1 > h0 or w1 > w0
            if x.dim() == 5:
                return F.avg_pool3d(x, (1, k, k), (1, s, s), (0, h0, w0), ceil_mode=ceil, count_include_pad=False)
            return F.avg_pool2d(x, k, s, (h0, w0), ceil_mode=ceil, count_include_pad=False)
        # Else window sums as a depthwise conv of ones (oneDNN, channels-last: several times faster
        # than avg_pool2d eagerly; LiteRT has no average pool for SAME's extra cell), times the
        # cached reciprocal of each window's valid cells (a constant in a graph).
        pad, surplus = self.pool.resolve(x.shape[-2], x.shape[-1])
        summed = F.conv2d(x if surplus is None else pad_surplus(x, surplus, self.target), self.pool_ones, None,
                          self.pool_stride, pad, 1, int(x.shape[1]))
        return summed.mul_(self._reciprocal_counts(x, pad, surplus))

    def _reciprocal_counts(self, x: Tensor, pad: tuple[int, int], surplus: tuple[int, int, int, int] | None) -> Tensor:
        """1 / the valid cells of each window: (1, 1, H', W'), cached, eagerly; in a graph (N, 1, H', W')
        computed from a channel of ones like x, so that the converter lays it out as it lays out x
        (LiteRT's gets a constant (1, 1, H', W') factor of an NHWC product wrong)."""
        key = (int(x.shape[-2]), int(x.shape[-1]), x.dtype, x.device)
        if key in self._reciprocals:
            return self._reciprocals[key]
        eager = self.target == "eager"
        ones = torch.ones((1, 1, *key[:2]), dtype=x.dtype, device=x.device) if eager else torch.ones_like(x[:, :1])
        kernel = torch.ones((1, 1, self.pool_kernel, self.pool_kernel), dtype=x.dtype, device=x.device)
        counts = F.conv2d(ones if surplus is None else pad_surplus(ones, surplus, self.target), kernel, None,
                          self.pool_stride, pad)
        if not eager:  # a tensor cached while tracing would be the tracer's, not data
            return 1.0 / counts
        self._reciprocals[key] = 1.0 / counts
        return self._reciprocals[key]


class FoldedHead(nn.Module):
    """`movinet.Head` folded: the projection conv block, the spatial means and the head's own pool
    module (the same state keys). A clip or a frame -> ((B, C_proj, 1, 1, 1), new state entries)."""

    def __init__(self, head: Head, *, target: str) -> None:
        super().__init__()
        self.project = FoldedConvBlock(head.project, target=target)
        self.pool, self.target = head.pool, target

    def forward(self, x: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        return self.pool(frame_means(self.project.forward(x), self.target), state)


class FoldedClassifier(nn.Module):
    """`movinet.Classifier` as two matmuls (dropout is the identity at inference): (B, C, 1, 1, 1) -> (B, classes)."""

    def __init__(self, classifier: Classifier) -> None:
        super().__init__()
        self.activation = activation_name(classifier.act)
        self.register_buffer("hidden_weight", classifier.hidden.weight[:, :, 0, 0, 0].detach().clone())
        self.register_buffer("hidden_bias", classifier.hidden.bias.detach().clone())
        self.register_buffer("logits_weight", classifier.logits.weight[:, :, 0, 0, 0].detach().clone())
        self.register_buffer("logits_bias", classifier.logits.bias.detach().clone())

    def forward(self, x: Tensor) -> Tensor:
        hidden = activate_(F.linear(x.flatten(1), self.hidden_weight, self.hidden_bias), self.activation)
        return F.linear(hidden, self.logits_weight, self.logits_bias)
