"""MoViNet models: architecture tables, layers, the network and the registry.

The bottom layer of movinet: it knows no files, hubs, converters or command line. Names are
imported on first use (PEP 562), so the registry is usable without importing torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "MODELS": "movinet.models.registry",
    "ModelInfo": "movinet.models.registry",
    "build_model": "movinet.models.registry",
    "get_model_info": "movinet.models.registry",
    "list_models": "movinet.models.registry",
    "MoViNet": "movinet.models.movinet",
    "stream_chunks": "movinet.models.streaming",
    "stream_clip": "movinet.models.streaming",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'movinet.models' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
