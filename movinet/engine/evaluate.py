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
import dataclasses
import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from movinet.data.config import DataConfig
from movinet.data.preprocessing import Preprocessing
from movinet.engine.config import Config, EnsembleMember, eval_data_config
from movinet.engine.distributed import (
    DistInfo,
    all_gather_objects,
    cleanup_distributed,
    init_distributed,
    is_initialized,
)
from movinet.engine.loaders import eval_loader
from movinet.models.streaming import stream_clip
from movinet.engine.runlog import plot_confusion_matrix, run_logging
from movinet.files import atomic_write_text

log = logging.getLogger("movinet.test")


@dataclass
class Predictions:
    """Raw outputs over a dataset (or a shard of it).

    Attributes:
        indices: (N,) dataset index of each sample.
        labels: (N,) true class.
        logits: (N, V, K) float32 logits of each view.
        num_skipped: unreadable samples (each file once), left out of the rows.
        unreadable: their "PATH: reason", sorted.
        damaged: the corrupt-stretch warnings of videos read with one (kept in the rows), sorted.
    """

    indices: torch.Tensor
    labels: torch.Tensor
    logits: torch.Tensor
    num_skipped: int = 0
    unreadable: list[str] = dataclasses.field(default_factory=list)
    damaged: list[str] = dataclasses.field(default_factory=list)


@dataclass
class Metrics:
    """Classification metrics over a whole evaluation set.

    Attributes:
        top1 / top5: accuracies in [0, 1] (top5 is top-k with k = min(5, num_classes)).
        num_samples: evaluated videos.
        per_class_accuracy: recall of each class; None for classes with no sample.
        confusion_matrix: K x K counts, rows = true class, columns = predicted class.
        num_skipped: unreadable samples, left out of the metrics (each file counted once).
        skipped_files: their "PATH: reason", sorted.
        loss: mean negative log-likelihood of the true class under the view-averaged
            probabilities (None when only rankings were given); breaks ties between equal top-1s.
        damaged_files: corrupt-stretch warnings of the videos evaluated with one, sorted.
    """

    top1: float
    top5: float
    num_samples: int
    per_class_accuracy: list[float | None]
    confusion_matrix: list[list[int]]
    num_skipped: int = 0
    skipped_files: list[str] = dataclasses.field(default_factory=list)
    loss: float | None = None
    damaged_files: list[str] = dataclasses.field(default_factory=list)

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
    if isinstance(model, ExportedModel):  # its backend steps a stream model through the frames itself
        return model(video)
    if not getattr(model, "is_causal", False):
        raise ValueError(
            "stream evaluation needs a causal model: use a '*_stream' model or model.causal: true, "
            "or set test.stream: false"
        )
    batch, _, _, height, width = video.shape
    return stream_clip(model.stream_step, video, model.init_state(batch, height, width), chunk)[0]


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
    indices, labels, logits, skipped, unreadable, damaged = [], [], [], 0, set(), set()
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
        unreadable.update(entry for entry in batch.get("unreadable", ()) if entry)
        damaged.update(entry for entry in batch.get("damaged", ()) if entry)
    if not logits:
        return Predictions(torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.long), torch.zeros(0, 1, 0),
                           skipped, sorted(unreadable), sorted(damaged))
    return Predictions(torch.cat(indices), torch.cat(labels), torch.cat(logits), skipped, sorted(unreadable),
                       sorted(damaged))


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
        unreadable=sorted(set().union(*(p.unreadable for p in parts))),
        damaged=sorted(set().union(*(p.damaged for p in parts))),
    )


def average_views(logits: torch.Tensor) -> torch.Tensor:
    """(N, V, K) logits -> (N, K) probabilities, the mean of each view's softmax."""
    return F.softmax(logits.float(), dim=-1).mean(dim=1)


def mean_nll(probabilities: torch.Tensor, labels: torch.Tensor) -> float:
    """Mean -log p(true class) of (N, K) probabilities (clamped, so a zero costs a large finite loss)."""
    picked = probabilities.float().gather(1, labels.long()[:, None]).clamp_min(1e-12)
    return float(-picked.log().mean())


