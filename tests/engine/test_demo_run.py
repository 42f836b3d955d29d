"""The offline demo reaches the promised accuracy within its time budget (slow: minutes on CPU)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest


@pytest.mark.slow
def test_demo_reaches_90_percent_within_10_minutes(tmp_path, capsys):
    from movinet.engine.demo import run_demo

    result = run_demo(str(tmp_path / "demo"), seed=0, max_minutes=10)
    printed = capsys.readouterr().out
    assert result["test_top1"] >= 0.90, printed
    assert result["total_seconds"] <= 600, printed
    for key in ("weights", "final_weights", "checkpoint", "test_report", "confusion_png", "held_out_video",
                "labels_file", "config", "training_curves"):
        assert Path(result[key]).is_file(), key
    assert Path(result["train_dir"]).is_dir() and Path(result["val_dir"]).is_dir()
    assert json.loads(Path(result["test_report"]).read_text())["top1"] == pytest.approx(result["test_top1"])
    assert "[demo] test: top-1" in printed
    # The weights tested are named, with their epoch (validation ties go to the lower loss).
    assert f"weights {Path(result['weights']).name} (epoch " in printed
    assert Path(result["onnx"]).is_file() and Path(result["onnx"]).with_suffix(".json").is_file()
    assert result["prediction"]["top_k"][0]["label"] in result["class_names"]
    assert result["stream"]["frames"] >= 4 and result["stream"]["ended"] == "end of stream"
    for step in ("[demo] export:", "[demo] predict:", "[demo] stream:", "Current video file:"):
        assert step in printed, step
    # The demo reaches the page: the one command it prints serves its classes live.
    from movinet.data.video import iter_frames
    from tests.serve.test_serve_demo import assert_serves_the_classes, running

    assert "[demo] serve:" in printed and result["serve_command"] in printed
    frames = np.stack([frame for _, frame in iter_frames(result["held_out_video"], target_fps=4.0)])
    with running(result["serve_command"]) as url:
        replies = assert_serves_the_classes(url, sorted(result["class_names"]), frames)
    print(f"held-out {result['held_out_label']} served live: final top-1 {replies[-1]['top_k'][0]['label']}")
