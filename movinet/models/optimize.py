"""The inference form of a trained MoViNet: the same call contract and answers, fewer and cheaper ops.

    fast = movinet.optimize_for_inference(model)     # a trained MoViNet; it is not modified
    logits = fast(video)                              # (B, 3, T, H, W) -> (B, num_classes)
    state = fast.init_state(1, 172, 172)              # causal models: the public state dict
    logits, state = fast.stream_step(clip, state)     # clip (B, 3, t, H, W), any t >= 1

Folded when it is built (exact up to float rounding):
  * every BatchNorm into the weight and bias of the conv before it (`fuse.fold_batchnorm`);
  * the ReZero scalar into the projection conv (nothing nonlinear follows it in the branch);
  * the hard-sigmoid gate's `+3` and `x0.16667` into the SE expand conv (a clamp remains);
  * the SAME padding of each conv and pool resolved once per frame size (then cached, and baked
    into an exported graph).
How it runs (each lever measured; see README "Benchmarks"):
  * clips: frames on the batch axis, (B*T, C, H, W) channels-last. Every 1x1 and spatial conv is
    a 2D oneDNN conv; a (kt, kh, kw) conv is one channels-last 3D conv on a free 5D view of that
    tensor (1.7x faster here than a sum of kt time-shifted 2D depthwise convs, 7x faster than NCDHW). TF
    SAME's extra cell at stride 2 is padded on the narrow block input before the pointwise
    expansion; shortcut pools are depthwise window sums times cached reciprocal counts.
  * one stream frame (t == 1): a per-frame graph on (B, C, H, W). The causal temporal depthwise
    conv is a weighted sum of the buffered frames (one grouped conv in an exported graph),
    running pools one multiply-add, SE a pair of 1x1 convs on (B, C, 1, 1) maps, and every
    reshape has constant sizes, so the exported step has no shape arithmetic.
  * `optimize_for_inference` asks glibc to keep freed memory (`keep_freed_memory`): activations
    of tens of MB are otherwise mapped and page-faulted anew on every call.
The stream state in and out is the public state dict of the training form (same keys, shapes,
dtypes and values; buffers are stored channels-last), so a stream can move between the two forms
at any frame.
"""

from __future__ import annotations

import copy
import ctypes
import sys

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from movinet.models.layers import (
    BottleneckLayer,
    CausalConvBlock,
    Conv3d,
    ConvBNActivation,
    HardSigmoid,
    HardSwish,
    SqueezeExcite,
    State,
    frame_count,
    same_padding,
)
from movinet.models.fuse import fold_batchnorm
from movinet.models.movinet import MoViNet

HARD_SIGMOID_SLOPE = 0.16667  # TF's literal (see layers.HardSigmoid)
_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4  # glibc mallopt parameters (malloc.h)
_ONEDNN_MIN_BATCH = 16  # from this batch on PyTorch runs 1x1 convs in oneDNN (see Conv2dAct._matmul)


# ------------------------------------------------------------------------------------------------
# Folding


def _activation_name(module: nn.Module) -> str | None:
    names = {nn.Identity: None, nn.SiLU: "swish", HardSwish: "hard_swish", nn.Sigmoid: "sigmoid",
             HardSigmoid: "hard_sigmoid", nn.ReLU: "relu"}
    if type(module) not in names:
        raise ValueError(f"optimize_for_inference does not know the activation {type(module).__name__}")
    return names[type(module)]


def _activate_(x: Tensor, name: str | None) -> Tensor:
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


# ------------------------------------------------------------------------------------------------
# Padding rules, resolved once per input size


class SpatialPadding:
    """The padding rule of one 2D conv or pool: explicit symmetric, or TF SAME (None).

    `resolve(h, w)` gives the symmetric padding the op applies itself and the surplus to pad after
    (TF SAME at stride 2 on an even side), or None; cached per size, so it is fixed for a frame
    size after the first call (and baked into an exported graph).
    """

    def __init__(self, kernel: tuple[int, int], stride: tuple[int, int], explicit: tuple[int, int] | None) -> None:
        self.kernel, self.stride, self.explicit = kernel, stride, explicit
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


def channels_last_zeros(shape: tuple[int, ...], like: Tensor) -> Tensor:
    """Zeros of a (B, C, ...) shape stored channels-last (C innermost), as the inference form keeps
    stream buffers: then each buffered frame is a channels-last (B, C, H, W) view."""
    order = (0, *range(2, len(shape)), 1)
    stored = like.new_zeros([shape[i] for i in order])
    return stored.permute(0, len(shape) - 1, *range(1, len(shape) - 1))


