"""Online inference: `run_stream` against whole-video prediction, outputs, and failing sources."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

import movinet.data.video as video_module
from movinet.data.video import VideoDecodeError, open_video
from movinet.inference import OnnxPredictor, PredictorError, TorchPredictor, load_clip
from movinet.inference.stream import StreamOpenError, StreamSession, run_stream
from tests.inference.assets import PREPROCESSING, noise_video, single_thread


@pytest.fixture(scope="module")
def torch_stream(stream_weights):
    with single_thread():
        return TorchPredictor(stream_weights, preprocessing=PREPROCESSING)


def whole_video_logits(predictor, path):
    clip, _ = load_clip(path, predictor.preprocessing)
    return predictor.predict_clips(clip[None])[0]


def assert_close(ours, ref, tolerance=1e-5):
    """Relative to max|ref| (stream vs whole clip differ only by float summation order)."""
    assert np.abs(ours - ref).max() <= tolerance * np.abs(ref).max()


def test_final_stream_prediction_equals_predict(video, torch_stream):
    """16 frames at 10 fps streamed at 5 fps are frames 0, 2, ..., 14: the 8 frames `predict` samples."""
    summary = run_stream(video, predictor=torch_stream, top_k=5, target_fps=5, print_every=0)
    assert (summary.frames, summary.steps, summary.ended) == (8, 8, "end of stream")
    ref = whole_video_logits(torch_stream, video)
    assert_close(summary.final_logits, ref)
    assert summary.final_top_k[0][0] == int(np.argmax(ref))


def test_onnx_stream_and_chunks_agree(video, torch_stream, stream_onnx):
    ref = whole_video_logits(torch_stream, video)
    onnx = OnnxPredictor(stream_onnx, num_threads=1)
    for predictor, chunk in ((onnx, 1), (onnx, 3), (torch_stream, 3)):
        summary = run_stream(video, predictor=predictor, target_fps=5, chunk=chunk, print_every=0)
        assert summary.steps == -(-8 // chunk)
        assert_close(summary.final_logits, ref, 1e-4 if predictor is onnx else 1e-5)


def test_default_rate_is_the_training_rate(torch_stream, tmp_path):
    path = noise_video(tmp_path / "25fps.mp4", frames=25, fps=25)
    summary = run_stream(path, predictor=torch_stream, print_every=0)
    assert summary.fps == 5.0 and summary.frames == 5


def test_printed_json_and_annotated_outputs(video, torch_stream, tmp_path):
    out, annotated, log = tmp_path / "steps.jsonl", tmp_path / "annotated.mp4", io.StringIO()
    summary = run_stream(video, predictor=torch_stream, top_k=3, target_fps=5, json_out=out,
                         annotate=annotated, print_every=2, out=log)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 9 and rows[-1]["summary"]["frames"] == 8
    assert [row["frame"] for row in rows[:-1]] == list(range(8))
    assert rows[3]["timestamp"] == pytest.approx(0.6) and len(rows[3]["top_k"]) == 3
    assert rows[3]["latency_ms"] > 0 and rows[-1]["summary"]["final_top_k"][0]["label"] == summary.final_top_k[0][1]
    text = log.getvalue().splitlines()
    assert sum(line.startswith("[") for line in text) == 4  # steps 0, 2, 4, 6
    assert any("latency ms: mean" in line for line in text)
    with open_video(annotated) as reader:
        assert reader.num_frames == 8 and (reader.height, reader.width) == (80, 96)
        frame = reader.read_frames([0])[0]
    assert frame[:8, :40].mean() < 60  # the label box is drawn in the corner


def test_max_frames_and_session_api(video, torch_stream):
    summary = run_stream(video, predictor=torch_stream, target_fps=5, max_frames=3, print_every=0)
    assert (summary.frames, summary.ended) == (3, "max_frames")
    session = StreamSession(torch_stream)
    with open_video(video) as reader:
        frames = reader.read_frames([0, 2, 4])
    logits = session.push_frames(frames)
    assert_close(logits, summary.final_logits)
    session.reset()
    assert session.frames_seen == 0 and session.logits is None


def test_camera_that_cannot_be_opened(torch_stream):
    with pytest.raises(StreamOpenError, match="camera 99"):
        run_stream(99, predictor=torch_stream, print_every=0)


def test_missing_file_and_base_model(tmp_path, torch_stream, base_weights, video):
    with pytest.raises(StreamOpenError, match="not found"):
        run_stream(tmp_path / "absent.mp4", predictor=torch_stream, print_every=0)
    with pytest.raises(PredictorError, match="base model"):
        run_stream(video, predictor=TorchPredictor(base_weights, preprocessing=PREPROCESSING), print_every=0)


def test_truncated_file_ends_with_a_summary(tmp_path, torch_stream):
    full = noise_video(tmp_path / "full.mkv", frames=40, fps=5)
    truncated = tmp_path / "truncated.mkv"
    truncated.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    log = io.StringIO()
    summary = run_stream(truncated, predictor=torch_stream, print_every=1, out=log)
    assert 0 < summary.frames < 40 and summary.final_logits is not None
    assert f"frames: {summary.frames}" in log.getvalue()


def test_source_dropping_mid_way_ends_cleanly(monkeypatch, video, torch_stream):
    real = video_module.iter_frames

    def dropping(source, **kwargs):
        for count, item in enumerate(real(source, **kwargs)):
            if count == 3:
                raise VideoDecodeError("rtsp://cam: connection reset by peer")
            yield item

    monkeypatch.setattr(video_module, "iter_frames", dropping)
    summary = run_stream(video, predictor=torch_stream, target_fps=5, print_every=0)
    assert (summary.frames, summary.ended) == (3, "error") and "connection reset" in summary.error


def test_read_ahead_yields_in_order_raises_where_the_source_failed_and_stops_early():
    from movinet.inference.readahead import read_ahead

    assert list(read_ahead(iter(range(50)), depth=3)) == list(range(50))

    def failing():
        yield from range(5)
        raise VideoDecodeError("dropped")

    seen = []
    with pytest.raises(VideoDecodeError, match="dropped"):
        for item in read_ahead(failing()):
            seen.append(item)
    assert seen == list(range(5))
    closed = []

    def endless():
        try:
            count = 0
            while True:
                yield count
                count += 1
        finally:
            closed.append(True)

    frames = read_ahead(endless(), depth=2)
    assert [next(frames) for _ in range(4)] == [0, 1, 2, 3]
    frames.close()  # the consumer stops: the producer thread ends and closes its source
    assert closed == [True]


def test_only_the_frames_the_resampling_keeps_are_converted(monkeypatch, video):
    """A 25 -> 5 fps stream converts one decoded frame in five to RGB, with the same pixels."""
    calls = []
    real = video_module._to_rgb

    def counting(frame, *args):
        calls.append(frame.pts)
        return real(frame, *args)

    all_frames = [frame for _, frame in video_module.iter_frames(video)]
    monkeypatch.setattr(video_module, "_to_rgb", counting)
    kept = list(video_module.iter_frames(video, target_fps=5))
    assert 0 < len(calls) == len(kept) < len(all_frames)
    fps = video_module.open_video(video).fps
    for (time, frame) in kept:
        assert np.array_equal(frame, all_frames[int(round(time * fps))])
