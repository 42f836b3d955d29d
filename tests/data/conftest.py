"""Fixtures of the data tests (helpers live in data_media.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from data_media import write_numbered_video


@pytest.fixture
def numbered_video(tmp_path: Path) -> Path:
    """A 40-frame 64x48 H.264 video at 25 fps with a keyframe every 8 frames."""
    return write_numbered_video(tmp_path / "numbered.mp4", 40, gop_size=8)