def pad_after(x: Tensor, surplus: tuple[int, int, int, int]) -> Tensor:
    """`F.pad(x, (0, w, 0, h))` (zeros after the last two axes) keeping x's channels-last layout.

    Eagerly it writes the interior once and zeroes only the new border (F.pad fills the whole
    tensor first: a second pass over tens of MB); a traced graph gets the plain Pad.
    """
    if torch.jit.is_tracing():
        return F.pad(x, surplus)
    _, right, _, bottom = surplus
    *lead, height, width = x.shape
    layout = torch.channels_last if x.dim() == 4 else torch.channels_last_3d
    out = torch.empty((*lead, height + bottom, width + right), dtype=x.dtype, device=x.device, memory_format=layout)
    out[..., :height, :width].copy_(x)
    out[..., height:, :].zero_()
    out[..., :height, width:].zero_()
    return out


def spatial_mean(x: Tensor) -> Tensor:
    """(N, C, H, W) -> (N, C): one global average pool (fast on channels-last, one ONNX node)."""
    return F.adaptive_avg_pool2d(x, 1).flatten(1)


class Conv2dAct(nn.Module):
    """A folded 2D conv (+ activation) on frames: (N, C_in, H, W) -> (N, C_out, H', W')."""

    def __init__(self, weight: Tensor, bias: Tensor, stride: tuple[int, int], groups: int,
                 padding: tuple[int, int] | None, activation: str | None) -> None:
        super().__init__()
        self.register_buffer("weight", weight.contiguous())
        self.register_buffer("bias", bias.contiguous())
        self.stride, self.groups, self.activation = stride, groups, activation
        self.padding = SpatialPadding((weight.shape[2], weight.shape[3]), stride, padding)
        self.pointwise = tuple(weight.shape[2:]) == (1, 1) and tuple(stride) == (1, 1) and groups == 1
        if self.pointwise:  # (C_in, C_out) for the matmul form
            self.register_buffer("weight_t", weight[:, :, 0, 0].t().contiguous())

    def forward(self, x: Tensor) -> Tensor:
        if self.pointwise and x.shape[0] < _ONEDNN_MIN_BATCH and not torch.jit.is_tracing():
            return self._matmul(x)
        pad, surplus = self.padding.resolve(x.shape[-2], x.shape[-1])
        if surplus is not None:
            x = pad_after(x, surplus)
        return self.on_padded(x, pad)

    def on_padded(self, x: Tensor, pad: tuple[int, int]) -> Tensor:
        """The conv on an input that already carries the surplus padding after (see `forward`)."""
        return _activate_(F.conv2d(x, self.weight, self.bias, self.stride, pad, 1, self.groups), self.activation)

    def _matmul(self, x: Tensor) -> Tensor:
        """A 1x1 conv as one matmul on the channels-last (N*H*W, C) view.

        For a batch under 16 on one thread PyTorch runs 1x1 convs outside oneDNN, on NCHW copies
        of channels-last inputs and outputs; the matmul needs no copy (a stream frame's case).
        """
        n, _, h, w = x.shape
        y = torch.addmm(self.bias, x.permute(0, 2, 3, 1).reshape(n * h * w, -1), self.weight_t)
        return _activate_(y, self.activation).view(n, h, w, -1).permute(0, 3, 1, 2)

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        return self.padding.output_size(height, width)


