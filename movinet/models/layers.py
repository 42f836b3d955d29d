"""MoViNet building blocks with an explicit, functional stream state.

Mirrors TF Model Garden `official/projects/movinet/modeling/movinet_layers.py` and the pooling /
positional-encoding layers of `official/vision/modeling/layers/nn_layers.py`, in PyTorch layout
(B, C, T, H, W).

One layer per job: `Conv3d` is a plain convolution with a padding rule fixed when it is built;
the temporal padding (causal zeros in front, symmetric otherwise) and the stream buffer belong
to the conv block. Stateless layers (`ConvBlock`, `Skip`) return a tensor. Stateful layers
(`CausalConvBlock`, pools, positional encoding, SE, the bottleneck) take `state: State | None`
and return `(output, new_entries)`:
  * `state is None` is whole-clip mode: causal blocks prepend zero frames, pools average over
    the clip, nothing is returned (`{}`);
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
    """A plain 3D convolution whose padding rule is fixed when it is built.

    Time: `temporal_padding` zero frames on both sides (the conv block decides it: symmetric for
    a non-causal block, 0 for a causal one, which prepends its buffer instead).
    Space: explicit symmetric `spatial_padding` (PaddleVideo), or TF SAME when it is None. TF
    SAME gives (before, after) = `same_padding(size, k, s)`; at stride 2 that depends on the
    parity of the input, so it is computed from the input size by that one rule. The conv pads
    `before` on both sides itself and `F.pad` adds the surplus after, only where the rule can
    produce one (stride > 1 or an even kernel), which is known when the layer is built.
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
        temporal_padding: int = 0,
        spatial_padding: tuple[int, int] | None = None,
    ) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding=0, groups=groups, bias=bias)
        self.temporal_padding = temporal_padding
        self.spatial_padding = spatial_padding
        self.pads_surplus = spatial_padding is None and any(
            s > 1 or k % 2 == 0 for k, s in zip(self.kernel_size[1:], self.stride[1:]))

    def spatial_pads(self, height: int, width: int) -> tuple[tuple[int, int], tuple[int, int]]:
        """(before, after) padding of the H and W axes for an input of height x width."""
        if self.spatial_padding is not None:
            ph, pw = self.spatial_padding
            return (ph, ph), (pw, pw)
        return (same_padding(height, self.kernel_size[1], self.stride[1]),
                same_padding(width, self.kernel_size[2], self.stride[2]))

    def forward(self, x: Tensor) -> Tensor:  # type: ignore[override]
        """x: (B, C_in, T, H, W) -> (B, C_out, T + 2 p_t - kt + 1, H', W')."""
        (h0, h1), (w0, w1) = self.spatial_pads(x.shape[3], x.shape[4])
        if self.pads_surplus:
            x = F.pad(x, (0, w1 - w0, 0, h1 - h0))
        return F.conv3d(x, self.weight, self.bias, self.stride, (self.temporal_padding, h0, w0), 1, self.groups)

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        pad = self.spatial_padding
        return (
            conv_output_size(height, self.kernel_size[1], self.stride[1], None if pad is None else pad[0]),
            conv_output_size(width, self.kernel_size[2], self.stride[2], None if pad is None else pad[1]),
        )


# --------------------------------------------------------------------------------------------
# Deterministic GPU forms: under `torch.use_deterministic_algorithms(True)` CUDA has no
# deterministic avg_pool3d backward nor float cumsum (both raise), so a deterministic GPU run
# (`train.deterministic`, what makes a resume bit-exact) takes these equivalents instead.


def deterministic_cuda(x: Tensor) -> bool:
    """Whether `x` runs on a GPU with deterministic algorithms required."""
    return x.is_cuda and torch.are_deterministic_algorithms_enabled()


def sequential_cumsum(x: Tensor, dim: int) -> Tensor:
    """`x.cumsum(dim)` as a chain of adds (deterministic on every device)."""
    slices = x.unbind(dim)
    running = [slices[0]]
    for item in slices[1:]:
        running.append(running[-1] + item)
    return torch.stack(running, dim)


def frame_cumsum(x: Tensor) -> Tensor:
    """Cumulative sum over frames, (B, C, T, ...) -> same shape."""
    return sequential_cumsum(x, 2) if deterministic_cuda(x) else x.cumsum(2)


def spatial_avg_pool(x: Tensor, kernel: int, stride: int) -> Tensor:
    """`F.avg_pool3d(x, (1, k, k), (1, s, s))` of a padded (B, C, T, H, W) map; on a deterministic GPU
    a depthwise convolution with a constant 1/k^2 kernel (cuDNN has deterministic algorithms for it)."""
    if deterministic_cuda(x):
        return avg_pool_as_conv(x, kernel, stride)
    return F.avg_pool3d(x, (1, kernel, kernel), (1, stride, stride))


