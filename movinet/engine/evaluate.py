"""Evaluation: top-1/top-5, per-class accuracy and confusion matrix; multi-view and streaming.

Evaluation items carry all their views: `video` (V, 3, T, H, W) with V = clips x crops, batched to
(B, V, 3, T, H, W). A video's prediction is the mean of its views' softmax probabilities
(mmaction2 `average_clips="prob"`). A causal model can also be evaluated the way TF reports stream
accuracy: frames fed through `stream_step` in chunks, the logits after the last frame counted.

Under DDP each rank evaluates a disjoint shard (`ShardSampler`) and the predictions are gathered
and de-duplicated by sample index, so every rank computes the same metrics over the whole set.
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from movinet.engine.distributed import all_gather_objects


@dataclass
class Predictions:
    """Raw outputs over a dataset (or a shard of it).

    Attributes:
        indices: (N,) dataset index of each sample.
        labels: (N,) true class.
        logits: (N, V, K) float32 logits of each view.
        num_skipped: unreadable samples replaced by the dataset.
    """

    indices: torch.Tensor
    labels: torch.Tensor
    logits: torch.Tensor
    num_skipped: int = 0


@dataclass
class Metrics:
    """Classification metrics over a whole evaluation set.

    Attributes:
        top1 / top5: accuracies in [0, 1] (top5 is top-k with k = min(5, num_classes)).
        num_samples: evaluated videos.
        per_class_accuracy: recall of each class; None for classes with no sample.
        confusion_matrix: K x K counts, rows = true class, columns = predicted class.
        num_skipped: unreadable samples the dataset replaced by others.
    """

    top1: float
    top5: float
    num_samples: int
    per_class_accuracy: list[float | None]
    confusion_matrix: list[list[int]]
    num_skipped: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


def _as_views(video: torch.Tensor) -> torch.Tensor:
    """(B, V, 3, T, H, W) stays; a single-view batch (B, 3, T, H, W) gets V = 1."""
    if video.dim() == 5:
        return video.unsqueeze(1)
    if video.dim() != 6:
        raise ValueError(f"evaluation batches must be (B, V, 3, T, H, W) or (B, 3, T, H, W), got {tuple(video.shape)}")
    return video


def stream_logits(model: nn.Module, video: torch.Tensor, chunk: int = 1) -> torch.Tensor:
    """Final logits of a causal model fed `chunk` frames at a time through `stream_step`.

    Args:
        model: a causal MoViNet (`model.is_causal`).
        video: (B, 3, T, H, W).
        chunk: frames per step.

    Returns:
        (B, num_classes) logits after the last frame.
    """
    if not getattr(model, "is_causal", False):
        raise ValueError(
            "stream evaluation needs a causal model: use a '*_stream' model or model.causal: true, "
            "or set test.stream: false"
        )
    batch, _, frames, height, width = video.shape
    state = model.init_state(batch, height, width)
    logits = None
    for start in range(0, frames, chunk):
        logits, state = model.stream_step(video[:, :, start : start + chunk], state)
    return logits


@torch.no_grad()
def collect_predictions(
    model: nn.Module,
    loader: DataLoader,
    device: torch.device,
    *,
    stream: bool = False,
    stream_chunk: int = 1,
    amp_dtype: torch.dtype | None = None,
    progress: bool = False,
) -> Predictions:
    """Run `model` over `loader` (this rank's shard) and keep every view's logits."""
    from tqdm import tqdm

    model.eval()
    indices, labels, logits, skipped = [], [], [], 0
    autocast = torch.autocast(device.type, dtype=amp_dtype) if amp_dtype else contextlib.nullcontext()
    for batch in tqdm(loader, desc="eval", leave=False, disable=not progress):
        views = _as_views(batch["video"]).to(device, non_blocking=True)
        size, num_views = views.shape[:2]
        flat = views.flatten(0, 1)
        with autocast:
            out = stream_logits(model, flat, stream_chunk) if stream else model(flat)
        logits.append(out.float().reshape(size, num_views, -1).cpu())
        labels.append(torch.as_tensor(batch["label"]).reshape(-1))
        indices.append(torch.as_tensor(batch["index"]).reshape(-1))
        skipped += int(torch.as_tensor(batch.get("num_skipped", 0)).sum())
    if not logits:
        return Predictions(torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.long), torch.zeros(0, 1, 0))
    return Predictions(torch.cat(indices), torch.cat(labels), torch.cat(logits), skipped)


def gather_predictions(local: Predictions) -> Predictions:
    """Predictions of all ranks, one row per dataset index, sorted by index."""
    parts = [p for p in all_gather_objects(local) if p.indices.numel()]
    if not parts:
        return local
    indices = torch.cat([p.indices for p in parts])
    order = torch.argsort(indices, stable=True)
    indices = indices[order]
    keep = torch.ones_like(indices, dtype=torch.bool)
    keep[1:] = indices[1:] != indices[:-1]
    pick = order[keep]
    return Predictions(
        indices=indices[keep],
        labels=torch.cat([p.labels for p in parts])[pick],
        logits=torch.cat([p.logits for p in parts])[pick],
        num_skipped=sum(p.num_skipped for p in parts),
    )


def average_views(logits: torch.Tensor) -> torch.Tensor:
    """(N, V, K) logits -> (N, K) probabilities, the mean of each view's softmax."""
    return F.softmax(logits.float(), dim=-1).mean(dim=1)


def compute_metrics(scores: torch.Tensor, labels: torch.Tensor, num_classes: int, num_skipped: int = 0) -> Metrics:
    """Metrics from per-video scores.

    Args:
        scores: (N, K) probabilities or logits (only the ranking matters).
        labels: (N,) true classes in [0, K).
        num_classes: K.
        num_skipped: carried into the result.
    """
    if scores.shape[0] == 0:
        raise ValueError("no samples were evaluated; check the evaluation list / folder")
    labels = labels.long()
    k = min(5, num_classes)
    top = scores.topk(k, dim=1).indices
    predicted = top[:, 0]
    top1 = (predicted == labels).float().mean().item()
    top5 = (top == labels[:, None]).any(dim=1).float().mean().item()
    confusion = torch.bincount(labels * num_classes + predicted, minlength=num_classes * num_classes)
    confusion = confusion.reshape(num_classes, num_classes)
    support = confusion.sum(dim=1)
    per_class = [
        (confusion[c, c].item() / support[c].item()) if support[c] > 0 else None for c in range(num_classes)
    ]
    return Metrics(
        top1=top1,
        top5=top5,
        num_samples=int(scores.shape[0]),
        per_class_accuracy=per_class,
        confusion_matrix=confusion.tolist(),
        num_skipped=num_skipped,
    )


def evaluate(
    model: nn.Module,
    loader: DataLoader,
    device: torch.device,
    *,
    stream: bool = False,
    num_classes: int,
    stream_chunk: int = 1,
    amp_dtype: torch.dtype | None = None,
    progress: bool = False,
) -> Metrics:
    """Evaluate `model` on `loader`; views averaged as softmax probabilities.

    Args:
        model: the network (unwrapped, not DDP).
        loader: batches of dicts with `video` (B, V, 3, T, H, W), `label`, `index` (and optionally
            `num_skipped`); under DDP each rank's loader holds a disjoint shard.
        device: where to run.
        stream: feed frames through `stream_step` (causal models) instead of one whole-clip call.
        num_classes: K, the size of the confusion matrix.
        stream_chunk: frames per `stream_step` call.
        amp_dtype: autocast dtype (CUDA), None = float32.
        progress: show a tqdm bar.

    Returns:
        Metrics over the whole set (gathered over ranks).
    """
    local = collect_predictions(
        model, loader, device, stream=stream, stream_chunk=stream_chunk, amp_dtype=amp_dtype, progress=progress
    )
    predictions = gather_predictions(local)
    return compute_metrics(average_views(predictions.logits), predictions.labels, num_classes, predictions.num_skipped)
