"""MoViNet architecture tables, as plain data.

The official tables mirror TF Model Garden's `BLOCK_SPECS` (official/projects/movinet/modeling/
movinet.py) row for row, so a reviewer can diff them against the reference. PaddleVideo's A0 uses
the A0 table with its own explicit paddings (`PADDLE_A0_PADDINGS`).

Shorthand: K(abb) = kernel (a, b, b); S(abb) = stride (a, b, b), both in (T, H, W) order.
Numbers that can be derived (input channels, paddings, SE widths, drop-path rates) are computed
by the model, never written here. This module does not import torch.
"""

from __future__ import annotations

from dataclasses import dataclass

Triple = tuple[int, int, int]

K13, K15, K33, K53 = (1, 3, 3), (1, 5, 5), (3, 3, 3), (5, 3, 3)
S11, S12 = (1, 1, 1), (1, 2, 2)


@dataclass(frozen=True)
class LayerSpec:
    """One MoViNet block layer (inverted bottleneck). TF: expand_filters, kernel_size, strides."""

    expand_channels: int
    kernel_size: Triple
    stride: Triple


@dataclass(frozen=True)
class StageSpec:
    """A run of layers projecting to the same width. TF: `BlockSpec(base_filters, ...)`."""

    out_channels: int
    layers: tuple[LayerSpec, ...]


@dataclass(frozen=True)
class ArchSpec:
    """A whole MoViNet: stem conv, five stages, head projection and classifier hidden width."""

    stem_channels: int
    stem_kernel: Triple
    stem_stride: Triple
    stages: tuple[StageSpec, ...]
    head_channels: int  # TF: head `project` filters
    hidden_channels: int  # TF: `head_filters` (classifier hidden width)

    @property
    def num_layers(self) -> int:
        return sum(len(stage.layers) for stage in self.stages)


def _stage(out_channels: int, *rows: tuple[int, Triple, Triple]) -> StageSpec:
    return StageSpec(out_channels, tuple(LayerSpec(e, k, s) for e, k, s in rows))


