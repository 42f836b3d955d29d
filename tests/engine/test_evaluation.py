"""Metrics, multi-view averaging, stream evaluation and `movinet test` reports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import movinet
from movinet.engine import evaluate as ev
from movinet.engine.distributed import DistInfo
from movinet.engine.loaders import eval_loader

from engine_helpers import RandomVideoDataset, tiny_config
from tests.conftest import random_model, relative_error


def test_metrics_by_hand():
    scores = torch.tensor([
        [0.9, 0.05, 0.05, 0.0, 0.0, 0.0],  # label 0, right
        [0.1, 0.2, 0.7, 0.0, 0.0, 0.0],  # label 1, top-1 wrong (2), in top-5
        [0.0, 0.1, 0.8, 0.1, 0.0, 0.0],  # label 2, right
        [0.5, 0.1, 0.3, 0.06, 0.04, 0.0],  # label 5: last, outside the top-5
    ])
    labels = torch.tensor([0, 1, 2, 5])
    metrics = ev.compute_metrics(scores, labels, num_classes=6, num_skipped=2)
    assert metrics.top1 == pytest.approx(0.5)
    assert metrics.top5 == pytest.approx(0.75)
    assert metrics.per_class_accuracy == [1.0, 0.0, 1.0, None, None, 0.0]
    assert metrics.confusion_matrix[1][2] == 1 and metrics.confusion_matrix[5][0] == 1
    assert sum(map(sum, metrics.confusion_matrix)) == 4 and metrics.num_skipped == 2
    with pytest.raises(ValueError, match="no samples"):
        ev.compute_metrics(torch.zeros(0, 6), torch.zeros(0), 6)


def test_views_are_averaged_as_probabilities():
    # View 1 is very sure of class 0, view 2 mildly prefers class 1: probability averaging picks 0;
    # averaging logits (10 + -1) / 2 = 4.5 vs (0 + 5) / 2 = 2.5 would also pick 0, so check values.
    logits = torch.tensor([[[10.0, 0.0], [-1.0, 5.0]]])
    probs = ev.average_views(logits)
    expected = (torch.softmax(logits[0, 0], 0) + torch.softmax(logits[0, 1], 0)) / 2
    assert torch.allclose(probs[0], expected)
    assert probs.sum().item() == pytest.approx(1.0)


def test_evaluate_multi_view_loader():
    model = random_model("movinet_a0_base", num_classes=3)
    dataset = RandomVideoDataset(5, views=2)
    loader = eval_loader(dataset, 2, 0, DistInfo(), 0)
    metrics = ev.evaluate(model, loader, torch.device("cpu"), num_classes=3)
    assert metrics.num_samples == 5 and len(metrics.confusion_matrix) == 3
    predictions = ev.collect_predictions(model, loader, torch.device("cpu"))
    assert predictions.logits.shape == (5, 2, 3) and predictions.indices.tolist() == [0, 1, 2, 3, 4]
    # identical views: averaging must not change the single-view prediction
    assert torch.allclose(predictions.logits[:, 0], predictions.logits[:, 1], atol=1e-5)


def test_stream_evaluation_matches_whole_clip_for_causal_models():
    model = random_model("movinet_a0_stream", num_classes=3)
    video = torch.randn(2, 3, 4, 32, 32)
    with torch.no_grad():
        whole = model(video)
        for chunk in (1, 3, 4):
            assert relative_error(ev.stream_logits(model, video, chunk=chunk).numpy(), whole.numpy()) <= 1e-4


def test_stream_evaluation_refuses_non_causal_models():
    model = movinet.create_model("movinet_a0_base", num_classes=3)
    with pytest.raises(ValueError, match="needs a causal model"):
        ev.stream_logits(model, torch.randn(1, 3, 2, 32, 32))


def test_gather_predictions_deduplicates_and_sorts():
    part = ev.Predictions(torch.tensor([3, 1, 3]), torch.tensor([0, 1, 0]), torch.arange(9.0).reshape(3, 1, 3), 1)
    merged = ev.gather_predictions(part)
    assert merged.indices.tolist() == [1, 3] and merged.labels.tolist() == [1, 0]
    assert merged.logits[1, 0].tolist() == [0.0, 1.0, 2.0]


@pytest.mark.parametrize("which", ["last_checkpoint", "best_weights"])
def test_test_writes_report_and_confusion_png(trained_run, tmp_path, which):
    cfg, result = trained_run
    cfg = tiny_config(tmp_path, test={"output_dir": str(tmp_path / "report")})
    report = ev.test(cfg, result[which], dataset=RandomVideoDataset(3, views=2))
    saved = json.loads(Path(report["report"]).read_text())
    assert saved["num_samples"] == 3 and saved["top1"] == pytest.approx(report["top1"])
    assert set(saved["per_class_accuracy"]) == {"0", "1", "2"}
    assert Path(report["confusion_png"]).stat().st_size > 1000


def test_weights_of_both_kinds_give_the_same_numbers(trained_run, tmp_path):
    cfg, result = trained_run
    cfg = tiny_config(tmp_path)
    data = RandomVideoDataset(3, views=2)
    from_pt = ev.test(cfg, result["last_checkpoint"], dataset=data)
    with pytest.raises(ev.ReportExistsError, match="already holds a test report.*--output DIR.*--overwrite"):
        ev.test(cfg, result["final_weights"], dataset=data)  # never replaces the report silently
    from_safetensors = ev.test(cfg, result["final_weights"], dataset=data, overwrite=True)
    assert from_pt["confusion_matrix"] == from_safetensors["confusion_matrix"]


def test_temporal_ensemble_averages_member_logits(trained_run, tmp_path):
    cfg, result = trained_run
    members = [{"weights": result["final_weights"]}, {"weights": result["best_weights"]}]
    cfg = tiny_config(tmp_path, test={"ensemble": members})
    report = ev.test(cfg, dataset=RandomVideoDataset(3, views=1))
    assert report["weights"] == [result["final_weights"], result["best_weights"]]
    a = ev.Predictions(torch.tensor([0]), torch.tensor([0]), torch.tensor([[[2.0, 0.0]]]))
    b = ev.Predictions(torch.tensor([0]), torch.tensor([0]), torch.tensor([[[0.0, 1.0]]]))
    assert torch.allclose(ev.ensemble_scores([a, b]), torch.softmax(torch.tensor([[1.0, 0.5]]), -1))
    c = ev.Predictions(torch.tensor([1]), torch.tensor([0]), torch.tensor([[[0.0, 1.0]]]))
    with pytest.raises(ValueError, match="different samples"):
        ev.ensemble_scores([a, c])


def test_test_without_weights_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="-w WEIGHTS"):
        ev.test(tiny_config(tmp_path))
    with pytest.raises(FileNotFoundError):
        ev.test(tiny_config(tmp_path), str(tmp_path / "missing.pt"), dataset=RandomVideoDataset(2, views=1))
