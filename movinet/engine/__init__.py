"""Training, evaluation and the demo: plain functions over a typed YAML config.

    from movinet.engine import load_config, fit, test
    cfg = load_config("configs/movinet_k400_frame.yaml", ["train.epochs=5"])
    fit(cfg, validate=True)                       # movinet train -c ... --validate
    test(cfg, "output/MoViNet/best.safetensors")  # movinet test -c ... -w ...

`fit`, `evaluate`, `test` and `run_demo` are imported on first use, so importing the package (and the
config loader) stays cheap.
"""

from __future__ import annotations

from typing import Any

from movinet.engine.config import Config, load_config

__all__ = ["Config", "load_config", "fit", "evaluate", "test", "run_demo"]

_LAZY = {
    "fit": "movinet.engine.train",
    "evaluate": "movinet.engine.evaluate",
    "test": "movinet.engine.evaluate",
    "run_demo": "movinet.engine.demo",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'movinet.engine' has no attribute {name!r}")