class TimeConv(nn.Module):
    """A folded conv that sees time, (kt, kh, kw) with kt > 1 (+ activation), causal or not.

    Clip form: on frames (B*T, C, H, W) channels-last, as one channels-last 3D conv of the free
    5D view; a causal one prepends its history (the stream buffer, or zeros). Frame form: one
    output frame from the kt-1 buffered input frames and the new one, as a weighted sum when
    the conv is a (kt, 1, 1) depthwise one, else as kt 2D convs.
    State (causal): `buffer_key` (B, C_in, kt-1, H, W), the last kt-1 input frames.
    """

    def __init__(self, weight: Tensor, bias: Tensor, stride: tuple[int, int], groups: int,
                 padding: tuple[int, int] | None, activation: str | None, *, causal: bool, time_padding: int,
                 buffer_key: str) -> None:
        super().__init__()
        kt = weight.shape[2]
        self.time_padding = time_padding
        self.register_buffer("weight", weight.contiguous())
        self.register_buffer("bias", bias.contiguous())
        self.stride, self.groups, self.activation = stride, groups, activation
        self.causal, self.buffer_key, self.buffer_frames = causal, buffer_key, kt - 1
        self.padding = SpatialPadding((weight.shape[3], weight.shape[4]), stride, padding)
        self.weighted_sum = tuple(weight.shape[3:]) == (1, 1) and groups == weight.shape[0] and weight.shape[1] == 1
        if self.weighted_sum:  # per-tap channel weights (kt, 1, C, 1, 1), for frames (B, C, H, W)
            self.register_buffer("taps", weight[:, 0, :, 0, 0].t().reshape(kt, 1, -1, 1, 1).contiguous())
            self.register_buffer("bias4", bias.view(1, -1, 1, 1).contiguous())
            self.register_buffer("group_weight", weight[:, 0].contiguous())  # (C, kt, 1, 1): kt inputs per group
        else:  # 2D kernels per tap: (kt, C_out, C_in/g, kh, kw)
            self.register_buffer("kernels", weight.permute(2, 0, 1, 3, 4).contiguous())

    def clip(self, x: Tensor, batch: int, history: Tensor | None,
             padded: tuple[int, int] | None = None) -> tuple[Tensor, Tensor | None]:
        """x (B*T, C, H, W) -> (y (B*T, C_out, H', W'), last kt-1 input frames (B, C, kt-1, H, W) if causal).

        `padded`: x already carries the SAME surplus after (non-causal only); the symmetric part.
        """
        frames = x.shape[0] // batch
        x5 = x.view(batch, frames, *x.shape[1:]).transpose(1, 2)  # (B, C, T, H, W): channels-last-3d strides
        last = None
        if self.causal:
            if history is None:
                history = channels_last_zeros((batch, x5.shape[1], self.buffer_frames, *x5.shape[3:]), x5)
            x5 = torch.cat([history.to(memory_format=torch.channels_last_3d), x5], dim=2)
            last = x5[:, :, -self.buffer_frames:].contiguous(memory_format=torch.channels_last_3d)
        if padded is not None:
            pad = padded
        else:
            pad, surplus = self.padding.resolve(x.shape[-2], x.shape[-1])
            if surplus is not None:
                x5 = pad_after(x5, surplus)
        y = F.conv3d(x5, self.weight, self.bias, (1, *self.stride), (self.time_padding, *pad), 1, self.groups)
        y = y.transpose(1, 2).reshape(batch * frames, *y.shape[1:2], *y.shape[3:])
        return _activate_(y, self.activation), last

    def frame(self, x: Tensor, buffer: Tensor | None) -> tuple[Tensor, Tensor]:
        """x (B, C, H, W), buffer (B, C, kt-1, H, W) or None (zeros) -> (y (B, C_out, H', W'), new buffer)."""
        if buffer is None:
            buffer = channels_last_zeros((x.shape[0], x.shape[1], self.buffer_frames, x.shape[2], x.shape[3]), x)
        if self.weighted_sum and torch.jit.is_tracing():
            # In a graph: the kt frames side by side as kt channels per group, one grouped 1x1
            # conv (bias and activation fused by the runtime) instead of kt multiply-adds.
            full = torch.cat([buffer, x.unsqueeze(2)], dim=2)  # (B, C, kt, H, W)
            channels, size = self.group_weight.shape[0], (int(x.shape[2]), int(x.shape[3]))  # fixed per graph
            y = F.conv2d(full.reshape(-1, channels * (self.buffer_frames + 1), *size), self.group_weight,
                         self.bias, 1, 0, 1, channels)
            return _activate_(y, self.activation), full[:, :, 1:]
        if self.weighted_sum:
            y = torch.addcmul(self.bias4, x, self.taps[-1])
            for tap in range(self.buffer_frames):
                y.addcmul_(buffer[:, :, tap], self.taps[tap])
        else:
            pad, surplus = self.padding.resolve(x.shape[-2], x.shape[-1])
            frames = [buffer[:, :, tap] for tap in range(self.buffer_frames)] + [x]
            y = None
            for tap, frame in enumerate(frames):
                if surplus is not None:
                    frame = pad_after(frame, surplus)
                out = F.conv2d(frame, self.kernels[tap], self.bias if tap == 0 else None, self.stride, pad, 1,
                               self.groups)
                y = out if y is None else y.add_(out)
        new_buffer = torch.cat([buffer[:, :, 1:], x.unsqueeze(2)], dim=2)
        return _activate_(y, self.activation), new_buffer


