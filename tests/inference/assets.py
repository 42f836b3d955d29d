"""Test assets shared by tests/export and tests/inference: fixture weights, ONNX exports, videos.

Built once per session under pytest's base temp folder (the export and inference conftests both ask
for them; the second asks get the files the first made).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

from movinet.data.preprocessing import Preprocessing
from tests.conftest import fixture_path

SIZE = 64  # small frames keep exports and forwards fast; >= the 32-px minimum
FRAMES = 8
# The official models' pipeline (shorter-side resize, even frame cover, RGB in [0, 1]) at a small size.
PREPROCESSING = Preprocessing(frames=FRAMES, height=SIZE, width=SIZE, resize=72)


@contextmanager
def single_thread() -> Iterator[None]:
    """Run torch on one thread, restoring the previous count afterwards."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def assets_dir(tmp_path_factory) -> Path:
    path = tmp_path_factory.getbasetemp() / "movinet-assets"
    path.mkdir(exist_ok=True)
    return path


def converted_weights(tmp_path_factory, kind: str) -> Path:
    """The TF fixture checkpoint of A0 `kind` ("base"/"stream") as movinet .safetensors."""
    from movinet.convert.tf import convert_tf

    out = assets_dir(tmp_path_factory) / f"movinet_a0_{kind}.safetensors"
    if not out.is_file():
        with single_thread():
                convert_tf(fixture_path(f"tf_a0_{kind}", "ckpt"), f"movinet_a0_{kind}", out)
    return out


def exported_onnx(tmp_path_factory, kind: str) -> Path:
    """`movinet_a0_{kind}.onnx` (+ .json) exported at 8 x 64 x 64 from the fixture weights, verified."""
    from movinet.export.onnx import export_from_weights

    folder = assets_dir(tmp_path_factory) / "onnx"
    path = folder / f"movinet_a0_{kind}.onnx"
    if not path.is_file():
        weights = converted_weights(tmp_path_factory, kind)
        with single_thread():
            export_from_weights(weights, folder, preprocessing=PREPROCESSING, stream_steps=8)
    return path


def exported_litert(tmp_path_factory, kind: str) -> Path:
    """`movinet_a0_{kind}.tflite` (+ .json) exported at 8 x 64 x 64 from the fixture weights, verified
    (needs the `litert` extra)."""
    from movinet.export.litert import export_litert_from_weights

    folder = assets_dir(tmp_path_factory) / "litert"
    path = folder / f"movinet_a0_{kind}.tflite"
    if not path.is_file():
        weights = converted_weights(tmp_path_factory, kind)
        with single_thread():
            export_litert_from_weights(weights, folder, preprocessing=PREPROCESSING, progress=False)
    return path


def noise_video(path: Path, frames: int = 16, fps: float = 10.0, height: int = 80, width: int = 96,
                seed: int = 0) -> Path:
    """A random-pixel video (every frame differs, so frame order matters to the model)."""
    from movinet.data.video import write_video

    rng = np.random.default_rng(seed)
    # Smooth blobs rather than white noise: survives H.264 and gives the model some structure.
    base = rng.integers(0, 256, (frames, height // 8, width // 8, 3), dtype=np.uint8)
    clip = base.repeat(8, axis=1).repeat(8, axis=2)
    return write_video(path, clip, fps)