def compute_metrics(scores: torch.Tensor, labels: torch.Tensor, num_classes: int, num_skipped: int = 0,
                    skipped_files: list[str] | None = None) -> Metrics:
    """Metrics from per-video scores.

    Args:
        scores: (N, K) probabilities or logits (only the ranking matters).
        labels: (N,) true classes in [0, K).
        num_classes: K.
        num_skipped / skipped_files: carried into the result.
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
        skipped_files=list(skipped_files or []),
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
    probabilities = average_views(predictions.logits)
    metrics = compute_metrics(probabilities, predictions.labels, num_classes, predictions.num_skipped,
                              predictions.unreadable)
    metrics.loss = mean_nll(probabilities, predictions.labels)
    return dataclasses.replace(metrics, damaged_files=predictions.damaged)


# -- movinet test -----------------------------------------------------------------------------------


class ExportedModel(nn.Module):
    """An exported model file (`.onnx`, `.tflite`) run by its backend, as a module of clips:
    (B, 3, T, H, W) -> (B, classes) logits; a stream model steps through each clip's frames."""

    def __init__(self, predictor: Any) -> None:
        super().__init__()
        self.predictor = predictor
        self.num_classes = predictor.num_classes

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(self.predictor.predict_clips(video.float().cpu().numpy())).to(video.device)


def load_model_for_eval(name: str, weights: str, device: torch.device) -> tuple[nn.Module, list[str] | None]:
    """The model of `weights` (`movinet.load_model`: .safetensors, .pt checkpoint, .pdparams or a
    release name of model `name`) on `device`, in its inference form (`optimize_for_inference`:
    the same logits, faster), and its class names (or None). An exported `.onnx` / `.tflite`
    runs in its own runtime (`ExportedModel`)."""
    from movinet.inference.backends import BACKENDS, load_predictor
    from movinet.loading import RELEASE_NAMES, load_model
    from movinet.models.optimize import optimize_for_inference

    if Path(weights).suffix.lower() in BACKENDS:
        predictor = load_predictor(weights, num_threads=torch.get_num_threads())
        if predictor.model_name != name:
            log.info("%s is an export of %s; evaluating it (model.name is %s)", weights, predictor.model_name, name)
        return ExportedModel(predictor), predictor.labels
    model, meta = load_model(weights, model_name=name if weights in RELEASE_NAMES else None)
    if meta.name != name:
        log.info("%s holds %s weights; evaluating %s (model.name is %s)", weights, meta.name, meta.name, name)
    return optimize_for_inference(model.to(device).eval()), meta.labels


def _member_data_config(cfg: Config, member: EnsembleMember) -> DataConfig:
    data = eval_data_config(cfg)
    sampling = dataclasses.replace(
        data.sampling,
        num_frames=member.num_frames or data.sampling.num_frames,
        temporal_stride=member.temporal_stride or data.sampling.temporal_stride,
    )
    data = dataclasses.replace(data, sampling=sampling)
    if cfg.test.split == "test" and not data.test_list:
        log.info("data.test_list is empty: testing on data.val_list (%s)", data.val_list)
        data = dataclasses.replace(data, test_list=data.val_list)
    return data


def _member_predictions(
    cfg: Config, member: EnsembleMember, info: DistInfo, dataset: Dataset | None
) -> tuple[Predictions, int, list[str] | None]:
    model, labels = load_model_for_eval(member.model or cfg.model.name, member.weights, info.device)
    if cfg.model.num_classes is not None and cfg.model.num_classes != model.num_classes:
        raise ValueError(
            f"model.num_classes={cfg.model.num_classes} but {member.weights} has {model.num_classes} classes; "
            "testing cannot change the classifier: remove model.num_classes (or the -o override), or test "
            f"weights trained for {cfg.model.num_classes} classes")
    if dataset is None:
        from movinet.data import datasets as data_module

        data = _member_data_config(cfg, member)
        dataset = data_module.build_dataset(data, cfg.test.split, num_classes=model.num_classes, seed=cfg.train.seed)
        dataset.first_readable()  # a split with no readable sample is one clear error, before any work
    loader = eval_loader(dataset, cfg.data.test_batch_size, cfg.data.num_workers, info, cfg.train.seed)
    local = collect_predictions(model, loader, info.device, stream=cfg.test.stream,
                                stream_chunk=cfg.test.stream_chunk, progress=info.is_main and cfg.train.progress)
    names = labels or getattr(dataset, "class_names", None)
    return gather_predictions(local), model.num_classes, names


def ensemble_scores(members: list[Predictions]) -> torch.Tensor:
    """(N, K) scores: one member's view-averaged probabilities, or for a temporal ensemble the
    softmax of the members' mean logits (each member's logits averaged over its views first), as
    the MoViNet paper averages the logits of its two frame rates."""
    if len(members) == 1:
        return average_views(members[0].logits)
    first = members[0]
    for other in members[1:]:
        if not torch.equal(other.indices, first.indices) or not torch.equal(other.labels, first.labels):
            raise ValueError("ensemble members were evaluated on different samples; give them the same data")
    mean_logits = torch.stack([m.logits.float().mean(dim=1) for m in members]).mean(dim=0)
    return F.softmax(mean_logits, dim=-1)


