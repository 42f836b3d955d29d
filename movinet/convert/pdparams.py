"""Restricted loader for PaddlePaddle ``.pdparams`` state dicts, without Paddle.

A ``.pdparams`` written by ``paddle.save(model.state_dict(), path)`` is a plain pickle (protocol 2-4)
of ``{structured name: numpy.ndarray}`` plus a ``"StructuredToParameterName@@"`` table, as measured in
``reference/paddlevideo-movinet.md`` section 6. Unpickling an untrusted file can run arbitrary code, so
this loader resolves only the globals that numpy array reconstruction needs; any other global
(``os.system``, ``builtins.eval``, ...) stops the load before anything is called.
"""

from __future__ import annotations

import _compat_pickle
import io
import os
import pickle
from pathlib import Path

import numpy as np

__all__ = ["PdparamsError", "load_pdparams"]

# Paddle's table of structured name -> internal parameter name; not a weight.
STRUCTURED_NAME_TABLE_KEY = "StructuredToParameterName@@"


class PdparamsError(ValueError):
    """A ``.pdparams`` file is not a loadable state dict, or references a forbidden global."""


def _latin1_encode(text: str, encoding: str = "utf-8") -> bytes:
    """``_codecs.encode`` as protocol-2 pickles use it to carry ``bytes`` (always with latin1)."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise PdparamsError(f"forbidden use of _codecs.encode (encoding {encoding!r}); only latin1 text is allowed")
    return text.encode("latin1")


def _frombuffer(buf, dtype, shape, order):
    """Same as numpy's private ``_frombuffer`` (array pickles of protocol 5)."""
    return np.frombuffer(buf, dtype=dtype).reshape(shape, order=order)


# Taken from numpy's own reduce output, so the same objects serve numpy 1.x and 2.x without importing
# the deprecated ``numpy.core`` alias.
_reconstruct = np.ndarray.__reduce__(np.zeros(1))[0]
_scalar = np.float32(0).__reduce__()[0]

_ALLOWED_GLOBALS = {
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,  # numpy 2.x writers
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,  # numpy 1.x writers (Paddle 2.x files)
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("numpy._core.multiarray", "scalar"): _scalar,
    ("numpy.core.multiarray", "scalar"): _scalar,
    ("numpy._core.numeric", "_frombuffer"): _frombuffer,  # protocol 5
    ("numpy.core.numeric", "_frombuffer"): _frombuffer,
    ("_codecs", "encode"): _latin1_encode,  # protocol 2 stores bytes as _codecs.encode(str, "latin1")
}


class _ArrayOnlyUnpickler(pickle.Unpickler):
    """Unpickler whose only reachable globals are those needed to rebuild numpy arrays."""

    def find_class(self, module: str, name: str):
        # Protocol 0-2 pickles name Python 2 modules (__builtin__, commands); map them as pickle does.
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        else:
            module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise PdparamsError(
                f"forbidden global {module}.{name} in the pickle; only numpy array reconstruction is "
                "allowed, so the file was not loaded (nothing in it was executed)"
            ) from None

    def persistent_load(self, pid):
        raise PdparamsError(f"persistent id {pid!r} in the pickle; not a plain .pdparams state dict")


def _unpickle(data: bytes, path: Path):
    if not data:
        raise PdparamsError(f"{path}: the file is empty (0 bytes); not a .pdparams pickle")
    if data[:4] == b"PK\x03\x04":
        raise PdparamsError(f"{path}: this is a zip archive (e.g. a PyTorch .pt file), not a .pdparams pickle")
    if len(data) < 2 or data[0] != 0x80 or not 2 <= data[1] <= 5:
        raise PdparamsError(
            f"{path}: not a .pdparams file: it does not start with a pickle protocol 2-5 header "
            f"(first bytes {data[:8]!r})"
        )
    try:
        # latin1 lets numpy rebuild arrays from Python 2 pickles (their data is a py2 str).
        return _ArrayOnlyUnpickler(io.BytesIO(data), encoding="latin1").load()
    except PdparamsError:
        raise
    except Exception as e:  # any failure inside the unpickler means a malformed or cut-off file
        raise PdparamsError(f"{path}: truncated or corrupt pickle ({type(e).__name__}: {e})") from e


def _as_state_dict(obj, path: Path) -> dict:
    if not isinstance(obj, dict):
        raise PdparamsError(f"{path}: top-level object is a {type(obj).__name__}, expected a dict of arrays")
    state = {k: v for k, v in obj.items() if k != STRUCTURED_NAME_TABLE_KEY}
    # Some Paddle 2.x tools save {"state_dict": {...}} or a one-entry wrapper; unwrap one level.
    nested = state.get("state_dict")
    if isinstance(nested, dict):
        state = nested
    elif len(state) == 1 and isinstance(next(iter(state.values())), dict):
        state = next(iter(state.values()))
    else:
        return state
    return {k: v for k, v in state.items() if k != STRUCTURED_NAME_TABLE_KEY}


def load_pdparams(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Load a PaddlePaddle ``.pdparams`` state dict without Paddle and without executing the file.

    Args:
        path: the ``.pdparams`` file (a pickle written by ``paddle.save``).

    Returns:
        ``{structured name: array}`` in file order, e.g. ``backbone.conv1.conv_1.0.weight`` ->
        float32 ``[8, 3, 1, 3, 3]``; the ``"StructuredToParameterName@@"`` table is dropped, and a
        ``{"state_dict": {...}}`` wrapper is unwrapped.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        PdparamsError: the file is empty, not a pickle, truncated or corrupt; references a global
            other than numpy array reconstruction (named in the message); or is not a dict of
            string keys to numeric arrays (the offending key is named).
    """
    path = Path(os.fspath(path))
    state = _as_state_dict(_unpickle(path.read_bytes(), path), path)
    if not state:
        raise PdparamsError(f"{path}: the state dict holds no arrays")
    result: dict[str, np.ndarray] = {}
    for key, value in state.items():
        if not isinstance(key, str):
            raise PdparamsError(f"{path}: key {key!r} is a {type(key).__name__}, expected a str")
        if isinstance(value, np.generic):
            value = np.asarray(value)
        if not isinstance(value, np.ndarray):
            raise PdparamsError(f"{path}: value of {key!r} is a {type(value).__name__}, expected a numpy array")
        if value.dtype.kind not in "biufc":
            raise PdparamsError(f"{path}: array {key!r} has non-numeric dtype {value.dtype}")
        result[key] = value
    return result