ARCH_SPECS: dict[str, ArchSpec] = {
    "a0": ArchSpec(
        8, K13, S12,
        (
            _stage(8, (24, K15, S12)),
            _stage(32, (80, K33, S12), (80, K33, S11), (80, K33, S11)),
            _stage(56, (184, K53, S12), (112, K33, S11), (184, K33, S11)),
            _stage(56, (184, K53, S11), (184, K33, S11), (184, K33, S11), (184, K33, S11)),
            _stage(104, (384, K53, S12), (280, K15, S11), (280, K15, S11), (344, K15, S11)),
        ),
        480, 2048,
    ),
    "a1": ArchSpec(
        16, K13, S12,
        (
            _stage(16, (40, K15, S12), (40, K33, S11)),
            _stage(40, (96, K33, S12), (120, K33, S11), (96, K33, S11), (96, K33, S11)),
            _stage(64, (216, K53, S12), (128, K33, S11), (216, K33, S11), (168, K33, S11),
                   (216, K33, S11)),
            _stage(64, (216, K53, S11), (216, K33, S11), (216, K33, S11), (128, K33, S11),
                   (128, K15, S11), (216, K33, S11)),
            _stage(136, (456, K53, S12), (360, K15, S11), (360, K15, S11), (360, K15, S11),
                   (456, K15, S11), (456, K33, S11), (544, K13, S11)),
        ),
        600, 2048,
    ),
    "a2": ArchSpec(
        16, K13, S12,
        (
            _stage(16, (40, K15, S12), (40, K33, S11), (64, K33, S11)),
            _stage(40, (96, K33, S12), (120, K33, S11), (96, K33, S11), (96, K33, S11),
                   (120, K33, S11)),
            _stage(72, (240, K53, S12), (160, K33, S11), (240, K33, S11), (192, K33, S11),
                   (240, K33, S11)),
            _stage(72, (240, K53, S11), (240, K33, S11), (240, K33, S11), (240, K33, S11),
                   (144, K15, S11), (240, K33, S11)),
            _stage(144, (480, K53, S12), (384, K15, S11), (384, K15, S11), (480, K15, S11),
                   (480, K15, S11), (480, K33, S11), (576, K13, S11)),
        ),
        640, 2048,
    ),
    "a3": ArchSpec(
        16, K13, S12,
        (
            _stage(16, (40, K15, S12), (40, K33, S11), (64, K33, S11), (40, K33, S11)),
            _stage(48, (112, K33, S12), (144, K33, S11), (112, K33, S11), (112, K15, S11),
                   (144, K33, S11), (144, K33, S11)),
            _stage(80, (240, K53, S12), (152, K33, S11), (240, K33, S11), (192, K33, S11),
                   (240, K33, S11)),
            _stage(88, (264, K53, S11), (264, K33, S11), (264, K33, S11), (264, K33, S11),
                   (160, K15, S11), (264, K33, S11), (264, K33, S11), (264, K33, S11)),
            _stage(168, (560, K53, S12), (448, K15, S11), (448, K15, S11), (560, K15, S11),
                   (560, K15, S11), (560, K33, S11), (448, K15, S11), (448, K15, S11),
                   (560, K33, S11), (672, K13, S11)),
        ),
        744, 2048,
    ),
    "a4": ArchSpec(
        24, K13, S12,
        (
            _stage(24, (64, K15, S12), (64, K33, S11), (96, K33, S11), (64, K33, S11),
                   (96, K33, S11), (64, K33, S11)),
            _stage(56, (168, K33, S12), (168, K33, S11), (136, K33, S11), (136, K33, S11),
                   (168, K33, S11), (168, K33, S11), (168, K33, S11), (136, K15, S11),
                   (136, K33, S11)),
            _stage(96, (320, K53, S12), (160, K33, S11), (320, K33, S11), (192, K33, S11),
                   (320, K33, S11), (160, K33, S11), (320, K33, S11), (256, K33, S11),
                   (320, K33, S11)),
            _stage(96, (320, K53, S11), (320, K33, S11), (320, K33, S11), (320, K33, S11),
                   (192, K15, S11), (320, K33, S11), (320, K33, S11), (192, K33, S11),
                   (320, K33, S11), (320, K33, S11)),
            _stage(192, (640, K53, S12), (512, K15, S11), (512, K15, S11), (640, K15, S11),
                   (640, K15, S11), (640, K33, S11), (512, K15, S11), (512, K15, S11),
                   (640, K15, S11), (768, K15, S11), (640, K15, S11), (640, K33, S11),
                   (768, K33, S11)),
        ),
        856, 2048,
    ),
    "a5": ArchSpec(
        24, K13, S12,
        (
            _stage(24, (64, K15, S12), (64, K15, S11), (96, K33, S11), (64, K33, S11),
                   (96, K33, S11), (64, K33, S11)),
            _stage(64, (192, K53, S12), (152, K33, S11), (152, K33, S11), (152, K33, S11),
                   (192, K33, S11), (192, K33, S11), (192, K33, S11), (152, K33, S11),
                   (152, K33, S11), (192, K33, S11), (192, K33, S11)),
            _stage(112, (376, K53, S12), (224, K33, S11), (376, K33, S11), (376, K33, S11),
                   (296, K33, S11), (376, K33, S11), (224, K33, S11), (376, K33, S11),
                   (376, K33, S11), (296, K33, S11), (376, K33, S11), (376, K33, S11),
                   (376, K33, S11)),
            _stage(120, (376, K53, S11), (376, K33, S11), (376, K33, S11), (376, K33, S11),
                   (224, K15, S11), (376, K33, S11), (376, K33, S11), (224, K33, S11),
                   (376, K33, S11), (376, K33, S11), (376, K33, S11)),
            _stage(224, (744, K53, S12), (744, K33, S11), (600, K15, S11), (600, K15, S11),
                   (744, K15, S11), (744, K15, S11), (744, K33, S11), (896, K15, S11),
                   (600, K15, S11), (600, K15, S11), (896, K15, S11), (744, K15, S11),
                   (744, K33, S11), (896, K15, S11), (600, K15, S11), (600, K15, S11),
                   (744, K15, S11), (744, K33, S11)),
        ),
        992, 2048,
    ),
    "t0": ArchSpec(
        8, K13, S12,
        (
            _stage(8, (16, K15, S12)),
            _stage(32, (72, K33, S12), (72, K15, S11)),
            _stage(56, (112, K53, S12), (112, K15, S11), (112, K33, S11)),
            _stage(56, (184, K53, S11), (184, K15, S11), (184, K33, S11), (184, K33, S11)),
            _stage(104, (344, K53, S12), (344, K15, S11), (344, K15, S11), (344, K33, S11)),
        ),
        240, 1024,
    ),
}

# PaddleVideo's A0 pads explicitly and symmetrically instead of TF SAME. Per layer (in stage
# order): (depthwise conv padding, skip avg-pool padding or None when the skip has no pool),
# each (T, H, W). Facts from PaddleVideo's `movinet.py` A0 config; note the stride-2 layers of
# stages 1 and 2 use no spatial padding, which gives 21/10/5 grids at 172 px instead of TF's
# 22/11/6.
PADDLE_STEM_PADDING: Triple = (0, 1, 1)
PADDLE_A0_PADDINGS: tuple[tuple[Triple, Triple | None], ...] = (
    ((0, 2, 2), (0, 1, 1)),
    ((1, 0, 0), (0, 0, 0)), ((1, 1, 1), None), ((1, 1, 1), None),
    ((2, 0, 0), (0, 0, 0)), ((1, 1, 1), None), ((1, 1, 1), None),
    ((2, 1, 1), None), ((1, 1, 1), None), ((1, 1, 1), None), ((1, 1, 1), None),
    ((2, 1, 1), (0, 1, 1)), ((0, 2, 2), None), ((0, 2, 2), None), ((0, 2, 2), None),
)
