"""Frames as they arrive over the WebSocket: one encoded image (JPEG, PNG or WebP) per message.

Decoding is guarded: the byte size is checked before anything is parsed, only the three image
formats are tried, and the pixel size is read from the header and checked before the pixels are
decoded, so a small message cannot expand into a huge image.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np

FORMATS = ("JPEG", "PNG", "WEBP")


class FrameError(ValueError):
    """A frame message cannot be used; `code` names the reason for the client."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class FrameLimits:
    """What a frame may be.

    Attributes:
        max_bytes: largest encoded message.
        min_side / max_side: bounds of the frame's width and height in pixels.
    """

    max_bytes: int = 2 * 1024 * 1024
    min_side: int = 16
    max_side: int = 1920

    def to_dict(self) -> dict[str, object]:
        return {"formats": [name.lower() for name in FORMATS], "max_bytes": self.max_bytes,
                "min_side": self.min_side, "max_side": self.max_side}


def check_frame_bytes(data: bytes, limits: FrameLimits) -> None:
    """Raises FrameError("frame_too_large") for a message over `limits.max_bytes`."""
    if len(data) > limits.max_bytes:
        raise FrameError("frame_too_large", f"frame message of {len(data)} bytes is over the limit of "
                         f"{limits.max_bytes} bytes; send smaller JPEG frames (the model needs only its input size)")


def decode_frame(data: bytes, limits: FrameLimits) -> np.ndarray:
    """One encoded image -> (H, W, 3) uint8 RGB.

    Raises:
        FrameError: too many bytes ("frame_too_large"), not a JPEG/PNG/WebP image ("bad_frame"),
            or a width or height outside the limits ("frame_size").
    """
    from PIL import Image, UnidentifiedImageError

    check_frame_bytes(data, limits)
    try:
        image = Image.open(io.BytesIO(data), formats=FORMATS)
    except Image.DecompressionBombError:  # a header declaring billions of pixels (a few hundred bytes)
        raise FrameError("frame_size", f"a {len(data)}-byte frame declares a huge picture; width and height "
                         f"must be within [{limits.min_side}, {limits.max_side}] px") from None
    except (UnidentifiedImageError, OSError, ValueError):
        raise FrameError("bad_frame", f"a {len(data)}-byte message that is not a JPEG, PNG or WebP image; "
                         "send one encoded frame per binary message") from None
    width, height = image.size
    if not (limits.min_side <= width <= limits.max_side and limits.min_side <= height <= limits.max_side):
        raise FrameError("frame_size", f"frame is {width}x{height}; width and height must be within "
                         f"[{limits.min_side}, {limits.max_side}] px")
    try:
        rgb = image.convert("RGB")
    except (OSError, ValueError, Image.DecompressionBombError) as error:  # truncated or corrupt pixel data
        raise FrameError("bad_frame", f"corrupt {image.format} image: {error}") from None
    return np.array(rgb, dtype=np.uint8)  # a writable copy (torch warns on read-only arrays)
