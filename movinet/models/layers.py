"""MoViNet building blocks with an explicit, functional stream state.

Mirrors TF Model Garden `official/projects/movinet/modeling/movinet_layers.py` and the pooling /
positional-encoding layers of `official/vision/modeling/layers/nn_layers.py`, in PyTorch layout
(B, C, T, H, W).

Stateful layers take `state: State | None` and return `(output, new_entries)`:
  * `state is None` is whole-clip mode: causal convs pad zeros in front, pools average over the
    clip, nothing is returned (`{}`);
  * a dict is stream mode: each layer reads its own keys (zeros when missing) and returns the
    updated entries. Layers never store tensors on `self`, so one module can serve any number of
    interleaved streams and exports cleanly to ONNX.
Each stateful module gets `state_prefix` (its module path) from the model at construction.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from movinet.models.specs import Triple

State = dict[str, Tensor]


# --------------------------------------------------------------------------------------------
# Activations (exact TF formulas: the constants matter for bit-level parity)


class HardSwish(nn.Module):
    """TF `hard_swish`: x * relu6(x + 3) * (1/6)."""

    def forward(self, x: Tensor) -> Tensor:
        return x * F.relu6(x + 3.0) * (1.0 / 6.0)


class HardSigmoid(nn.Module):
    """TF `hard_sigmoid`: relu6(x + 3) * 0.16667 (the TF literal, not 1/6, and not Keras' 0.2x+0.5)."""

    def forward(self, x: Tensor) -> Tensor:
        return F.relu6(x + 3.0) * 0.16667


def make_activation(name: str | None) -> nn.Module:
    """Activation module by TF name: swish, hard_swish, sigmoid, hard_sigmoid, relu or None."""
    factories = {
        None: nn.Identity,
        "swish": nn.SiLU,
        "hard_swish": HardSwish,
        "sigmoid": nn.Sigmoid,
        "hard_sigmoid": HardSigmoid,
        "relu": nn.ReLU,
    }
    if name not in factories:
        raise ValueError(f"unknown activation {name!r}; choose one of {sorted(k for k in factories if k)}")
    return factories[name]()


def make_divisible(value: float, divisor: int = 8) -> int:
    """TF `nn_layers.make_divisible`: round to a multiple of `divisor`, never below 90 %."""
    new_value = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if new_value < 0.9 * value:
        new_value += divisor
    return int(new_value)


# --------------------------------------------------------------------------------------------
# Padding


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TF SAME padding (before, after) for one axis: asymmetric (more after) when odd in total."""
    size = int(size)  # a Python int even under the ONNX tracer: conv/pool pads must be constants
    total = max(kernel - ((size - 1) % stride + 1), 0)
    return total // 2, total - total // 2


def conv_output_size(size: int, kernel: int, stride: int, padding: int | None) -> int:
    """Output length of a conv/pool axis: TF SAME when `padding is None`, else explicit symmetric."""
    if padding is None:
        return -(-size // stride)
    return (size + 2 * padding - kernel) // stride + 1


class Conv3d(nn.Conv3d):
    """Conv3d with TF SAME (default) or explicit symmetric padding, optionally causal in time.

    Args:
        padding: None for TF SAME in every axis (computed from the input size at call time), or
            an explicit symmetric (T, H, W) padding as PaddleVideo uses.
        causal: pad `kt - 1` zeros in front of the time axis and none after (TF 'causal').
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: Triple,
        stride: Triple = (1, 1, 1),
        *,
        groups: int = 1,
        bias: bool = False,
        padding: Triple | None = None,
        causal: bool = False,
    ) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding=0, groups=groups, bias=bias)
        self.explicit_padding = padding
        self.causal = causal

    def _axis_padding(self, axis: int, size: int, buffered: bool) -> tuple[int, int]:
        kernel, stride = self.kernel_size[axis], self.stride[axis]
        if axis == 0 and buffered:
            return 0, 0  # the previous frames were concatenated in front by the stream buffer
        if axis == 0 and self.causal:
            return kernel - 1, 0
        if self.explicit_padding is not None:
            pad = self.explicit_padding[axis]
            return pad, pad
        return same_padding(size, kernel, stride)

    def forward(self, x: Tensor, buffered: bool = False) -> Tensor:  # type: ignore[override]
        """x: (B, C_in, T, H, W) -> (B, C_out, T', H', W')."""
        pads = [self._axis_padding(axis, x.shape[2 + axis], buffered) for axis in range(3)]
        if x.shape[2] == 1 and self.kernel_size[0] == 1 and pads[0] == (0, 0) and pads[1][0] == pads[1][1] \
                and pads[2][0] == pads[2][1]:
            # One frame (the streaming case): a 2D conv on a free view, much faster on CPU.
            return F.conv2d(x.squeeze(2), self.weight.squeeze(2), self.bias, self.stride[1:],
                            (pads[1][0], pads[2][0]), 1, self.groups).unsqueeze(2)
        if all(before == after for before, after in pads):
            # Symmetric: let the conv pad, which avoids a copy of the input.
            return F.conv3d(x, self.weight, self.bias, self.stride, tuple(p[0] for p in pads), 1, self.groups)
        (t0, t1), (h0, h1), (w0, w1) = pads
        x = F.pad(x, (w0, w1, h0, h1, t0, t1))
        return F.conv3d(x, self.weight, self.bias, self.stride, 0, 1, self.groups)

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        pad = self.explicit_padding
        return (
            conv_output_size(height, self.kernel_size[1], self.stride[1], None if pad is None else pad[1]),
            conv_output_size(width, self.kernel_size[2], self.stride[2], None if pad is None else pad[2]),
        )


