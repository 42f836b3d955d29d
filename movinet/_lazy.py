"""PEP 562 lazy attributes: a package names what it exports; each name is imported on first use.

    __getattr__, __dir__ = lazy_exports(__name__, {"load_model": "movinet.loading", ...})

This keeps `import movinet` (and the command line's start) free of torch until a model is needed.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, exports: Mapping[str, str],
                 extra: tuple[str, ...] = ()) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The module-level `__getattr__` and `__dir__` of `package` for `exports` (name -> module).

    A resolved name is stored on the package, so later lookups skip `__getattr__`; `extra` names
    defined in the package itself show in `dir()` too.
    """

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(exports[name]), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted([*exports, *extra])

    return __getattr__, __dir__
