"""One layer per job: a plain Conv3d with a build-time padding rule, blocks that own time."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from movinet.models.layers import CausalConvBlock, Conv3d, ConvBlock, SpatialAvgPool, make_conv_block


def tf_same_pad(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TF's SAME rule written out: total = max(k - s, 0) when size % s == 0, else max(k - size % s, 0)."""
    total = max(kernel - stride, 0) if size % stride == 0 else max(kernel - size % stride, 0)
    return total // 2, total - total // 2


@pytest.mark.parametrize("height, width", [(8, 8), (9, 9), (8, 11), (13, 10)])
@pytest.mark.parametrize("kernel, stride", [(3, 2), (5, 2), (3, 1), (1, 1)])
def test_conv3d_same_padding_follows_the_tf_rule_at_every_parity(height, width, kernel, stride):
    conv = Conv3d(4, 6, (1, kernel, kernel), (1, stride, stride), bias=True)
    with torch.no_grad():
        conv.bias.uniform_(-1, 1)
    x = torch.randn(2, 4, 3, height, width)
    (h0, h1), (w0, w1) = tf_same_pad(height, kernel, stride), tf_same_pad(width, kernel, stride)
    expected = F.conv3d(F.pad(x, (w0, w1, h0, h1)), conv.weight, conv.bias, conv.stride, groups=1)
    with torch.no_grad():
        out = conv(x)
    torch.testing.assert_close(out, expected)
    assert out.shape[3:] == conv.output_size(height, width)


def test_conv3d_explicit_padding_is_symmetric_and_fixed():
    conv = Conv3d(3, 5, (3, 3, 3), (1, 2, 2), temporal_padding=1, spatial_padding=(0, 1))
    x = torch.randn(1, 3, 4, 10, 9)
    with torch.no_grad():
        expected = F.conv3d(x, conv.weight, None, (1, 2, 2), (1, 0, 1))
        torch.testing.assert_close(conv(x), expected)


def test_stateless_blocks_return_a_tensor_and_causal_ones_a_state():
    x = torch.randn(1, 4, 3, 12, 12)
    plain = make_conv_block(4, 4, (3, 3, 3), causal=False, depthwise=True, activation="swish")
    pointwise = make_conv_block(4, 8, (1, 1, 1), causal=True)  # kt = 1 needs no buffer
    causal = make_conv_block(4, 4, (3, 3, 3), causal=True, depthwise=True, factorize=True, activation="hard_swish")
    assert isinstance(plain, ConvBlock) and isinstance(pointwise, ConvBlock) and isinstance(causal, CausalConvBlock)
    causal.state_prefix = "block"
    with torch.no_grad():
        assert isinstance(plain(x), torch.Tensor) and isinstance(pointwise(x), torch.Tensor)
        out, state = causal(x, {})
    assert out.shape == x.shape and set(state) == {"block.buffer"} and state["block.buffer"].shape == (1, 4, 2, 12, 12)


def test_causal_block_sees_only_the_past():
    torch.manual_seed(0)
    block = CausalConvBlock(3, 3, (3, 3, 3), depthwise=True, activation="swish").eval()
    x = torch.randn(1, 3, 6, 10, 10)
    changed = x.clone()
    changed[:, :, 4:] += 1.0
    with torch.no_grad():
        a, _ = block(x)
        b, _ = block(changed)
    torch.testing.assert_close(a[:, :, :4], b[:, :, :4])
    assert not torch.allclose(a[:, :, 4:], b[:, :, 4:])


@pytest.mark.parametrize("size", [1, 2, 5, 6])
def test_spatial_avg_pool_excludes_padding_even_on_maps_smaller_than_the_window(size):
    pool = SpatialAvgPool(3, 2)
    x = torch.randn(1, 2, 2, size, size)
    (h0, h1) = tf_same_pad(size, 3, 2)
    out = pool(x)
    padded = F.pad(x, (h0, h1, h0, h1))
    mask = F.pad(torch.ones_like(x), (h0, h1, h0, h1))
    expected = padded.unfold(3, 3, 2).unfold(4, 3, 2).sum((-1, -2)) / mask.unfold(3, 3, 2).unfold(4, 3, 2).sum((-1, -2))
    torch.testing.assert_close(out, expected)
