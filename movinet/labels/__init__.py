"""Label names shipped with the package (Kinetics-400, Kinetics-600)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

LABEL_SETS = ("kinetics400", "kinetics600")


@lru_cache(maxsize=None)
def _read(name: str) -> tuple[str, ...]:
    path = Path(__file__).with_name(f"{name}.txt")
    return tuple(line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip())


def load_labels(name: str) -> list[str] | None:
    """Class names of a shipped label set, or None when the package does not ship that set."""
    if name not in LABEL_SETS:
        raise ValueError(f"unknown label set {name!r}; choose one of {', '.join(LABEL_SETS)}")
    if not Path(__file__).with_name(f"{name}.txt").is_file():
        return None
    return list(_read(name))