class FastConvBlock(nn.Module):
    """A conv block of the training form, folded: `spatial` 2D part, then an optional `time` part."""

    def __init__(self, block: ConvBNActivation, *, factor: Tensor | float = 1.0) -> None:
        super().__init__()
        causal = isinstance(block, CausalConvBlock)
        act = _activation_name(block.act)
        conv = block.conv
        spatial_pad = conv.spatial_padding
        if block.factorized:
            weight, bias = fold_batchnorm(conv, block.bn)
            self.spatial: Conv2dAct | None = Conv2dAct(weight[:, :, 0], bias, conv.stride[1:], conv.groups,
                                                       spatial_pad, act)
            weight_t, bias_t = fold_batchnorm(block.conv_t, block.bn_t, factor)
            self.time: TimeConv | None = self._time_conv(block, block.conv_t, weight_t, bias_t, (0, 0), act, causal)
        else:
            weight, bias = fold_batchnorm(conv, block.bn, factor)
            if conv.kernel_size[0] == 1:
                self.spatial, self.time = Conv2dAct(weight[:, :, 0], bias, conv.stride[1:], conv.groups,
                                                    spatial_pad, act), None
            else:
                self.spatial = None
                self.time = self._time_conv(block, conv, weight, bias, spatial_pad, act, causal)

    @staticmethod
    def _time_conv(block: ConvBNActivation, conv: Conv3d, weight: Tensor, bias: Tensor,
                   padding: tuple[int, int] | None, act: str | None, causal: bool) -> TimeConv:
        key = block.buffer_key if causal else ""
        return TimeConv(weight, bias, conv.stride[1:], conv.groups, padding, act, causal=causal,
                        time_padding=conv.temporal_padding, buffer_key=key)

    @property
    def stateful(self) -> bool:
        return self.time is not None and self.time.causal

    def first_padding(self) -> SpatialPadding:
        """The padding rule of the first conv (the one that sees the block input)."""
        return (self.spatial if self.spatial is not None else self.time).padding

    def clip(self, x: Tensor, batch: int, state: State | None,
             padded: tuple[int, int] | None = None) -> tuple[Tensor, State]:
        """x (B*T, C, H, W) -> (y, new state entries); `padded`: x already carries the first
        conv's SAME surplus (not for a causal 3D block), this is its symmetric padding."""
        if self.spatial is not None:
            x = self.spatial(x) if padded is None else self.spatial.on_padded(x, padded)
            padded = None
        if self.time is None:
            return x, {}
        history = None if state is None or not self.stateful else state.get(self.time.buffer_key)
        x, last = self.time.clip(x, batch, history, padded)
        return x, ({self.time.buffer_key: last} if state is not None and self.stateful else {})

    def frame(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        if self.spatial is not None:
            x = self.spatial(x)
        if self.time is None:
            return x, {}
        x, buffer = self.time.frame(x, state.get(self.time.buffer_key))
        return x, {self.time.buffer_key: buffer}


# ------------------------------------------------------------------------------------------------
# Pools, squeeze-excitation, the bottleneck


class FastSqueezeExcite(nn.Module):
    """Squeeze-excitation with folded gate constants; state keys as `layers.SqueezeExcite`."""

    def __init__(self, se: SqueezeExcite) -> None:
        super().__init__()
        self.se_type, self.causal, self.activation = se.se_type, se.causal, _activation_name(se.act)
        gate = _activation_name(se.gate)
        self.register_buffer("reduce_weight", se.reduce.weight[:, :, 0, 0, 0].detach().clone())
        self.register_buffer("reduce_bias", se.reduce.bias.detach().clone())
        weight, bias = se.expand.weight[:, :, 0, 0, 0].detach(), se.expand.bias.detach()
        self.gate_max: float | None = None
        if gate == "hard_sigmoid":  # relu6(z + 3) * s == clamp(s z + 3 s, 0, 6 s)
            weight, bias, self.gate_max, gate = weight * HARD_SIGMOID_SLOPE, (bias + 3.0) * HARD_SIGMOID_SLOPE, \
                6.0 * HARD_SIGMOID_SLOPE, None
        self.gate = gate
        self.register_buffer("expand_weight", weight.clone())
        self.channels, self.squeezed_channels = int(weight.shape[0]), int(self.reduce_weight.shape[1])
        self.register_buffer("expand_bias", bias.clone())
        self.sum_key, self.count_key = f"{se.pool.state_prefix}.sum", f"{se.pool.state_prefix}.count"
        self.pos_key: str | None = None
        if se.pos_enc is not None:
            self.pos_key = f"{se.pos_enc.state_prefix}.count"
            self.register_buffer("pos_scale", se.pos_enc.scale.detach().clone())
            self.register_buffer("pos_frequencies", self._frequencies(self.reduce_weight.shape[1]))

    @staticmethod
    def _frequencies(channels: int) -> Tensor:
        index = torch.arange(channels)
        power = (2 * torch.div(index, 2, rounding_mode="floor")).to(torch.float32) / channels
        return 1.0 / torch.pow(10000.0, power)

    def _position_encoding(self, positions: Tensor) -> Tensor:
        """positions (B or 1, T) int -> (B or 1, T, C): sines of the even channels, then cosines of the odd."""
        radians = positions.to(torch.float32)[:, :, None] * self.pos_frequencies
        return torch.cat([torch.sin(radians[:, :, 0::2]), torch.cos(radians[:, :, 1::2])], dim=2)

    def _gate(self, squeezed: Tensor) -> Tensor:
        hidden = _activate_(F.linear(squeezed, self.reduce_weight, self.reduce_bias), self.activation)
        gate = F.linear(hidden, self.expand_weight, self.expand_bias)
        return gate.clamp_(0.0, self.gate_max) if self.gate_max is not None else _activate_(gate, self.gate)

    def clip(self, x: Tensor, batch: int, state: State | None) -> tuple[Tensor, State]:
        """x (B*T, C, H, W) -> (x * gate, new state entries)."""
        frames, channels = x.shape[0] // batch, x.shape[1]
        means = spatial_mean(x).view(batch, frames, channels)  # (B, T, C)
        new_state: State = {}
        if self.se_type == "2d":
            squeezed = means
        else:
            if not self.causal:
                pooled = means.mean(1, keepdim=True)
            else:
                running = means.cumsum(1)
                count = frame_count(state or {}, self.count_key, means)
                if state is not None and self.sum_key in state:
                    running = running + state[self.sum_key].view(batch, 1, channels)
                steps = torch.arange(1, frames + 1, device=x.device)[None, :] + count[:, None]  # (B, T)
                pooled = running / steps.to(x.dtype)[:, :, None]
                if state is not None:
                    new_state = {self.sum_key: running[:, -1].reshape(batch, channels, 1, 1, 1),
                                 self.count_key: count + frames}
            if self.se_type == "3d":
                squeezed = pooled
            else:
                squeezed = torch.cat([pooled.expand(-1, frames, -1), means], dim=2)
        if self.pos_key is not None:
            start = frame_count(state, self.pos_key, means) if state is not None else None
            positions = torch.arange(squeezed.shape[1], device=x.device)[None, :]
            if start is not None:
                positions = positions + start[:, None]
                new_state[self.pos_key] = start + squeezed.shape[1]
            squeezed = squeezed + self.pos_scale * self._position_encoding(positions).to(x.dtype)
        gate = self._gate(squeezed)  # (B, T or 1, C)
        gate = gate.expand(batch, frames, channels).reshape(batch * frames, channels, 1, 1)
        return x * gate, new_state

    def frame(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        """x (B, C, H, W) -> (x * gate, new state entries); causal models only.

        Everything stays a (B, C, 1, 1) map, the two SE layers are 1x1 convs on it, and every
        reshape has constant sizes: the exported per-frame graph has no shape arithmetic and
        the runtime fuses each conv with its activation.
        """
        channels = self.channels
        means = F.adaptive_avg_pool2d(x, 1)  # (B, C, 1, 1)
        new_state: State = {}
        if self.se_type == "2d":
            squeezed = means
        else:
            count = frame_count(state, self.count_key, x) + 1
            previous = state.get(self.sum_key)
            running = means if previous is None else previous.view(-1, channels, 1, 1) + means
            pooled = running * (1.0 / count.to(x.dtype)).view(-1, 1, 1, 1)
            new_state = {self.sum_key: running.unsqueeze(2), self.count_key: count}
            squeezed = pooled if self.se_type == "3d" else torch.cat([pooled, means], dim=1)
        if self.pos_key is not None:
            start = frame_count(state, self.pos_key, x)
            new_state[self.pos_key] = start + 1
            encoding = self._position_encoding(start.view(-1, 1)).to(x.dtype)  # (B, 1, C_in)
            squeezed = squeezed + self.pos_scale * encoding.view(-1, self.squeezed_channels, 1, 1)
        if not torch.jit.is_tracing():  # eagerly two small matmuls are cheaper than two 1x1 convs
            return x * self._gate(squeezed.view(-1, self.squeezed_channels)).view(-1, channels, 1, 1), new_state
        hidden = _activate_(F.conv2d(squeezed, self.reduce_weight[:, :, None, None], self.reduce_bias),
                            self.activation)
        gate = F.conv2d(hidden, self.expand_weight[:, :, None, None], self.expand_bias)
        gate = gate.clamp_(0.0, self.gate_max) if self.gate_max is not None else _activate_(gate, self.gate)
        return x * gate, new_state


class FastSkip(nn.Module):
    """Shortcut: optional 3x3/2 average pool that excludes padding, then a folded 1x1 conv."""

    def __init__(self, layer: BottleneckLayer) -> None:
        super().__init__()
        skip = layer.skip
        self.pool: SpatialPadding | None = None
        if skip.pool is not None:
            pad = skip.pool.explicit_padding
            self.pool = SpatialPadding((skip.pool.kernel,) * 2, (skip.pool.stride,) * 2,
                                       None if pad is None else (pad[1], pad[2]))
            self.pool_kernel, self.pool_stride = skip.pool.kernel, skip.pool.stride
            channels = skip.project.conv.in_channels
            self.register_buffer("pool_ones", torch.ones(channels, 1, self.pool_kernel, self.pool_kernel))
            self._reciprocals: dict[tuple, Tensor] = {}
        weight, bias = fold_batchnorm(skip.project.conv, skip.project.bn)
        self.project = Conv2dAct(weight[:, :, 0], bias, (1, 1), 1, (0, 0), None)

    def _pooled(self, x: Tensor) -> Tensor:
        """Mean over the valid cells of each window, as `layers.SpatialAvgPool`.

        One `avg_pool2d` that excludes padding: its own symmetric `before` padding, and for TF
        SAME's extra cell after (stride 2, even side) `ceil_mode`, whose last window hangs over
        the end and is averaged over the cells it covers: the same windows, no padded copy.
        """
        (h0, h1), (w0, w1) = self.pool.pads(x.shape[-2], x.shape[-1])
        if torch.jit.is_tracing():
            return F.avg_pool2d(x, self.pool_kernel, self.pool_stride, (h0, w0), ceil_mode=h1 > h0 or w1 > w0,
                                count_include_pad=False)
        # Eagerly: window sums as a depthwise conv of ones (oneDNN, channels-last: several times
        # faster than avg_pool2d here), times the cached reciprocal of each window's valid cells.
        pad, surplus = self.pool.resolve(x.shape[-2], x.shape[-1])
        summed = F.conv2d(x if surplus is None else pad_after(x, surplus), self.pool_ones, None, self.pool_stride,
                          pad, 1, x.shape[1])
        return summed.mul_(self._reciprocal_counts(x, pad, surplus))

    def _reciprocal_counts(self, x: Tensor, pad: tuple[int, int], surplus: tuple[int, int, int, int] | None) -> Tensor:
        key = (int(x.shape[-2]), int(x.shape[-1]), x.dtype, x.device)
        if key not in self._reciprocals:
            ones = torch.ones((1, 1, *key[:2]), dtype=x.dtype, device=x.device)
            kernel = torch.ones((1, 1, self.pool_kernel, self.pool_kernel), dtype=x.dtype, device=x.device)
            counts = F.conv2d(ones if surplus is None else F.pad(ones, surplus), kernel, None, self.pool_stride, pad)
            self._reciprocals[key] = 1.0 / counts
        return self._reciprocals[key]

    def forward(self, x: Tensor) -> Tensor:
        return self.project(self._pooled(x) if self.pool is not None else x)


class FastBottleneck(nn.Module):
    """Expansion -> feature -> SE -> projection (ReZero folded in) + shortcut."""

    def __init__(self, layer: BottleneckLayer) -> None:
        super().__init__()
        self.expansion = FastConvBlock(layer.expansion)
        self.feature = FastConvBlock(layer.feature)
        self.se = None if layer.se is None else FastSqueezeExcite(layer.se)
        self.projection = FastConvBlock(layer.projection, factor=layer.rezero.detach())
        self.skip = None if layer.skip is None else FastSkip(layer)

    def _expanded(self, x: Tensor, batch: int) -> tuple[Tensor, tuple[int, int] | None]:
        """The expansion's output, and the feature conv's symmetric padding if that output is
        already padded. Where the feature conv needs TF SAME's extra cell (stride 2, even side),
        the narrower block input is padded instead and the pointwise expansion's border (its
        bias, activated) zeroed: one thin copy instead of a padded copy of the wide tensor."""
        rule = self.feature.first_padding()
        pad, surplus = rule.resolve(x.shape[-2], x.shape[-1])
        causal_3d = self.feature.spatial is None and self.feature.time.causal
        if surplus is None or causal_3d or torch.jit.is_tracing():
            return self.expansion.clip(x, batch, None)[0], None
        y = self.expansion.spatial(pad_after(x, surplus))
        height, width = x.shape[-2], x.shape[-1]
        y[..., height:, :].zero_()
        y[..., :height, width:].zero_()
        return y, pad

    def clip(self, x: Tensor, batch: int, state: State | None) -> tuple[Tensor, State]:
        y, padded = self._expanded(x, batch)
        y, new_state = self.feature.clip(y, batch, state, padded)
        if self.se is not None:
            y, se_state = self.se.clip(y, batch, state)
            new_state.update(se_state)
        y, _ = self.projection.clip(y, batch, None)
        return y.add_(x if self.skip is None else self.skip(x)), new_state

    def frame(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        y, _ = self.expansion.frame(x, state)
        y, new_state = self.feature.frame(y, state)
        if self.se is not None:
            y, se_state = self.se.frame(y, state)
            new_state.update(se_state)
        y, _ = self.projection.frame(y, state)
        return y.add_(x if self.skip is None else self.skip(x)), new_state


# ------------------------------------------------------------------------------------------------
# The model


class InferenceMoViNet(nn.Module):
    """A MoViNet folded for inference (see the module docstring). Build it with `optimize_for_inference`.

    Same call contract as `MoViNet`: `model(video)`, and for causal models `init_state`,
    `state_shapes` and `stream_step`. Its buffers are derived weights, not a training checkpoint.
    """

    def __init__(self, model: MoViNet) -> None:
        super().__init__()
        causal = model.causal
        self.causal, self.num_classes, self.num_features = causal, model.num_classes, model.num_features
        self.min_frame_size = model.min_frame_size
        # Shape rules and input checks from a weightless copy; not a submodule (nothing in state_dict).
        object.__setattr__(self, "_shapes", copy.deepcopy(model).to("meta"))
        self.stem = FastConvBlock(model.stem)
        self.layers = nn.ModuleList(FastBottleneck(layer) for layer in model._layers())
        self.head = FastConvBlock(model.head.project)
        self.head_sum_key = f"{model.head.pool.state_prefix}.sum"
        self.head_count_key = f"{model.head.pool.state_prefix}.count"
        classifier = model.classifier
        self.classifier_activation = _activation_name(classifier.act)
        self.register_buffer("hidden_weight", classifier.hidden.weight[:, :, 0, 0, 0].detach().clone())
        self.register_buffer("hidden_bias", classifier.hidden.bias.detach().clone())
        self.register_buffer("logits_weight", classifier.logits.weight[:, :, 0, 0, 0].detach().clone())
        self.register_buffer("logits_bias", classifier.logits.bias.detach().clone())

    @property
    def is_causal(self) -> bool:
        return self.causal

    def _classify(self, features: Tensor) -> Tensor:
        """(B, C_head) -> (B, num_classes)."""
        hidden = _activate_(F.linear(features, self.hidden_weight, self.hidden_bias), self.classifier_activation)
        return F.linear(hidden, self.logits_weight, self.logits_bias)

    def _stem_clip(self, video: Tensor, state: State | None) -> tuple[Tensor, State]:
        """The stem on (B, 3, T, H, W): frames as the batch axis, channels-last. A 2D stem's input
        is laid out and padded (TF SAME's surplus) in one copy."""
        b, c, t, h, w = video.shape
        frames = video.transpose(1, 2).reshape(b * t, c, h, w)  # a view when B == 1
        conv = self.stem.spatial
        if self.stem.time is not None or conv is None:
            return self.stem.clip(frames.contiguous(memory_format=torch.channels_last), b, state)
        pad, surplus = conv.padding.resolve(h, w)
        x = pad_after(frames, surplus) if surplus is not None else frames.contiguous(memory_format=torch.channels_last)
        return conv.on_padded(x, pad), {}

    def _clip_features(self, video: Tensor, state: State | None) -> tuple[Tensor, State]:
        """Whole clip or a chunk of a stream: video (B, 3, T, H, W) -> (features (B, C_head), updates)."""
        batch, frames = video.shape[0], video.shape[2]
        x, new_state = self._stem_clip(video, state)
        for layer in self.layers:
            x, layer_state = layer.clip(x, batch, state)
            new_state.update(layer_state)
        x, _ = self.head.clip(x, batch, None)
        means = spatial_mean(x).view(batch, frames, -1)  # (B, T, C)
        if state is None:
            return means.mean(1), new_state
        count = frame_count(state, self.head_count_key, means) + frames
        running = means.sum(1)
        if self.head_sum_key in state:
            running = running + state[self.head_sum_key].view(batch, -1)
        new_state[self.head_sum_key] = running.view(batch, -1, 1, 1, 1)
        new_state[self.head_count_key] = count
        return running / count.to(x.dtype)[:, None], new_state

    def _frame_features(self, frame: Tensor, state: State) -> tuple[Tensor, State]:
        """One stream frame (B, 3, H, W) -> (features (B, C_head), updates)."""
        x, new_state = self.stem.frame(frame.contiguous(memory_format=torch.channels_last), state)
        for layer in self.layers:
            x, layer_state = layer.frame(x, state)
            new_state.update(layer_state)
        x, _ = self.head.frame(x, state)
        means = spatial_mean(x)
        channels = self.num_features
        count = frame_count(state, self.head_count_key, means) + 1
        previous = state.get(self.head_sum_key)
        running = means if previous is None else previous.view(-1, channels) + means
        new_state[self.head_sum_key] = running.view(-1, channels, 1, 1, 1)
        new_state[self.head_count_key] = count
        return running * (1.0 / count.to(x.dtype)).view(-1, 1), new_state

    def forward(self, video: Tensor) -> Tensor:
        """Whole-clip logits. video: (B, 3, T, H, W) float -> (B, num_classes)."""
        MoViNet._check_video(self._shapes, video)
        return self._classify(self._clip_features(video, None)[0])

    def stream_step(self, clip: Tensor, state: State) -> tuple[Tensor, State]:
        """A chunk of a stream, clip (B, 3, t, H, W), any t >= 1 -> (logits (B, classes), new state).

        One frame runs the per-frame graph, longer chunks the clip graph; both give the state of
        `MoViNet.stream_step`. The input state is not modified; missing entries count as zeros.
        """
        if not self.causal:
            raise ValueError("stream_step needs a causal model: this one sees the whole clip at once. Use a "
                             "'*_stream' model, or create_model(name, causal=True) for a causal 3D variant")
        if not isinstance(state, dict):
            raise ValueError(f"state must be a dict of tensors (see init_state), got {type(state).__name__}")
        MoViNet._check_video(self._shapes, clip)
        if clip.shape[2] == 1:
            features, updates = self._frame_features(clip[:, :, 0], state)
        else:
            features, updates = self._clip_features(clip, state)
        return self._classify(features), {**state, **updates}

    def state_shapes(self, batch_size: int, height: int, width: int) -> dict[str, tuple[tuple[int, ...], torch.dtype]]:
        """Name -> (shape, dtype) of every stream state tensor, as `MoViNet.state_shapes`."""
        return self._shapes.state_shapes(batch_size, height, width)

    def init_state(self, batch_size: int = 1, height: int = 172, width: int = 172) -> State:
        """Zero stream state (a fresh stream) for frames of height x width, as `MoViNet.init_state`."""
        if min(height, width) < self.min_frame_size or batch_size < 1:
            raise ValueError(f"need batch_size >= 1 and frames of at least {self.min_frame_size} px, "
                             f"got batch {batch_size}, {height}x{width}")
        like = self.hidden_weight
        state = {}
        for name, (shape, dtype) in self.state_shapes(batch_size, height, width).items():
            if name.endswith(".buffer"):
                state[name] = channels_last_zeros(shape, like)
            else:
                state[name] = torch.zeros(shape, dtype=like.dtype if dtype == torch.float32 else dtype,
                                          device=like.device)
        return state


def keep_freed_memory() -> bool:
    """Ask glibc's malloc to keep freed memory for reuse instead of returning it to the system.

    Activations of tens of MB are otherwise mapped afresh on every call and page-faulted in
    (a fifth of A0 base's time on one thread). Sets M_MMAP_MAX = 0 and M_TRIM_THRESHOLD = 1 GiB
    for the whole process; the peak memory is unchanged. Returns False where it does not apply
    (not Linux with glibc).
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(_M_MMAP_MAX, 0)) and bool(libc.mallopt(_M_TRIM_THRESHOLD, 1 << 30))
    except (OSError, AttributeError):
        return False


def optimize_for_inference(model: MoViNet, *, reuse_memory: bool = True) -> InferenceMoViNet:
    """The inference form of a trained `MoViNet`: same call contract, same answers (1e-4), faster.

    The model is not modified. The result holds folded copies of the weights (eval-mode BN
    statistics), so build it again after further training. `reuse_memory` also calls
    `keep_freed_memory()` (process-wide, glibc only); pass False to leave the allocator alone.
    """
    if isinstance(model, InferenceMoViNet):
        return model
    if not isinstance(model, MoViNet):
        raise ValueError(f"optimize_for_inference needs a movinet MoViNet, got {type(model).__name__}")
    if reuse_memory:
        keep_freed_memory()
    with torch.no_grad():
        return InferenceMoViNet(model).eval()
