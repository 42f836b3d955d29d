"""Prediction results and how they are printed: the seed's text blocks or JSON lines.

The text follows the seed's `tools/predict.py` (softmax scores):

    Current video file: data/example.avi
    	top-1 class: 5
    	top-1 label: archery
    	top-1 score: 0.9621570706367493

Scores are printed to 4 digits. With `top_k > 1` three more lines hold the k best as lists, best
first (`top-5 class: [5, 12, ...]`, as the seed printed them without the top-1 lines).
`json_lines=True` prints one JSON object per file instead, with the full scores.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

import numpy as np


@dataclass
class Result:
    """Prediction for one file, or the reason there is none.

    Attributes:
        path: the input as given.
        classes / labels / scores: top-k class indices, names (None without labels) and softmax
            probabilities, best first; empty when `error` is set.
        error: why the file could not be classified.
        timings: seconds spent on "decode", "preprocess" and "model" (the batch's model time is
            split evenly over its files).
    """

    path: str
    classes: list[int] = field(default_factory=list)
    labels: list[str | None] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    error: str | None = None
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        if not self.ok:
            return {"file": self.path, "error": self.error}
        return {"file": self.path, "top_k": [{"class": c, "label": l, "score": s}
                                            for c, l, s in zip(self.classes, self.labels, self.scores)],
                "timings": {k: round(v, 6) for k, v in self.timings.items()}}


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float64. (B, C) -> (B, C)."""
    shifted = logits.astype(np.float64) - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def top_k_of(probabilities: np.ndarray, k: int) -> tuple[list[int], list[float]]:
    """Indices and values of the k largest entries of a (C,) vector, largest first."""
    k = max(1, min(k, probabilities.shape[-1]))
    order = np.argsort(-probabilities, kind="stable")[:k]
    return [int(i) for i in order], [float(probabilities[i]) for i in order]


def format_result(result: Result, top_k: int = 1) -> str:
    """The seed's per-file block (tab-indented), or an error line for a failed file. (`top_k` is
    kept for callers; the block shows the classes the result holds.)"""
    lines = [f"Current video file: {result.path}"]
    if not result.ok:
        lines.append(f"\terror: {result.error}")
        return "\n".join(lines)
    k = len(result.classes)
    labels = ["n/a" if label is None else label for label in result.labels]
    lines += [f"\ttop-1 class: {result.classes[0]}", f"\ttop-1 label: {labels[0]}",
              f"\ttop-1 score: {result.scores[0]:.4f}"]
    if k > 1:
        scores = "[" + ", ".join(f"{score:.4f}" for score in result.scores) + "]"
        lines += [f"\ttop-{k} class: {result.classes}", f"\ttop-{k} label: {labels}", f"\ttop-{k} score: {scores}"]
    return "\n".join(lines)


def print_results(results: Sequence[Result], *, top_k: int = 1, json_lines: bool = False,
                  file: TextIO | None = None, err_file: TextIO | None = None) -> int:
    """Print results as the seed did (or JSON lines); list failed files at the end.

    Args:
        results: from `predict_files`.
        top_k: as passed to `predict_files`.
        json_lines: one JSON object per file (`{"file", "top_k": [{"class", "label", "score"}], "timings"}`
            or `{"file", "error"}`) instead of the text blocks.
        file / err_file: streams for results and for the failure list (stdout / stderr).

    Returns:
        The number of failed files (the CLI exits with 1 when it is not 0).
    """
    file = file or sys.stdout
    err_file = err_file or sys.stderr
    for result in results:
        text = json.dumps(result.to_dict(), ensure_ascii=False) if json_lines else format_result(result, top_k)
        print(text, file=file)
    failed = [result for result in results if not result.ok]
    if failed:
        print(f"{len(failed)} of {len(results)} files failed:", file=err_file)
        for result in failed:
            print(f"  {result.path}: {result.error}", file=err_file)
    return len(failed)
