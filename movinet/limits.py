"""Bounds on the numbers movinet reads from files and options, checked before anything is allocated.

A weights file, an ONNX sidecar, a config or a command-line option can say `frames: 1e9` or
`--fps inf`; left unchecked, such a number becomes a 20-GB allocation or a loop that never ends.
Every reader of such a value checks it here, and the error names the file and the field.

    fps = check_rate(args.fps, "--fps")                    # every rate option: finite, > 0, bounded
    check_count(frames, "preprocessing.frames", MAX_FRAMES, where="model.json")

This module imports nothing of movinet, so every layer may use it.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

__all__ = ["MAX_CLASSES", "MAX_FRAMES", "MAX_RATE", "MAX_SIDE", "MAX_STRIDE", "MAX_LABEL_CHARS", "LimitError",
           "check_count", "check_rate"]

# A3 evaluates 120 frames, A5 at 320 px: these leave room for longer clips and larger inputs while
# keeping one clip's input tensor under a few GB.
MAX_FRAMES = 1024
MAX_SIDE = 2048  # crop, resize and frame sides, in pixels
MAX_STRIDE = 256  # frames between two sampled frames
MAX_CLASSES = 100_000  # ImageNet-21k has 21,841
MAX_LABEL_CHARS = 1000
MAX_RATE = 1000.0  # frames per second of a stream


class LimitError(ValueError):
    """A number read from a file or an option is outside the range movinet accepts."""


def _where(where: str | None) -> str:
    return f"{where}: " if where else ""


def check_count(value: Any, field: str, maximum: int, *, where: str | None = None, minimum: int = 1) -> int:
    """`value` as an int in [minimum, maximum], else a `LimitError` naming `where` and `field`.

    Accepts ints and integral floats (JSON and YAML write `50.0` too); refuses bools, strings,
    NaN and infinities.
    """
    number = value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        number = int(value)
    if isinstance(number, numbers.Integral) and not isinstance(number, bool):
        number = int(number)  # numpy integers too
    if isinstance(number, bool) or not isinstance(number, int) or not minimum <= number <= maximum:
        shown = repr(value) if not isinstance(value, (list, dict)) else type(value).__name__
        raise LimitError(f"{_where(where)}{field} must be a whole number from {minimum} to {maximum}, got {shown}; "
                         "fix the value (or re-create the file with movinet)")
    return number


def check_rate(value: Any, what: str = "the frame rate", *, where: str | None = None) -> float:
    """The one check of every frame-rate option and field: a finite number above 0 and at most
    `MAX_RATE` frames per second. Returns it as a float.

    Args:
        value: the rate (a number, or the text of an option).
        what: how the user gave it, e.g. "--fps" or "preprocessing.stream_fps".
        where: the file it was read from, if any.

    Raises:
        LimitError: anything else (0, negative, NaN, inf, not a number).
    """
    try:
        rate = float(value)
    except (TypeError, ValueError):
        rate = math.nan
    if isinstance(value, bool) or not (0.0 < rate <= MAX_RATE):  # `not (...)` also refuses NaN
        raise LimitError(f"{_where(where)}{what} must be positive and at most {MAX_RATE:g} frames per second, "
                         f"got {value!r}")
    return rate
