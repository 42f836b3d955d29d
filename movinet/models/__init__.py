"""MoViNet models: architecture tables, layers, the network and the registry.

The bottom layer of movinet: it knows no files, hubs, converters or command line. Names are
imported on first use (PEP 562), so the registry is usable without importing torch.
"""

from __future__ import annotations

from movinet._lazy import lazy_exports

_EXPORTS = {
    "MODELS": "movinet.models.registry",
    "ModelInfo": "movinet.models.registry",
    "build_model": "movinet.models.registry",
    "get_model_info": "movinet.models.registry",
    "list_models": "movinet.models.registry",
    "MoViNet": "movinet.models.movinet",
    "optimize_for_inference": "movinet.models.optimize",
    "stream_chunks": "movinet.models.streaming",
    "stream_clip": "movinet.models.streaming",
}

__all__ = list(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
