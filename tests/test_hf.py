"""The Hugging Face Hub round trip against a local server (tests/hf_server.py) on 127.0.0.1:
`movinet push` a run, then load it by name (`hf://ORG/NAME`) through the one loader."""

from __future__ import annotations

import json

import pytest
import torch

import movinet
from movinet.cli import main
from movinet.data.synthetic import make_motion_video
from movinet.hf import HubError, download_weights, parse_reference, push_to_hub
from movinet.weights import save_weights
from tests.hf_server import HubServer

pytest.importorskip("huggingface_hub")

LABELS = ["grow", "move_up", "shrink"]


@pytest.fixture(scope="module")
def server():
    hub = HubServer()
    yield hub
    hub.close()


@pytest.fixture(autouse=True)
def hub_env(server, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    monkeypatch.setenv("HF_TOKEN", server.token)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf_cache"))
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A run directory as `movinet finetune` + `movinet test` leave it (small random A0 stream)."""
    root = tmp_path_factory.mktemp("run")
    torch.manual_seed(0)
    model = movinet.create_model("movinet_a0_stream", num_classes=3)
    save_weights(model, root / "best.safetensors", model_name="movinet_a0_stream", labels=LABELS)
    (root / "test").mkdir()
    (root / "test" / "test_report.json").write_text(json.dumps(
        {"weights": [str(root / "best.safetensors")], "split": "test", "num_samples": 12, "top1": 0.75,
         "top5": 1.0}))
    (root / "finetune.json").write_text(json.dumps(
        {"command": "movinet finetune my_videos -o runs/kitchen", "train_command": "movinet train -c finetune.yaml"}))
    make_motion_video(root / "clip.mp4", "grow", num_frames=8, size=64, seed=3)
    return root


def test_push_then_load_by_name(server, run_dir):
    pushed = push_to_hub(run_dir, "me/kitchen")
    repo = server.repos["me/kitchen"]
    assert set(pushed.files) == set(repo.files) == {"model.safetensors", "model.json", "README.md"}
    assert repo.files["model.safetensors"] == (run_dir / "best.safetensors").read_bytes()
    assert json.loads(repo.files["model.json"])["labels"] == LABELS

    model, meta = movinet.load_model("hf://me/kitchen")
    original, _ = movinet.load_model(run_dir / "best.safetensors")
    assert meta.name == "movinet_a0_stream" and meta.labels == LABELS
    for key, value in original.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key
    downloads = server.requests.count("GET /me/kitchen/resolve/main/model.safetensors")
    again = movinet.create_model("movinet_a0_stream", weights="hf-hub:me/kitchen")  # timm's spelling, cached
    assert again.num_classes == 3
    assert server.requests.count("GET /me/kitchen/resolve/main/model.safetensors") == downloads


def test_the_model_card_says_what_the_run_made(server, run_dir):
    push_to_hub(run_dir, "me/card")
    card = server.repos["me/card"].files["README.md"].decode()
    assert card.startswith("---\nlibrary_name: movinet\npipeline_tag: video-classification")
    assert "`movinet_a0_stream`, stream" in card
    assert all(f"| {i} | {label} |" in card for i, label in enumerate(LABELS))
    assert "| test | 12 | 0.7500 | 1.0000 |" in card
    assert "movinet finetune my_videos -o runs/kitchen" in card
    assert 'movinet.classify("clip.mp4", "hf://me/card")' in card
    assert "172x172" in card


def test_a_report_of_other_weights_is_not_claimed(server, run_dir, tmp_path):
    other = tmp_path / "run"
    other.mkdir()
    (other / "final.safetensors").write_bytes((run_dir / "best.safetensors").read_bytes())
    (other / "test").mkdir()
    (other / "test" / "test_report.json").write_text(json.dumps(
        {"weights": ["best.safetensors"], "num_samples": 3, "top1": 1.0, "top5": 1.0}))
    push_to_hub(other, "me/other")
    card = server.repos["me/other"].files["README.md"].decode()
    assert "no accuracy is claimed" in card and "1.0000" not in card


def test_cli_push_then_predict_and_classify_by_name(server, run_dir, capsys):
    assert main(["push", str(run_dir), "--repo", "me/cli"]) == 0
    assert "hf://me/cli" in capsys.readouterr().out
    assert main(["predict", "-i", str(run_dir / "clip.mp4"), "-w", "hf://me/cli", "--json"]) == 0
    record = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert record == {**movinet.classify(run_dir / "clip.mp4", "hf://me/cli"), "file": str(run_dir / "clip.mp4"),
                      "timings": record["timings"]}
    assert record["top_k"][0]["label"] in LABELS


def test_a_revision_is_loaded_by_its_commit(server, run_dir):
    push_to_hub(run_dir, "me/revisions")
    commit = server.repos["me/revisions"].commits[-1]
    assert download_weights(f"hf://me/revisions@{commit}").read_bytes() == (run_dir / "best.safetensors").read_bytes()


def test_a_corrupt_download_is_deleted_and_reported(server, run_dir, tmp_path):
    push_to_hub(run_dir, "me/corrupt")
    server.corrupt.add("model.safetensors")
    try:
        with pytest.raises(HubError, match="does not match the Hub's git-sha1"):
            movinet.load_model("hf://me/corrupt")
    finally:
        server.corrupt.discard("model.safetensors")
    assert not [p for p in (tmp_path / "hf_cache").rglob("*") if p.is_file() and p.stat().st_size > 1000]
    assert movinet.load_model("hf://me/corrupt")[1].labels == LABELS  # a clean transfer then loads


def test_errors_are_one_line_and_name_the_repository(server, run_dir, monkeypatch, capsys):
    assert main(["predict", "-i", str(run_dir / "clip.mp4"), "-w", "hf://me/missing"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "cannot download hf://me/missing" in err and server.url in err
    monkeypatch.setenv("HF_TOKEN", "hf_wrong")
    assert main(["push", str(run_dir), "--repo", "me/denied"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "cannot push to me/denied" in err and "401" in err
    assert "me/denied" not in server.repos
    with pytest.raises(HubError, match="ORG/NAME"):
        push_to_hub(run_dir, "not a repo")
    with pytest.raises(HubError, match="hf://ORG/NAME"):
        parse_reference("hf://only-org")
    with pytest.raises(FileNotFoundError, match="holds no best.safetensors or final.safetensors"):
        push_to_hub(run_dir / "test", "me/empty")


def test_references_name_repository_revision_and_file():
    assert parse_reference("hf://org/name") == parse_reference("hf-hub:org/name")
    ref = parse_reference("hf://org/name@v2/weights/other.safetensors")
    assert (ref.repo_id, ref.revision, ref.filename) == ("org/name", "v2", "weights/other.safetensors")
    assert str(ref) == "hf://org/name@v2/weights/other.safetensors"