class SpatialAvgPool(nn.Module):
    """Average pool 1 x k x k / stride 1 x s x s that excludes padded cells from the divisor.

    TF SAME padding (default) or explicit symmetric padding (PaddleVideo `exclusive=True`).
    """

    def __init__(self, kernel: int = 3, stride: int = 2, padding: Triple | None = None) -> None:
        super().__init__()
        self.kernel, self.stride, self.explicit_padding = kernel, stride, padding

    def _padding(self, size: int, axis: int) -> tuple[int, int]:
        if self.explicit_padding is not None:
            pad = self.explicit_padding[axis]
            return pad, pad
        return same_padding(size, self.kernel, self.stride)

    def forward(self, x: Tensor) -> Tensor:
        """x: (B, C, T, H, W) -> (B, C, T, H', W')."""
        (h0, h1), (w0, w1) = self._padding(x.shape[3], 1), self._padding(x.shape[4], 2)
        kernel, stride = (1, self.kernel, self.kernel), (1, self.stride, self.stride)
        if h0 == h1 and w0 == w1 and min(x.shape[3], x.shape[4]) >= self.kernel:
            return F.avg_pool3d(x, kernel, stride, (0, h0, w0), count_include_pad=False)
        # Asymmetric (or a map smaller than the window, which avg_pool3d refuses even when padded):
        # average over zero-padded windows, then rescale by the valid fraction.
        padded = F.avg_pool3d(F.pad(x, (w0, w1, h0, h1)), kernel, stride)
        ones = x.new_ones((1, 1, 1, x.shape[3], x.shape[4]))
        valid = F.avg_pool3d(F.pad(ones, (w0, w1, h0, h1)), kernel, stride)
        return padded / valid

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        pad = self.explicit_padding
        return (
            conv_output_size(height, self.kernel, self.stride, None if pad is None else pad[1]),
            conv_output_size(width, self.kernel, self.stride, None if pad is None else pad[2]),
        )


# --------------------------------------------------------------------------------------------
# Conv blocks