def avg_pool_as_conv(x: Tensor, kernel: int, stride: int) -> Tensor:
    """The 1 x k x k / stride 1 x s x s average pool of (B, C, T, H, W) as a depthwise convolution."""
    weight = torch.full((x.shape[1], 1, 1, kernel, kernel), 1.0 / kernel**2, dtype=x.dtype, device=x.device)
    return F.conv3d(x, weight, stride=(1, stride, stride), groups=x.shape[1])


class SpatialAvgPool(nn.Module):
    """Average pool 1 x k x k / stride 1 x s x s that excludes padded cells from the divisor.

    TF SAME padding (default) or explicit symmetric padding (PaddleVideo `exclusive=True`). One
    formula for both: the mean over zero-padded windows divided by the valid fraction of each
    window (which also works where a map is smaller than the window).
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
        padded = spatial_avg_pool(F.pad(x, (w0, w1, h0, h1)), self.kernel, self.stride)
        ones = x.new_ones((1, 1, 1, x.shape[3], x.shape[4]))
        valid = spatial_avg_pool(F.pad(ones, (w0, w1, h0, h1)), self.kernel, self.stride)
        return padded / valid

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        pad = self.explicit_padding
        return (
            conv_output_size(height, self.kernel, self.stride, None if pad is None else pad[1]),
            conv_output_size(width, self.kernel, self.stride, None if pad is None else pad[2]),
        )


# --------------------------------------------------------------------------------------------
# Conv blocks


class ConvBNActivation(nn.Module):
    """What every conv block holds: conv -> BN (-> temporal conv -> BN) -> activation.

    With `factorize=True` and kt > 1 it is TF's '2plus1d' / '3d_2plus1d': a spatial conv
    (1, kh, kw) -> `bn` -> act, then a temporal depthwise-or-full conv (kt, 1, 1) -> `bn_t` -> act.
    Otherwise one (kt, kh, kw) conv -> `bn` -> act. `temporal_padding` is the block's rule: the
    zero frames its temporal conv pads on both sides (0 for a causal block, which prepends frames
    itself). The subclasses say how time is padded and whether a state comes back (`stateful`).
    """

    stateful = False

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: Triple,
        stride: Triple,
        *,
        depthwise: bool,
        factorize: bool,
        activation: str | None,
        temporal_padding: int,
        spatial_padding: tuple[int, int] | None,
        bn_eps: float,
        bn_momentum: float,
    ) -> None:
        super().__init__()
        kt, kh, kw = kernel_size
        if stride[0] != 1:
            raise ValueError(f"temporal stride must be 1 (every MoViNet layer keeps the frame rate), got {stride}")
        groups = in_channels if depthwise else 1
        self.factorized = factorize and kt > 1
        if self.factorized:
            self.conv = Conv3d(in_channels, out_channels, (1, kh, kw), (1, stride[1], stride[2]),
                               groups=groups, spatial_padding=spatial_padding)
            self.bn = nn.BatchNorm3d(out_channels, eps=bn_eps, momentum=bn_momentum)
            self.conv_t = Conv3d(out_channels, out_channels, (kt, 1, 1), groups=out_channels if depthwise else 1,
                                 temporal_padding=temporal_padding, spatial_padding=(0, 0))
            self.bn_t = nn.BatchNorm3d(out_channels, eps=bn_eps, momentum=bn_momentum)
        else:
            self.conv = Conv3d(in_channels, out_channels, kernel_size, stride, groups=groups,
                               temporal_padding=temporal_padding, spatial_padding=spatial_padding)
            self.bn = nn.BatchNorm3d(out_channels, eps=bn_eps, momentum=bn_momentum)
        self.act = make_activation(activation)

    @property
    def temporal_kernel(self) -> int:
        return (self.conv_t if self.factorized else self.conv).kernel_size[0]

    def spatial(self, x: Tensor) -> Tensor:
        """The part before the temporal padding: the spatial conv of a factorised block, else nothing."""
        return self.act(self.bn(self.conv(x))) if self.factorized else x

    def temporal(self, x: Tensor) -> Tensor:
        """The conv that sees time (the temporal conv, or the single 3D conv) -> BN -> act."""
        if self.factorized:
            return self.act(self.bn_t(self.conv_t(x)))
        return self.act(self.bn(self.conv(x)))

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        return self.conv.output_size(height, width)


def _spatial_padding(padding: Triple | None) -> tuple[int, int] | None:
    return None if padding is None else (padding[1], padding[2])


class ConvBlock(ConvBNActivation):
    """Stateless conv -> BN -> activation (non-causal, or kt = 1): returns a tensor.

    Time is padded symmetrically: PaddleVideo's explicit `padding[0]`, else TF SAME, which at
    temporal stride 1 and odd kt is (kt - 1) / 2 frames on each side.
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
        activation: str | None = None,
        padding: Triple | None = None,
        bn_eps: float = 1e-3,
        bn_momentum: float = 0.01,
    ) -> None:
        kt = kernel_size[0]
        if padding is None and kt % 2 == 0:
            raise ValueError(f"TF SAME in time needs an odd temporal kernel, got {kernel_size}")
        super().__init__(in_channels, out_channels, kernel_size, stride, depthwise=depthwise, factorize=factorize,
                         activation=activation, temporal_padding=(kt - 1) // 2 if padding is None else padding[0],
                         spatial_padding=_spatial_padding(padding), bn_eps=bn_eps, bn_momentum=bn_momentum)

    def forward(self, x: Tensor) -> Tensor:
        """x: (B, C_in, T, H, W) -> (B, C_out, T, H', W')."""
        return self.temporal(self.spatial(x))