def report_paths(cfg: Config) -> dict[str, Path]:
    """The files `test` writes (`REPORT_FILES` in `report_dir(cfg)`), named for error messages."""
    out_dir = report_dir(cfg)
    return {"the test report": out_dir / REPORT_FILES[0], "the confusion matrix": out_dir / REPORT_FILES[1]}


def test(cfg: Config, weights: str | None = None, *, dataset: Dataset | None = None,
         overwrite: bool = False) -> dict[str, Any]:
    """`movinet test -c CONFIG -w WEIGHTS [--output DIR]`: evaluate weights and write a report.

    Args:
        cfg: the config (its `data` section says what to evaluate, `test` how; `test.output_dir`
            where the report goes, default `<train.output_dir>/test`).
        weights: .safetensors file, release name or training checkpoint (.pt); may be None when
            `test.ensemble` lists the models.
        dataset: evaluate this dataset instead of building `test.split` from `cfg.data`.
        overwrite: replace an earlier report in the output directory (refused otherwise, before
            any evaluation).

    Returns:
        The report: top1, top5, loss, num_samples, per_class_accuracy, confusion_matrix,
        class_names, num_skipped, weights, stream, plus the paths "report" (JSON) and "confusion_png".

    Raises:
        ReportExistsError: the output directory holds a report and `overwrite` is False.
    """
    members = list(cfg.test.ensemble)
    if weights and not any(member.weights == weights for member in members):
        members.insert(0, EnsembleMember(weights=weights))
    if not members:
        raise ValueError("nothing to test: pass the weights with -w WEIGHTS (or list test.ensemble in the config)")
    if not overwrite:
        check_no_report(report_dir(cfg))
    owns_group = not is_initialized()
    info = init_distributed(cfg.train.device)
    try:
        with run_logging(None, is_main=info.is_main):
            return _test(cfg, members, info, dataset)
    finally:
        if owns_group:
            cleanup_distributed()


test.__test__ = False  # a library function: pytest must not collect it when a test module imports it

REPORT_FILES = ("test_report.json", "confusion_matrix.png")


class ReportExistsError(ValueError):
    """`movinet test` would replace an earlier report."""


def report_dir(cfg: Config) -> Path:
    """Where `test` writes: `test.output_dir`, else `<train.output_dir>/test`."""
    return Path(cfg.test.output_dir or Path(cfg.train.output_dir) / "test")


def check_no_report(out_dir: Path) -> None:
    """Raise `ReportExistsError` when `out_dir` already holds a test report."""
    earlier = [name for name in REPORT_FILES if (out_dir / name).exists()]
    if earlier:
        raise ReportExistsError(f"{out_dir} already holds a test report ({', '.join(earlier)}); write this one "
                                "elsewhere with --output DIR, or replace it with --overwrite")


def _test(cfg: Config, members: list[EnsembleMember], info: DistInfo, dataset: Dataset | None) -> dict[str, Any]:
    results = [_member_predictions(cfg, member, info, dataset) for member in members]
    num_classes, class_names = results[0][1], results[0][2]
    if any(result[1] != num_classes for result in results):
        raise ValueError("ensemble members have different numbers of classes")
    predictions = [result[0] for result in results]
    scores = ensemble_scores(predictions)
    metrics = compute_metrics(scores, predictions[0].labels, num_classes, predictions[0].num_skipped,
                              predictions[0].unreadable)
    metrics.loss = mean_nll(scores, predictions[0].labels)
    names = class_names if class_names and len(class_names) == num_classes else [str(i) for i in range(num_classes)]
    report = {
        "weights": [member.weights for member in members], "stream": cfg.test.stream, "split": cfg.test.split,
        "preprocessing": Preprocessing.from_config(cfg).to_dict(),
        **metrics.to_dict(), "class_names": names,
        "per_class_accuracy": dict(zip(names, metrics.per_class_accuracy)),
    }
    out_dir = report_dir(cfg)
    report["report"], report["confusion_png"] = (str(out_dir / name) for name in REPORT_FILES)
    if info.is_main:
        atomic_write_text(report["report"], json.dumps(report, indent=2) + "\n")
        plot_confusion_matrix(metrics.confusion_matrix, names, Path(report["confusion_png"]))
        log.info("[test] top1 %.4f, top5 %.4f over %d videos (%d skipped); report %s", metrics.top1, metrics.top5,
                 metrics.num_samples, metrics.num_skipped, report["report"])
    return report
