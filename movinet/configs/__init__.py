"""The YAML recipes shipped inside the package (`movinet configs` lists them).

A config can be named bare on the command line (`-c movinet_k400_frame.yaml`): a file of that
name in the working directory wins, else the packaged one is used. A path that does not exist but
ends in a packaged config's name (the seed's `configs/recognition/movinet/movinet_k400_frame.yaml`)
falls back to the packaged config too, with a warning saying so.

This module only touches the file system (no torch, no yaml), so `movinet configs` stays fast.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

__all__ = ["CONFIG_DIR", "list_configs", "packaged_config", "config_summary", "resolve_config"]

CONFIG_DIR = Path(__file__).resolve().parent

log = logging.getLogger("movinet.config")


def list_configs() -> list[str]:
    """File names of the packaged configs, sorted (e.g. "movinet_k400_frame.yaml")."""
    return sorted(path.name for path in CONFIG_DIR.glob("*.yaml"))


def _packaged_name(name: str) -> str | None:
    """The packaged config `name` refers to ("x", "x.yaml", "x.yml"), or None."""
    stem = name[: -len(".yaml")] if name.endswith(".yaml") else name[: -len(".yml")] if name.endswith(".yml") else name
    candidate = f"{stem}.yaml"
    return candidate if (CONFIG_DIR / candidate).is_file() else None


def packaged_config(name: str) -> Path:
    """Path of the packaged config `name` (with or without ".yaml").

    Raises:
        FileNotFoundError: no packaged config has that name (the message lists them).
    """
    found = _packaged_name(name)
    if found is None:
        raise FileNotFoundError(f"no packaged config named {name!r}; packaged configs: {', '.join(list_configs())} "
                                "(`movinet configs` describes them)")
    return CONFIG_DIR / found


def config_summary(name: str) -> str:
    """The first clause of a packaged config's header comment: which recipe it reproduces."""
    header = []
    for line in packaged_config(name).read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        header.append(line.lstrip("#").strip())
    text, depth = " ".join(header), 0
    for position, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0 and (char == ":" or text.startswith(". ", position)):
            return text[:position]
    return text


def resolve_config(path: str | os.PathLike[str]) -> Path:
    """The config file `path` names: the file itself if it exists, else the packaged config of that
    file name.

    Raises:
        FileNotFoundError: neither exists; the message lists the packaged names.
    """
    given = Path(path).expanduser()
    if given.is_file() or (given.exists() and not given.is_dir()):
        return given  # a FIFO or a device too: the loader says it is not a regular file
    if given.is_dir():
        raise IsADirectoryError(f"config {given} is a directory; pass a YAML file, e.g. {given}/demo.yaml")
    found = _packaged_name(given.name)
    if found is None:
        raise FileNotFoundError(f"config file {given} not found, and no packaged config has that name; pass an "
                                f"existing YAML file or one of: {', '.join(list_configs())}")
    if given.parent != Path("."):
        log.warning("config %s not found; using movinet's packaged %s (`movinet configs %s` prints it)",
                    given, found, found)
    return CONFIG_DIR / found
