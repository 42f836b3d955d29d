"""No output of a command lands on one of its inputs or on another of its outputs; a bad --annotate is
refused before the stream starts. Each refusal is one line and exit code 2, and the file is untouched."""

from __future__ import annotations

import pytest

import movinet
from movinet.cli import main
from movinet.data.synthetic import make_motion_video
from movinet.weights import save_weights
from tests.conftest import one_line_error


@pytest.fixture(scope="module")
def stream_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "t0_stream.safetensors"
    return save_weights(movinet.create_model("movinet_t0_stream", num_classes=3), path, model_name="movinet_t0_stream")


@pytest.fixture
def video(tmp_path):
    return make_motion_video(tmp_path / "x.mp4", "grow", num_frames=6, size=32, seed=0)


@pytest.mark.parametrize("option", ["--annotate", "--json_out"])
def test_stream_refuses_to_write_over_its_input(option, stream_model, video, capsys):
    before = video.read_bytes()
    assert main(["stream", "--input", str(video), "-w", str(stream_model), option, str(video)]) == 2
    err = one_line_error(capsys)
    assert f"{option} and --input are the same file" in err and "never writes over an input" in err
    assert video.read_bytes() == before


def test_stream_refuses_two_outputs_in_one_file(stream_model, video, tmp_path, capsys):
    out = tmp_path / "out.mp4"
    assert main(["stream", "--input", str(video), "-w", str(stream_model), "--json_out", str(out),
                 "--annotate", str(out)]) == 2
    assert "--annotate and --json_out are the same file" in one_line_error(capsys)
    assert not out.exists()


def test_a_symlink_to_the_input_is_the_input(stream_model, video, tmp_path, capsys):
    link = tmp_path / "link.mp4"
    link.symlink_to(video)
    before = video.read_bytes()
    assert main(["stream", "--input", str(video), "-w", str(stream_model), "--annotate", str(link)]) == 2
    assert "are the same file" in one_line_error(capsys)
    assert video.read_bytes() == before


@pytest.mark.parametrize("annotate", ["out.json", "out.webm", "blocker/out.mp4"])
def test_a_bad_annotate_is_refused_before_the_stream_starts(annotate, stream_model, video, tmp_path, capsys):
    (tmp_path / "blocker").write_text("a file where a folder is needed")
    json_out = tmp_path / "steps.jsonl"
    assert main(["stream", "--input", str(video), "-w", str(stream_model), "--json_out", str(json_out),
                 "--annotate", str(tmp_path / annotate)]) == 2
    err = one_line_error(capsys)
    assert "blocker" in err if annotate.startswith("blocker") else "--annotate" in err
    assert not json_out.exists()  # nothing ran, nothing was written


def test_annotate_writes_a_video_and_no_temporary_file(stream_model, video, tmp_path):
    out = tmp_path / "annotated.mp4"
    assert main(["stream", "--input", str(video), "-w", str(stream_model), "--annotate", str(out), "--fps", "10",
                 "--print_every", "0"]) == 0
    assert out.stat().st_size > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["annotated.mp4", "x.mp4"]


@pytest.mark.parametrize("source", ["paddle", "tf"])
def test_convert_refuses_to_write_over_its_checkpoint(source, tmp_path, capsys):
    checkpoint = tmp_path / ("in.pdparams" if source == "paddle" else "ckpt.npz")
    checkpoint.write_bytes(b"the user's only copy")
    assert main(["convert", source, str(checkpoint), "--model", "movinet_a0_base", "-o", str(checkpoint)]) == 2
    assert "-o and the checkpoint are the same file" in one_line_error(capsys)
    assert checkpoint.read_bytes() == b"the user's only copy"


def test_prepare_refuses_a_list_over_its_input_list(tmp_path, capsys):
    listing = tmp_path / "videos.txt"
    listing.write_text("a.mp4 0\n")
    assert main(["prepare", "frames", str(listing), "--list", str(listing), "-o", str(tmp_path / "frames")]) == 2
    assert "--list and the input are the same file" in one_line_error(capsys)
    assert listing.read_text() == "a.mp4 0\n"


def test_train_refuses_a_config_that_the_run_would_overwrite(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    config = run / "config.yaml"
    config.write_text(f"train:\n  output_dir: {run}\n")
    for extra in ([], ["--overwrite"]):
        assert main(["train", "-c", str(config), *extra]) == 2
        err = one_line_error(capsys)
        assert "train.output_dir's config.yaml and -c are the same file" in err and "copy it out" in err
        assert config.read_text() == f"train:\n  output_dir: {run}\n"


def test_check_outputs_sees_hard_links_and_skips_absent_options(tmp_path):
    from movinet.files import OutputOverlapError, check_outputs

    original = tmp_path / "a.mp4"
    original.write_bytes(b"x")
    (tmp_path / "b.mp4").hardlink_to(original)
    with pytest.raises(OutputOverlapError, match="out and in are the same file"):
        check_outputs({"in": original}, {"out": tmp_path / "b.mp4"})
    check_outputs({"in": original, "unused": None}, {"out": tmp_path / "c.mp4", "other": None})
