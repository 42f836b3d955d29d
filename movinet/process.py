"""Process-wide settings that the `movinet` command line applies; a library call never does.

`keep_freed_memory()` asks glibc's malloc to keep freed memory for reuse instead of returning it to
the system: the activations of a clip (tens of MB each) are otherwise mapped afresh on every call
and page-faulted in, a fifth of A0 base's time on one thread. The command line calls it for the
commands that run a model on clips (`MODEL_COMMANDS`) unless `MOVINET_MALLOC=system` is set. A
program that uses movinet as a library can call it itself, or start Python with glibc's own
variables, which do the same: `MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=1073741824`.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Mapping

ENVIRONMENT_SWITCH = "MOVINET_MALLOC"  # "system": leave glibc's malloc settings as they are
MODEL_COMMANDS = ("test", "export", "predict", "stream", "serve", "demo")
_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4  # glibc mallopt parameters (malloc.h)


def keep_freed_memory() -> bool:
    """Set glibc's M_MMAP_MAX = 0 and M_TRIM_THRESHOLD = 1 GiB for the whole process (the peak
    memory is unchanged). Returns False where it does not apply (not Linux with glibc)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(_M_MMAP_MAX, 0)) and bool(libc.mallopt(_M_TRIM_THRESHOLD, 1 << 30))
    except (OSError, AttributeError):
        return False


def apply_command_settings(command: str, environ: Mapping[str, str] = os.environ) -> bool:
    """What the command line sets before running `command`; returns whether the allocator was tuned."""
    if command not in MODEL_COMMANDS or environ.get(ENVIRONMENT_SWITCH, "").strip().lower() == "system":
        return False
    return keep_freed_memory()
