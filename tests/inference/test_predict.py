"""Whole-video prediction: ONNX Runtime and PyTorch backends, batching, output format, bad inputs."""

from __future__ import annotations

import io
import json
import shutil

import numpy as np
import pytest
import torch

from movinet.inference import (
    OnnxPredictor,
    PredictorError,
    ProviderNotAvailableError,
    SidecarError,
    TorchPredictor,
    load_clip,
    load_predictor,
    predict_files,
    print_results,
)
from tests.conftest import relative_error
from tests.inference.assets import PREPROCESSING, noise_video, single_thread

ort = pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def torch_base(base_weights):
    with single_thread():
        return TorchPredictor(base_weights, preprocessing=PREPROCESSING)


@pytest.fixture(scope="module")
def onnx_base(base_onnx):
    return OnnxPredictor(base_onnx, num_threads=1)


@pytest.fixture
def mixed_dir(tmp_path, video):
    """Two good videos, then a truncated one, a text file and an empty file."""
    folder = tmp_path / "videos"
    folder.mkdir()
    shutil.copy(video, folder / "a_good.mp4")
    noise_video(folder / "b_good.mp4", seed=1)
    (folder / "c_truncated.mp4").write_bytes(video.read_bytes()[:400])
    (folder / "d_notes.txt.mp4").write_text("not a video\n")
    (folder / "e_empty.mp4").write_bytes(b"")
    return folder


def test_onnx_and_torch_agree(video, torch_base, onnx_base):
    clip, _ = load_clip(video, onnx_base.preprocessing)
    assert clip.shape == (3, 8, 64, 64)
    ours, ref = onnx_base.predict_clips(clip[None]), torch_base.predict_clips(clip[None])
    assert relative_error(ours, ref) <= 1e-4
    [a], [b] = (predict_files(video, p, top_k=5, progress=False) for p in (onnx_base, torch_base))
    assert a.ok and a.classes == b.classes and np.allclose(a.scores, b.scores, atol=1e-5)
    assert a.labels[0] is not None and 0 < a.scores[0] <= 1


def test_stream_onnx_predicts_whole_video_like_the_causal_model(video, stream_onnx, stream_weights):
    onnx_stream = OnnxPredictor(stream_onnx, num_threads=1)
    torch_stream = TorchPredictor(stream_weights, preprocessing=PREPROCESSING)
    assert onnx_stream.is_stream and onnx_stream.preprocessing == torch_stream.preprocessing
    clip, _ = load_clip(video, onnx_stream.preprocessing)
    with torch.no_grad():
        whole = torch_stream.model(torch.from_numpy(clip[None])).numpy()
    assert relative_error(onnx_stream.predict_clips(clip[None]), whole) <= 1e-4


def test_printed_format_matches_the_seed(video, onnx_base):
    results = predict_files(str(video), onnx_base, top_k=1, progress=False)
    out = io.StringIO()
    assert print_results(results, top_k=1, file=out) == 0
    lines = out.getvalue().splitlines()
    assert lines[0] == f"Current video file: {video}"
    assert lines[1] == f"\ttop-1 class: {results[0].classes[0]}"
    assert lines[2] == f"\ttop-1 label: {results[0].labels[0]}"
    assert lines[3].startswith("\ttop-1 score: ") and 0 < float(lines[3].split(": ")[1]) <= 1
    assert len(lines) == 4


def test_top_k_lists_and_json_lines(video, onnx_base):
    results = predict_files([video, video], onnx_base, top_k=3, batch_size=2, progress=False)
    out = io.StringIO()
    print_results(results, top_k=3, file=out)
    lines = out.getvalue().splitlines()
    assert lines[1] == f"\ttop-1 class: {results[0].classes[0]}"  # the seed's top-1 block first
    assert lines[4] == f"\ttop-3 class: {results[0].classes}" and lines[6].startswith("\ttop-3 score: [")
    out = io.StringIO()
    print_results(results, top_k=3, json_lines=True, file=out)
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert len(rows) == 2 and [e["class"] for e in rows[0]["top_k"]] == results[0].classes
    assert rows[0]["top_k"][0]["score"] >= rows[0]["top_k"][1]["score"]
    assert set(rows[0]["timings"]) == {"decode", "preprocess", "model"}


def test_directory_with_bad_files(mixed_dir, onnx_base):
    """Good files still get results; bad ones are errors, listed at the end and counted."""
    results = predict_files(mixed_dir, onnx_base, batch_size=2, progress=False)
    by_name = {r.path.rsplit("/", 1)[1]: r for r in results}
    assert list(by_name) == ["a_good.mp4", "b_good.mp4", "c_truncated.mp4", "d_notes.txt.mp4", "e_empty.mp4"]
    assert by_name["a_good.mp4"].ok and by_name["b_good.mp4"].ok
    assert "empty" in by_name["e_empty.mp4"].error and "not a video" in by_name["d_notes.txt.mp4"].error
    assert not by_name["c_truncated.mp4"].ok
    out, err = io.StringIO(), io.StringIO()
    assert print_results(results, file=out, err_file=err) == 3
    assert "3 of 5 files failed" in err.getvalue() and "c_truncated.mp4" in err.getvalue()
    assert out.getvalue().count("top-1 class") == 2