class ConvBlock(nn.Module):
    """Conv -> BN -> activation, optionally factorised (2+1)D and causal with a stream buffer.

    Mirrors TF `StreamConvBlock`. With `factorize=True` and kt > 1 it is TF's '2plus1d' /
    '3d_2plus1d': a spatial conv (1, kh, kw) -> `bn` -> act, then a temporal conv (kt, 1, 1) ->
    `bn_t` -> act, the stream buffer sitting between the two (so strided layers buffer at output
    resolution). Otherwise a single 3D conv with the buffer in front of it.

    State (causal and kt > 1 only): `{prefix}.buffer` (B, C, kt-1, H, W), the last kt-1 frames
    seen by the temporal conv.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: Triple = (1, 1, 1),
        stride: Triple = (1, 1, 1),
        *,
        depthwise: bool = False,
        factorize: bool = False,
        causal: bool = False,
        activation: str | None = None,
        padding: Triple | None = None,
        bn_eps: float = 1e-3,
        bn_momentum: float = 0.01,
    ) -> None:
        super().__init__()
        kt, kh, kw = kernel_size
        groups = in_channels if depthwise else 1
        self.factorized = factorize and kt > 1
        self.buffer_frames = kt - 1 if causal and kt > 1 else 0
        self.state_prefix = ""
        if self.factorized:
            spatial_pad = None if padding is None else (0, padding[1], padding[2])
            temporal_pad = None if padding is None else (padding[0], 0, 0)
            self.conv = Conv3d(in_channels, out_channels, (1, kh, kw), (1, stride[1], stride[2]),
                               groups=groups, padding=spatial_pad)
            self.bn = nn.BatchNorm3d(out_channels, eps=bn_eps, momentum=bn_momentum)
            self.conv_t = Conv3d(out_channels, out_channels, (kt, 1, 1), (stride[0], 1, 1),
                                 groups=out_channels if depthwise else 1, padding=temporal_pad, causal=causal)
            self.bn_t = nn.BatchNorm3d(out_channels, eps=bn_eps, momentum=bn_momentum)
        else:
            self.conv = Conv3d(in_channels, out_channels, kernel_size, stride,
                               groups=groups, padding=padding, causal=causal)
            self.bn = nn.BatchNorm3d(out_channels, eps=bn_eps, momentum=bn_momentum)
        self.act = make_activation(activation)

    @property
    def buffer_key(self) -> str:
        return f"{self.state_prefix}.buffer"

    def _buffered(self, x: Tensor, state: State | None) -> tuple[Tensor, bool, State]:
        """Prepend the cached frames (stream mode) and return the frames to cache next."""
        if state is None or self.buffer_frames == 0:
            return x, False, {}
        buffer = state.get(self.buffer_key)
        if buffer is None:
            buffer = x.new_zeros((x.shape[0], x.shape[1], self.buffer_frames, x.shape[3], x.shape[4]))
        full = torch.cat([buffer, x], dim=2)  # (B, C, kt-1+t, H, W)
        # Slicing the concatenation (not x) keeps old frames when the chunk is shorter than kt-1.
        return full, True, {self.buffer_key: full[:, :, -self.buffer_frames:]}

    def forward(self, x: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        """x: (B, C_in, T, H, W) -> ((B, C_out, T, H', W'), new state entries)."""
        if self.factorized:
            x = self.act(self.bn(self.conv(x)))
            x, buffered, new_state = self._buffered(x, state)
            return self.act(self.bn_t(self.conv_t(x, buffered))), new_state
        x, buffered, new_state = self._buffered(x, state)
        return self.act(self.bn(self.conv(x, buffered))), new_state

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        return self.conv.output_size(height, width)

    def state_shapes(self, batch: int, height: int, width: int) -> dict[str, tuple[tuple[int, ...], torch.dtype]]:
        """Shapes of this block's state for an input of spatial size (height, width)."""
        if self.buffer_frames == 0:
            return {}
        if self.factorized:
            channels = self.conv_t.in_channels
            height, width = self.conv.output_size(height, width)
        else:
            channels = self.conv.in_channels
        return {self.buffer_key: ((batch, channels, self.buffer_frames, height, width), torch.float32)}


# --------------------------------------------------------------------------------------------
# Pooling, positional encoding, squeeze-excitation


def frame_count(state: State, key: str, like: Tensor) -> Tensor:
    """The per-sample int64 (B,) frame counter stored under `key`, zeros if absent.

    Per sample, so streams of different ages can share one batched step.
    """
    count = state.get(key)
    return count if count is not None else torch.zeros(like.shape[0], dtype=torch.int64, device=like.device)


