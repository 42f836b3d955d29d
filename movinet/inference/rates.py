"""The one check of a frame-rate option (`serve --fps`, `stream --fps`, ...)."""

from __future__ import annotations

import math


def check_frame_rate(value: float | None, option: str = "--fps") -> float | None:
    """`value` as a rate in frames per second, or None (use the model's own rate).

    Raises:
        ValueError: 0, negative, infinite or NaN, naming `option` and what to give instead.
    """
    if value is None:
        return None
    try:
        rate = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{option} must be a number of frames per second, got {value!r}") from None
    if not (math.isfinite(rate) and rate > 0):
        raise ValueError(f"{option} must be a finite number of frames per second > 0, got {value!r}; leave it out "
                         "to use the rate the model was trained at")
    return rate