def test_missing_corrupt_and_list_inputs(tmp_path, video, onnx_base):
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8)
    listing = tmp_path / "videos.txt"
    listing.write_text(f"{video} 3\n\n# comment\n{tmp_path / 'missing.mp4'}\ncorrupt.mp4\n")
    results = predict_files(listing, onnx_base, progress=False)
    assert [r.ok for r in results] == [True, False, False]
    assert "not found" in results[1].error and "corrupt" in results[2].path
    [missing] = predict_files(tmp_path / "nothing.mp4", onnx_base, progress=False)
    assert not missing.ok and "not found" in missing.error
    (tmp_path / "empty_dir").mkdir()
    with pytest.raises(ValueError, match="no video files"):
        predict_files(tmp_path / "empty_dir", onnx_base, progress=False)


def test_onnx_without_or_with_a_foreign_sidecar(tmp_path, base_onnx, stream_onnx):
    lonely = tmp_path / "lonely.onnx"
    shutil.copy(base_onnx, lonely)
    with pytest.raises(SidecarError, match="sidecar"):
        OnnxPredictor(lonely)
    foreign = tmp_path / "foreign.onnx"
    shutil.copy(stream_onnx, foreign)
    shutil.copy(base_onnx.with_suffix(".json"), tmp_path / "foreign.json")
    with pytest.raises(SidecarError, match="movinet_a0_stream"):
        OnnxPredictor(foreign)
    (tmp_path / "lonely.json").write_text("{not json")
    with pytest.raises(SidecarError, match="cannot read"):
        OnnxPredictor(lonely)
    with pytest.raises(SidecarError, match="movinet_a2_base"):
        OnnxPredictor(base_onnx, model_name="movinet_a2_base")
    with pytest.raises(FileNotFoundError, match="movinet export"):
        OnnxPredictor(tmp_path / "absent.onnx")


@pytest.mark.skipif("CUDAExecutionProvider" in ort.get_available_providers(), reason="CUDA is installed here")
def test_missing_gpu_provider_names_the_package(base_onnx):
    with pytest.raises(ProviderNotAvailableError, match="onnxruntime-gpu") as info:
        OnnxPredictor(base_onnx, use_gpu=True)
    assert "CUDAExecutionProvider" in str(info.value) and "--use_gpu" in str(info.value)
    with pytest.raises(ProviderNotAvailableError, match="TensorRT"):
        load_predictor(base_onnx, use_tensorrt=True)


def test_torch_predictor_checks_the_model(base_weights, torch_base):
    with pytest.raises(PredictorError, match="movinet_a0_stream"):
        TorchPredictor(base_weights, model_name="movinet_a0_stream")
    with pytest.raises(PredictorError, match="base model"):
        torch_base.init_state()
    assert torch_base.kind == "base" and torch_base.num_classes == 600


def test_the_onnx_path_of_predict_and_stream_imports_no_torch(video, base_onnx, stream_onnx):
    """A fresh interpreter picks the ONNX backend, predicts a file and streams it, and never loads torch."""
    import subprocess
    import sys
    from pathlib import Path

    code = (
        "import sys\n"
        "from movinet.inference import OnnxPredictor, load_predictor, predict_files\n"
        "from movinet.inference.stream import run_stream\n"
        f"predictor = load_predictor({str(base_onnx)!r}, num_threads=1)\n"
        "assert isinstance(predictor, OnnxPredictor)\n"
        f"[result] = predict_files({str(video)!r}, predictor, progress=False)\n"
        "assert result.error is None, result.error\n"
        f"summary = run_stream({str(video)!r}, predictor=OnnxPredictor({str(stream_onnx)!r}, num_threads=1), "
        "print_every=0, max_frames=3)\n"
        "assert summary.frames == 3\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'torch'))\n"
    )
    repo = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=repo,
                         check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_predict_files_decodes_ahead_and_keeps_the_input_order(tmp_path, video, onnx_base):
    """Files are decoded one batch ahead of the model; results stay in input order, errors per file."""
    missing = tmp_path / "missing.mp4"
    inputs = [str(video), str(missing), str(video)]
    results = predict_files(inputs, onnx_base, progress=False)
    assert [r.path for r in results] == inputs
    assert results[1].error and not results[0].error and not results[2].error
    assert results[0].classes == results[2].classes and results[0].scores == pytest.approx(results[2].scores)