class CausalConvBlock(ConvBNActivation):
    """Causal conv block with a stream buffer (kt > 1): returns `(tensor, new state entries)`.

    Mirrors TF `StreamConvBlock`. The temporal conv sees kt - 1 frames before each output frame:
    zeros in whole-clip mode (`state is None`), else the buffered frames of the previous steps
    (zeros when the entry is missing). In a factorised block the buffer sits between the spatial
    and the temporal conv (so strided layers buffer at output resolution).

    State: `{prefix}.buffer` (B, C, kt-1, H, W), the last kt-1 frames seen by the temporal conv.
    """

    stateful = True

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: Triple,
        stride: Triple = (1, 1, 1),
        *,
        depthwise: bool = False,
        factorize: bool = False,
        activation: str | None = None,
        padding: Triple | None = None,
        bn_eps: float = 1e-3,
        bn_momentum: float = 0.01,
    ) -> None:
        if kernel_size[0] < 2:
            raise ValueError(f"a causal block needs a temporal kernel > 1 (use ConvBlock), got {kernel_size}")
        super().__init__(in_channels, out_channels, kernel_size, stride, depthwise=depthwise, factorize=factorize,
                         activation=activation, temporal_padding=0, spatial_padding=_spatial_padding(padding),
                         bn_eps=bn_eps, bn_momentum=bn_momentum)
        self.buffer_frames = kernel_size[0] - 1
        self.state_prefix = ""

    @property
    def buffer_key(self) -> str:
        return f"{self.state_prefix}.buffer"

    def _with_history(self, x: Tensor, state: State | None) -> tuple[Tensor, State]:
        """Prepend the kt-1 previous frames; returns (B, C, kt-1+t, H, W) and the frames to cache next."""
        buffer = None if state is None else state.get(self.buffer_key)
        if buffer is None:
            full = F.pad(x, (0, 0, 0, 0, self.buffer_frames, 0))
        else:
            full = torch.cat([buffer, x], dim=2)
        if state is None:
            return full, {}
        # Slicing the concatenation (not x) keeps old frames when the chunk is shorter than kt-1.
        return full, {self.buffer_key: full[:, :, -self.buffer_frames:]}

    def forward(self, x: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        """x: (B, C_in, T, H, W) -> ((B, C_out, T, H', W'), new state entries)."""
        full, new_state = self._with_history(self.spatial(x), state)
        return self.temporal(full), new_state

    def state_shapes(self, batch: int, height: int, width: int) -> dict[str, tuple[tuple[int, ...], torch.dtype]]:
        """Shapes of this block's state for an input of spatial size (height, width)."""
        if self.factorized:
            channels = self.conv_t.in_channels
            height, width = self.conv.output_size(height, width)
        else:
            channels = self.conv.in_channels
        return {self.buffer_key: ((batch, channels, self.buffer_frames, height, width), torch.float32)}


def make_conv_block(in_channels: int, out_channels: int, kernel_size: Triple = (1, 1, 1),
                    stride: Triple = (1, 1, 1), *, causal: bool = False, **kwargs) -> ConvBNActivation:
    """The conv block for a rule: `CausalConvBlock` when causal with kt > 1, else `ConvBlock`."""
    if causal and kernel_size[0] > 1:
        return CausalConvBlock(in_channels, out_channels, kernel_size, stride, **kwargs)
    return ConvBlock(in_channels, out_channels, kernel_size, stride, **kwargs)


def apply_conv_block(block: nn.Module, x: Tensor, state: State | None) -> tuple[Tensor, State]:
    """Run a conv block (made by `make_conv_block`, or its folded form) on a stateful path: a
    stateless block adds no state."""
    if block.stateful:
        return block(x, state)
    return block(x), {}


def conv_block_state_shapes(block: nn.Module, batch: int, height: int,
                            width: int) -> dict[str, tuple[tuple[int, ...], torch.dtype]]:
    """Stream state shapes of a conv block (none for a stateless one)."""
    return block.state_shapes(batch, height, width) if block.stateful else {}


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
                return frame_cumsum(x) / steps, {}
            return x.mean(2, keepdim=True), {}
        previous = state.get(sum_key)
        count = frame_count(state, count_key, x)
        if frames == 1:  # one frame of a stream: the cumulative and the running mean are one add
            running = x if previous is None else x + previous
            count = count + 1
            return running / count.to(x.dtype).view(-1, 1, 1, 1, 1), {sum_key: running, count_key: count}
        if self.causal:
            running = frame_cumsum(x)
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
        frames, channels = x.shape[2], int(x.shape[1])  # channels never vary: a constant in traced graphs
        count_key = f"{self.state_prefix}.count"
        start = frame_count(state, count_key, x) if state is not None else None
        out = x + self.scale * self.encoding(start, frames, channels, x)
        return out, ({} if state is None else {count_key: start + frames})


def squeeze_frames(frame_means: Tensor, state: State | None, *, se_type: str, causal: bool,
                   pool: TemporalAveragePool, pos_enc: PositionalEncoding | None) -> tuple[Tensor, State]:
    """The squeeze of `SqueezeExcite` (and of its folded form) from the per-frame means.

    Args:
        frame_means: (B, C, T, 1, 1) spatial means of each frame.
        state: None (whole clip) or the stream state (`pool` and `pos_enc` read their keys).

    Returns:
        ((B, C or 2C, T or 1, 1, 1) squeezed input of the excitation, new state entries).
    """
    new_state: State = {}
    if se_type == "2d":
        squeezed = frame_means
    else:
        pooled, new_state = pool(frame_means, state)
        if se_type == "3d":
            squeezed = pooled
        else:
            if not causal:
                pooled = pooled.expand(-1, -1, frame_means.shape[2], -1, -1)
            squeezed = torch.cat([pooled, frame_means], dim=1)
    if pos_enc is not None:
        squeezed, pos_state = pos_enc(squeezed, state)
        new_state = {**new_state, **pos_state}
    return squeezed, new_state


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
        squeezed, new_state = squeeze_frames(x.mean(dim=(3, 4), keepdim=True), state, se_type=self.se_type,
                                             causal=self.causal, pool=self.pool, pos_enc=self.pos_enc)
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
        return self.project(x)


class BottleneckLayer(nn.Module):
    """One MoViNet layer: expansion -> depthwise feature conv -> SE -> projection, ReZero, skip.

    Mirrors TF `MovinetBlock`/`MobileBottleneck`: out = skip(x) + drop_path(rezero * branch(x)).
    `rezero` is None in the inference form, which folds it into the projection.
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
        self.feature = make_conv_block(expand_channels, expand_channels, kernel_size, stride, causal=causal,
                                       depthwise=True, factorize=factorize, activation=activation,
                                       padding=padding, **bn)
        self.se = None
        if se_type != "none":
            self.se = SqueezeExcite(expand_channels, se_hidden_channels, se_type=se_type, causal=causal,
                                    activation=activation, gating_activation=gating_activation,
                                    positional_encoding=positional_encoding)
        self.projection = ConvBlock(expand_channels, out_channels, **bn)
        self.rezero: nn.Parameter | None = nn.Parameter(torch.zeros(()))
        self.drop_path = DropPath(drop_path)
        downsample = any(s > 1 for s in stride)
        self.skip = None
        if downsample or in_channels != out_channels:
            self.skip = Skip(in_channels, out_channels, downsample=downsample, pool_padding=pool_padding, **bn)

    def forward(self, x: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        """x: (B, C_in, T, H, W) -> ((B, C_out, T, H', W'), new state entries)."""
        y = self.expansion(x)
        y, new_state = apply_conv_block(self.feature, y, state)
        if self.se is not None:
            y, se_state = self.se(y, state)
            new_state.update(se_state)
        y = self.projection(y)
        shortcut = x if self.skip is None else self.skip(x)
        if self.rezero is None:  # the inference form (ReZero folded): the projection's output is fresh
            return y.add_(shortcut), new_state
        return shortcut + self.drop_path(self.rezero * y), new_state

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        return self.feature.output_size(height, width)

    def state_shapes(self, batch: int, height: int, width: int) -> dict[str, tuple[tuple[int, ...], torch.dtype]]:
        shapes = conv_block_state_shapes(self.feature, batch, height, width)
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