class TemporalAveragePool(nn.Module):
    """Average of per-frame vectors over time; TF `GlobalAveragePool3D` applied to frame means.

    Causal: cumulative mean, one vector per frame (B, C, T, 1, 1). Non-causal: one vector
    (B, C, 1, 1, 1); in stream mode the running mean over every frame seen so far.
    State (stream mode): `{prefix}.sum` (B, C, 1, 1, 1) running sum, `{prefix}.count` int64 (B,).
    """

    def __init__(self, causal: bool) -> None:
        super().__init__()
        self.causal = causal
        self.state_prefix = ""

    def forward(self, x: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        """x: (B, C, T, 1, 1) frame means."""
        frames = x.shape[2]
        sum_key, count_key = f"{self.state_prefix}.sum", f"{self.state_prefix}.count"
        if state is None:
            if self.causal:
                steps = torch.arange(1, frames + 1, device=x.device, dtype=x.dtype).view(1, 1, -1, 1, 1)
                return x.cumsum(2) / steps, {}
            return x.mean(2, keepdim=True), {}
        previous = state.get(sum_key)
        count = frame_count(state, count_key, x)
        if self.causal:
            running = x.cumsum(2)
            if previous is not None:
                running = running + previous
            steps = torch.arange(1, frames + 1, device=x.device)[None, :] + count[:, None]  # (B, T)
            steps = steps.to(x.dtype).view(-1, 1, frames, 1, 1)
            return running / steps, {sum_key: running[:, :, -1:], count_key: count + frames}
        running = x.sum(2, keepdim=True)
        if previous is not None:
            running = running + previous
        seen = (count + frames).to(x.dtype).view(-1, 1, 1, 1, 1)
        return running / seen, {sum_key: running, count_key: count + frames}

    def state_shapes(self, batch: int, channels: int) -> dict[str, tuple[tuple[int, ...], torch.dtype]]:
        return {
            f"{self.state_prefix}.sum": ((batch, channels, 1, 1, 1), torch.float32),
            f"{self.state_prefix}.count": ((batch,), torch.int64),
        }


class PositionalEncoding(nn.Module):
    """Sinusoidal encoding of the absolute frame index, scaled by a learned scalar (init 0).

    TF `nn_layers.PositionalEncoding`: angle_i = 1 / 10000^(2*floor(i/2)/C); the encoding is the
    sines of the even channels followed by the cosines of the odd ones (blocks, not interleaved).
    State (stream mode): `{prefix}.count` int64 (B,), frames each stream has seen so far.
    """

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.zeros(()))
        self.state_prefix = ""

    def encoding(self, start: Tensor | None, frames: int, channels: int, like: Tensor) -> Tensor:
        """Encoding of positions start .. start+T-1: (B, C, T, 1, 1) for a (B,) `start`, or
        (1, C, T, 1, 1) from position 0 when `start` is None."""
        positions = torch.arange(frames, device=like.device)[None, :]  # (1, T)
        if start is not None:
            positions = positions + start[:, None]  # (B, T)
        index = torch.arange(channels, device=like.device)
        power = (2 * torch.div(index, 2, rounding_mode="floor")).to(torch.float32) / channels
        radians = positions.to(torch.float32)[:, :, None] * (1.0 / torch.pow(10000.0, power))  # (B, T, C)
        encoding = torch.cat([torch.sin(radians[:, :, 0::2]), torch.cos(radians[:, :, 1::2])], dim=2)
        return encoding.transpose(1, 2).reshape(-1, channels, frames, 1, 1).to(like.dtype)

    def forward(self, x: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        """x: (B, C, T, 1, 1) -> same shape."""
        frames, channels = x.shape[2], x.shape[1]
        count_key = f"{self.state_prefix}.count"
        start = frame_count(state, count_key, x) if state is not None else None
        out = x + self.scale * self.encoding(start, frames, channels, x)
        return out, ({} if state is None else {count_key: start + frames})


class SqueezeExcite(nn.Module):
    """Squeeze-excitation with causal pooling; TF `StreamSqueezeExcitation`.

    se_type "3d": (cumulative) spatio-temporal mean; "2d": per-frame mean; "2plus3d": the
    (cumulative) mean concatenated before the per-frame mean (2C channels into `reduce`).
    """

    def __init__(
        self,
        channels: int,
        hidden_channels: int,
        *,
        se_type: str = "3d",
        causal: bool = False,
        activation: str = "swish",
        gating_activation: str = "sigmoid",
        positional_encoding: bool = False,
    ) -> None:
        super().__init__()
        if se_type not in ("3d", "2d", "2plus3d"):
            raise ValueError(f"unknown se_type {se_type!r}; choose '3d', '2d' or '2plus3d'")
        in_channels = 2 * channels if se_type == "2plus3d" else channels
        self.se_type, self.causal = se_type, causal
        self.pool = TemporalAveragePool(causal)
        self.pos_enc = PositionalEncoding() if positional_encoding else None
        self.reduce = nn.Conv3d(in_channels, hidden_channels, 1, bias=True)
        self.act = make_activation(activation)
        self.expand = nn.Conv3d(hidden_channels, channels, 1, bias=True)
        self.gate = make_activation(gating_activation)

    def forward(self, x: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        """x: (B, C, T, H, W) -> (x * gate, new state entries)."""
        new_state: State = {}
        frame_means = x.mean(dim=(3, 4), keepdim=True)  # (B, C, T, 1, 1)
        if self.se_type == "2d":
            squeezed = frame_means
        else:
            pooled, new_state = self.pool(frame_means, state)
            if self.se_type == "3d":
                squeezed = pooled
            else:
                if not self.causal:
                    pooled = pooled.expand(-1, -1, x.shape[2], -1, -1)
                squeezed = torch.cat([pooled, frame_means], dim=1)
        if self.pos_enc is not None:
            squeezed, pos_state = self.pos_enc(squeezed, state)
            new_state = {**new_state, **pos_state}
        gate = self.gate(self.expand(self.act(self.reduce(squeezed))))
        return x * gate, new_state

    def state_shapes(self, batch: int) -> dict[str, tuple[tuple[int, ...], torch.dtype]]:
        shapes = {} if self.se_type == "2d" else self.pool.state_shapes(batch, self.expand.out_channels)
        if self.pos_enc is not None:
            shapes[f"{self.pos_enc.state_prefix}.count"] = ((batch,), torch.int64)
        return shapes


# --------------------------------------------------------------------------------------------
# The bottleneck layer


class DropPath(nn.Module):
    """Stochastic depth on the residual branch: drop whole samples, rescale the kept ones."""

    def __init__(self, rate: float) -> None:
        super().__init__()
        self.rate = rate

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.rate <= 0.0:
            return x
        keep = 1.0 - self.rate
        mask = x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(keep)
        return x * mask / keep

    def extra_repr(self) -> str:
        return f"rate={self.rate:.4f}"


class Skip(nn.Module):
    """Shortcut when the shape changes: optional 1x3x3/2 average pool, then 1x1x1 conv + BN."""

    def __init__(self, in_channels: int, out_channels: int, *, downsample: bool,
                 pool_padding: Triple | None, bn_eps: float, bn_momentum: float) -> None:
        super().__init__()
        self.pool = SpatialAvgPool(3, 2, pool_padding) if downsample else None
        self.project = ConvBlock(in_channels, out_channels, bn_eps=bn_eps, bn_momentum=bn_momentum)

    def forward(self, x: Tensor) -> Tensor:
        if self.pool is not None:
            x = self.pool(x)
        return self.project(x)[0]


class BottleneckLayer(nn.Module):
    """One MoViNet layer: expansion -> depthwise feature conv -> SE -> projection, ReZero, skip.

    Mirrors TF `MovinetBlock`/`MobileBottleneck`: out = skip(x) + drop_path(rezero * branch(x)).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        expand_channels: int,
        kernel_size: Triple,
        stride: Triple,
        *,
        se_hidden_channels: int,
        causal: bool,
        factorize: bool,
        se_type: str,
        activation: str,
        gating_activation: str,
        positional_encoding: bool,
        drop_path: float,
        padding: Triple | None,
        pool_padding: Triple | None,
        bn_eps: float,
        bn_momentum: float,
    ) -> None:
        super().__init__()
        bn = dict(bn_eps=bn_eps, bn_momentum=bn_momentum)
        self.expansion = ConvBlock(in_channels, expand_channels, activation=activation, **bn)
        self.feature = ConvBlock(expand_channels, expand_channels, kernel_size, stride, depthwise=True,
                                 factorize=factorize, causal=causal, activation=activation,
                                 padding=padding, **bn)
        self.se = None
        if se_type != "none":
            self.se = SqueezeExcite(expand_channels, se_hidden_channels, se_type=se_type, causal=causal,
                                    activation=activation, gating_activation=gating_activation,
                                    positional_encoding=positional_encoding)
        self.projection = ConvBlock(expand_channels, out_channels, **bn)
        self.rezero = nn.Parameter(torch.zeros(()))
        self.drop_path = DropPath(drop_path)
        downsample = any(s > 1 for s in stride)
        self.skip = None
        if downsample or in_channels != out_channels:
            self.skip = Skip(in_channels, out_channels, downsample=downsample, pool_padding=pool_padding, **bn)

    def forward(self, x: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        """x: (B, C_in, T, H, W) -> ((B, C_out, T, H', W'), new state entries)."""
        y = self.expansion(x)[0]
        y, new_state = self.feature(y, state)
        if self.se is not None:
            y, se_state = self.se(y, state)
            new_state = {**new_state, **se_state}
        y = self.projection(y)[0]
        y = self.drop_path(self.rezero * y)
        shortcut = x if self.skip is None else self.skip(x)
        return shortcut + y, new_state

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        return self.feature.output_size(height, width)

    def state_shapes(self, batch: int, height: int, width: int) -> dict[str, tuple[tuple[int, ...], torch.dtype]]:
        shapes = self.feature.state_shapes(batch, height, width)
        if self.se is not None:
            shapes.update(self.se.state_shapes(batch))
        return shapes


def init_weights(module: nn.Module) -> None:
    """TF initialisation: He-normal (truncated, fan-in) convs, BN gamma 1 / beta 0, zero biases."""
    for m in module.modules():
        if isinstance(m, nn.Conv3d):
            fan_in = m.weight[0].numel()
            std = math.sqrt(2.0 / fan_in) / 0.87962566103423978  # Keras truncated-normal correction
            nn.init.trunc_normal_(m.weight, std=std, a=-2 * std, b=2 * std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm3d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
