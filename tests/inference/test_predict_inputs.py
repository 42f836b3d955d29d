"""What `predict` takes as input: lists read like training's, directories of videos, not URLs."""

from __future__ import annotations

import shutil

import pytest

import movinet
from movinet.cli import main
from movinet.data.synthetic import make_motion_video
from movinet.inference import collect_inputs
from movinet.weights import save_weights


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return make_motion_video(tmp_path_factory.mktemp("clip") / "clip.mp4", "grow", num_frames=8, size=32, seed=0)


def test_a_path_label_list_keeps_paths_with_spaces(tmp_path, clip):
    spaced = tmp_path / "my clip.mp4"
    shutil.copy(clip, spaced)
    listing = tmp_path / "val.txt"
    listing.write_text(f"my clip.mp4 3\n{clip} 0\n{spaced}\n# a comment\n\nmissing file.mp4 2\n")
    assert collect_inputs(listing) == [str(spaced), str(clip), str(spaced), "missing file.mp4"]


def test_a_directory_yields_its_videos_only(tmp_path, clip):
    for name in ("b.mp4", "a.AVI", "c.mkv"):
        shutil.copy(clip, tmp_path / name)
    for name in ("labels.txt", "notes.md", "thumb.jpg", ".hidden.mp4"):
        (tmp_path / name).write_text("not a video")
    (tmp_path / "sub.mp4").mkdir()
    assert [p.rsplit("/", 1)[1] for p in collect_inputs(tmp_path)] == ["a.AVI", "b.mp4", "c.mkv"]
    (tmp_path / "only_text").mkdir()
    (tmp_path / "only_text" / "readme.txt").write_text("x")
    with pytest.raises(ValueError, match="no video files"):
        collect_inputs(tmp_path / "only_text")


def test_a_url_points_at_stream(tmp_path, capsys):
    with pytest.raises(ValueError, match="movinet stream --input http://127.0.0.1:9/x.mp4"):
        collect_inputs("http://127.0.0.1:9/x.mp4")
    model = movinet.create_model("movinet_t0_base", num_classes=2)
    weights = save_weights(model, tmp_path / "t0.safetensors", model_name="movinet_t0_base")
    assert main(["predict", "-i", "rtsp://127.0.0.1:9/live", "-w", str(weights)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "movinet stream" in err
