"""Training checkpoints (`.pt`) and exported weights (`.safetensors` + JSON).

A training checkpoint holds everything an exact resume needs: model, optimizer, schedule position,
grad scaler, epoch and micro-batch position inside it, optimizer step, best metric, the RNG states of
every rank (python, numpy, torch, CUDA) and the resolved config, plus the model's metadata record
(`movinet.weights.ModelMetadata`, the one our weights files store, under `model_metadata`) so
evaluation and export rebuild the model from the file alone (nanoGPT's `model_args`).

Files are written atomically: a temporary file in the same directory, fsync, `os.replace`, so a run
killed at any moment leaves the previous checkpoint intact. They are read with
`torch.load(weights_only=True)`, which refuses arbitrary pickled objects; that is why RNG states are
stored as tensors and plain Python values only.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from movinet.data.preprocessing import Preprocessing
from movinet.engine.config import config_from_dict
from movinet.files import atomic_write
from movinet.models.registry import get_model_info
from movinet.weights import ModelMetadata, save_weights

CHECKPOINT_FORMAT = "movinet-train-checkpoint"
CHECKPOINT_VERSION = 2  # 2: the model's metadata record (1: `model_kwargs`, the rest rebuilt from the config)
METADATA_KEY = "model_metadata"
_REQUIRED_KEYS = ("model", "optimizer", "epoch", "step_in_epoch", "global_step", "config")


class NonFiniteWeightsError(ValueError):
    """Weights holding NaN or infinite values: never written as a checkpoint, best or final."""


class _OSErrorRecorder:
    """A file handle that remembers the first OS error of a write: torch.save reports a failed
    write (a full disk) as its own RuntimeError, which says neither what failed nor where."""

    def __init__(self, handle: Any) -> None:
        self.handle, self.error = handle, None

    def write(self, data: Any) -> int:
        try:
            return self.handle.write(data)
        except OSError as error:
            self.error = self.error or error
            raise

    def __getattr__(self, name: str) -> Any:
        return getattr(self.handle, name)


def _torch_save(obj: Any, handle: Any) -> None:
    recorder = _OSErrorRecorder(handle)
    try:
        torch.save(obj, recorder)
    except RuntimeError:
        if recorder.error is None:
            raise
        raise recorder.error from None  # the OS error (ENOSPC ...), which atomic_write words


def atomic_torch_save(obj: Any, path: str | Path) -> Path:
    """`torch.save` to `path` so that readers see either the old file or the complete new one
    (`movinet.files.atomic_write`: a killed write's temporary file goes with the next save).

    Raises:
        OSError: the write failed (a full disk: ENOSPC, with a message saying the previous file
            is intact), not torch's RuntimeError.
    """
    return atomic_write(path, lambda handle: _torch_save(obj, handle))


def first_nonfinite(tensors: Mapping[str, torch.Tensor]) -> str | None:
    """The name of the first floating-point tensor holding NaN or infinity, or None."""
    for key, value in tensors.items():
        if isinstance(value, torch.Tensor) and value.is_floating_point() and not bool(torch.isfinite(value).all()):
            return key
    return None


def refuse_nonfinite(tensors: Mapping[str, torch.Tensor], path: str | Path) -> None:
    """Raise `NonFiniteWeightsError` naming the tensor when `tensors` hold NaN or infinity."""
    key = first_nonfinite(tensors)
    if key is not None:
        raise NonFiniteWeightsError(f"refusing to write {path}: tensor {key!r} holds NaN or infinite values (the "
                                    "training diverged); the file there before, if any, is kept")


def capture_rng_state() -> dict[str, Any]:
    """RNG states of python, numpy, torch (CPU) and CUDA, as weights_only-loadable values."""
    name, keys, pos, has_gauss, cached_gaussian = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": {
            "name": str(name),
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached_gaussian),
        },
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def restore_rng_state(state: Mapping[str, Any]) -> None:
    """Inverse of `capture_rng_state`."""
    python_state = state["python"]
    random.setstate((python_state[0], tuple(python_state[1]), python_state[2]))
    numpy_state = state["numpy"]
    np.random.set_state(
        (
            numpy_state["name"],
            numpy_state["keys"].numpy().astype(np.uint32),
            numpy_state["pos"],
            numpy_state["has_gauss"],
            numpy_state["cached_gaussian"],
        )
    )
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def strip_prefixes(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Remove DDP `module.` and torch.compile `_orig_mod.` prefixes from state-dict keys."""
    cleaned = {}
    for key, value in state_dict.items():
        for prefix in ("module.", "_orig_mod."):
            while key.startswith(prefix):
                key = key[len(prefix) :]
        cleaned[key] = value
    return cleaned


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> Path:
    """Atomically write a training checkpoint (`payload` as built by the training loop)."""
    missing = [key for key in _REQUIRED_KEYS if key not in payload]
    if missing:
        raise ValueError(f"checkpoint payload lacks {missing}")
    refuse_nonfinite(payload["model"], path)
    return atomic_torch_save({"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, **payload}, path)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a training checkpoint on the CPU.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file is truncated, corrupt or not a movinet training checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"checkpoint {path} not found; pass an existing training checkpoint, e.g. OUTPUT_DIR/last.pt"
        )
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for a damaged file (pickle, zip, runtime)
        raise ValueError(
            f"cannot read checkpoint {path}: it is truncated, corrupt or not a movinet training checkpoint "
            f"({type(error).__name__}: {error}). Use an earlier checkpoint of the run (epoch_*.pt or last.pt)."
        ) from error
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(
            f"{path} is not a movinet training checkpoint (no '{CHECKPOINT_FORMAT}' marker); "
            "for weights-only files use `movinet test -w FILE.safetensors` or model.weights"
        )
    missing = [key for key in _REQUIRED_KEYS if key not in checkpoint]
    if missing:
        raise ValueError(f"checkpoint {path} is incomplete: missing {missing}; use another checkpoint of the run")
    return checkpoint


def checkpoint_metadata(checkpoint: Mapping[str, Any], where: str) -> ModelMetadata:
    """The metadata record of a checkpoint read by `load_checkpoint` (`where` names it in errors)."""
    if METADATA_KEY in checkpoint:
        return ModelMetadata.from_dict(checkpoint[METADATA_KEY], where)
    return _metadata_from_config(checkpoint, where)


def _metadata_from_config(checkpoint: Mapping[str, Any], where: str) -> ModelMetadata:
    """The record of a version-1 checkpoint, which has none: rebuilt from `arch`, `model_kwargs`,
    `class_names` and the run's config."""
    kwargs = checkpoint.get("model_kwargs") or {}
    cfg = config_from_dict(checkpoint["config"], source=where)
    info = get_model_info(checkpoint.get("arch") or cfg.model.name)
    causal = kwargs.get("causal")
    return ModelMetadata(
        name=info.name, num_classes=int(kwargs.get("num_classes") or checkpoint.get("num_classes") or info.num_classes),
        causal=bool(info.causal if causal is None else causal), labels=checkpoint.get("class_names"),
        preprocessing=Preprocessing.from_config(cfg), se_hidden_channels=kwargs.get("se_hidden_channels") or None)


def export_weights(
    model: torch.nn.Module,
    path: str | Path,
    *,
    model_name: str,
    labels: list[str] | None,
    preprocessing: Preprocessing,
) -> Path:
    """Write `model`'s weights as safetensors + JSON metadata (`movinet.weights.save_weights`), the
    format `movinet.load_model` reads.

    Raises:
        NonFiniteWeightsError: a tensor holds NaN or infinity (a diverged run is never saved as
            best or final).
    """
    refuse_nonfinite(model.state_dict(), path)
    return save_weights(model, path, model_name=model_name, labels=labels, preprocessing=preprocessing)
