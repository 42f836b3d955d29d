"""`movinet.classify` / `movinet.Classifier`: the record `movinet predict --json` prints, from a path or
from frames, with any model reference (weights, an ONNX export, a model name's published weights)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import movinet
from movinet.cli import main
from movinet.data.synthetic import make_motion_video
from movinet.data.video import open_video
from movinet.export.onnx import export_onnx
from movinet.weights import save_weights

LABELS = ["grow", "move_up", "shrink"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("classify")
    torch.manual_seed(0)
    model = movinet.create_model("movinet_a0_base", num_classes=3)
    save_weights(model, root / "base.safetensors", model_name="movinet_a0_base", labels=LABELS)
    export_onnx(model, root / "export", model_name="movinet_a0_base", labels=LABELS, frames=8, height=64, width=64,
                verify=False)
    make_motion_video(root / "clip.mp4", "grow", num_frames=10, size=72, seed=2)
    return root


@pytest.mark.parametrize("model", ["base.safetensors", "export/movinet_a0_base.onnx"])
def test_classify_returns_what_predict_json_prints(files, model, capsys):
    record = movinet.classify(files / "clip.mp4", files / model, top_k=3)
    flag = ["--model_file"] if model.endswith(".onnx") else ["-w"]
    assert main(["predict", "-i", str(files / "clip.mp4"), *flag, str(files / model), "--json", "--top_k", "3"]) == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert record["file"] == printed["file"] == str(files / "clip.mp4")
    assert [e["class"] for e in record["top_k"]] == [e["class"] for e in printed["top_k"]]
    assert [e["score"] for e in record["top_k"]] == pytest.approx([e["score"] for e in printed["top_k"]], abs=1e-6)
    assert set(record["timings"]) == set(printed["timings"]) == {"decode", "preprocess", "model"}
    assert [e["label"] for e in record["top_k"]] == [LABELS[e["class"]] for e in record["top_k"]]


def test_a_classifier_keeps_its_model_and_takes_frames_too(files):
    classifier = movinet.Classifier(files / "export" / "movinet_a0_base.onnx", top_k=2)
    predictor = classifier.predictor
    from_path = classifier(files / "clip.mp4")
    with open_video(files / "clip.mp4") as video:
        frames = video.read_frames(np.arange(video.num_frames))
    from_frames = classifier(frames)
    assert classifier.predictor is predictor and classifier.labels == LABELS
    assert from_frames["file"] is None and set(from_frames["timings"]) == {"preprocess", "model"}
    assert from_frames["top_k"] == from_path["top_k"]  # the same frames, the same clip: the same record
    assert classifier(list(frames))["top_k"] == from_path["top_k"]


def test_bad_videos_and_frames_are_clear_errors(files, tmp_path):
    classifier = movinet.Classifier(files / "base.safetensors")
    with pytest.raises(FileNotFoundError, match="missing.mp4 does not exist"):
        classifier(files / "missing.mp4")
    (tmp_path / "broken.mp4").write_bytes(b"not a video")
    with pytest.raises(ValueError, match="broken.mp4"):
        classifier(tmp_path / "broken.mp4")
    with pytest.raises(ValueError, match=r"\(T, H, W, 3\)"):
        classifier(np.zeros((8, 64, 64), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        classifier(np.zeros((8, 64, 64, 3), np.float32))
    with pytest.raises(ValueError, match="top_k"):
        movinet.Classifier(files / "base.safetensors", top_k=0)


def test_a_model_name_stands_for_its_published_weights(files, tmp_path, monkeypatch):
    """`classify(video, "movinet_a0_base")` downloads the Kinetics-600 release, here from a local
    mirror named by MOVINET_WEIGHTS_URL."""
    from tests.test_hub import ReleaseServer, release_tarball

    served = ReleaseServer()
    served.files["movinet_a0_base.tar.gz"] = release_tarball(tmp_path, "movinet_a0_base").read_bytes()
    monkeypatch.setenv("MOVINET_WEIGHTS_URL", served.url)
    monkeypatch.setenv("MOVINET_HOME", str(tmp_path / "cache"))
    try:
        record = movinet.classify(files / "clip.mp4", "movinet_a0_base")
    finally:
        served.close()
    assert served.requests == ["movinet_a0_base.tar.gz"]
    from movinet.labels import load_labels

    kinetics = load_labels("kinetics600")
    assert len(record["top_k"]) == 5 and all(e["label"] == kinetics[e["class"]] for e in record["top_k"])
