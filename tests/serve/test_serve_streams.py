"""WebSocket streams through a real server on 127.0.0.1: results, many concurrent streams, faults."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from movinet.serve.client import ServeClientError, StreamClient, encode_frame, health
from tests.conftest import relative_error
from tests.serve.conftest import motion_frames, reference_logits


def scores(reply: dict) -> dict[int, float]:
    return {entry["class"]: entry["score"] for entry in reply["top_k"]}


def assert_matches_reference(replies: list[dict], ref_logits: np.ndarray, tolerance: float = 1e-5) -> None:
    """Every reply is a result, in frame order, with the top-k of the stream stepped alone."""
    from movinet.inference.report import softmax

    assert [reply["type"] for reply in replies] == ["result"] * len(ref_logits)
    assert [reply["frames"] for reply in replies] == list(range(1, len(ref_logits) + 1))
    for reply, logits in zip(replies, ref_logits):
        probabilities = softmax(logits[None])[0]
        expected = [int(c) for c in np.argsort(-probabilities, kind="stable")[:len(reply["top_k"])]]
        assert [entry["class"] for entry in reply["top_k"]] == expected
        got = np.array([entry["score"] for entry in reply["top_k"]])
        assert relative_error(got, probabilities[expected]) <= tolerance


def test_client_stream_gives_the_final_top5_of_movinet_stream(server, onnx_file, tmp_path):
    from movinet.data.video import iter_frames, write_video
    from movinet.inference import load_predictor
    from movinet.inference.stream import run_stream

    video = write_video(tmp_path / "clip.mp4", motion_frames(7, 20, 60, 72), 20.0)
    fps = 10.0
    summary = run_stream(video, predictor=load_predictor(onnx_file, num_threads=1), top_k=5, target_fps=fps,
                         print_every=0)
    frames = [frame for _, frame in iter_frames(video, target_fps=fps)]
    assert len(frames) == summary.frames == 10
    with StreamClient(server.url, top_k=5) as stream:
        assert stream.hello["fps"] == fps and stream.hello["protocol"] == 1
        replies = stream.stream(frames)
    final = replies[-1]
    assert [reply["frame"] for reply in replies] == list(range(10))
    assert [e["class"] for e in final["top_k"]] == [c for c, _, _ in summary.final_top_k]
    assert [e["label"] for e in final["top_k"]] == [label for _, label, _ in summary.final_top_k]
    for entry, (_, _, score) in zip(final["top_k"], summary.final_top_k):
        assert entry["score"] == pytest.approx(score, rel=1e-5)
    assert all(reply["latency_ms"] > 0 and reply["batch"] >= 1 for reply in replies)


def health_when_idle(url: str, timeout: float = 10.0) -> dict:
    """/health once every closed stream has been cleaned up (closing is asynchronous on the server)."""
    deadline = time.monotonic() + timeout
    status = health(url)
    while status["streams"] and time.monotonic() < deadline:
        time.sleep(0.05)
        status = health(url)
    return status


def run_clients(url: str, jobs: list, timeout: float = 120.0) -> list:
    """Run each job(url) in its own thread; returns their results (or raises the first error)."""
    results: list = [None] * len(jobs)
    errors: list[BaseException] = []

    def work(index: int) -> None:
        try:
            results[index] = jobs[index](url)
        except BaseException as error:  # noqa: BLE001 - re-raised in the test's thread
            errors.append(error)

    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(len(jobs))]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    assert not any(thread.is_alive() for thread in threads), f"clients still running after {timeout:g} s"
    if errors:
        raise errors[0]
    return results


def good_stream(frames: np.ndarray):
    def job(url: str) -> list[dict]:
        with StreamClient(url, top_k=3) as stream:
            return stream.stream(frames)
    return job


def test_sixteen_concurrent_streams_all_results_in_order_and_batched(onnx_served):
    from movinet.serve import ServeSettings, ServerThread, create_app

    videos = [motion_frames(100 + i, 6 + i % 4) for i in range(16)]  # streams of different lengths
    refs = [reference_logits(onnx_served, video) for video in videos]
    settings = ServeSettings(max_batch=16, batch_window_ms=10, max_streams_per_client=16)
    with ServerThread(create_app(onnx_served, settings), settings) as server:
        results = run_clients(server.url, [good_stream(video) for video in videos])
        stats = health_when_idle(server.url)
    for replies, ref in zip(results, refs):
        assert_matches_reference(replies, ref)
    assert stats["scheduler"]["steps"] == sum(len(video) for video in videos)
    assert stats["scheduler"]["largest_batch"] > 1  # concurrent streams shared model calls
    assert stats["streams"] == 0 and stats["frames_dropped"] == 0


def test_faults_leave_the_other_streams_untouched(server, onnx_served):
    """A client that disconnects mid-stream, one that sends garbage and one that floods, beside good streams."""
    from websockets.sync.client import connect

    videos = [motion_frames(200 + i, 8) for i in range(3)]
    refs = [reference_logits(onnx_served, video) for video in videos]
    frame = motion_frames(9, 1)[0]

    def disconnect_mid_stream(url: str) -> int:
        stream = StreamClient(url)
        for _ in range(3):
            stream.send_frame(frame)
        stream.receive()
        stream._ws.socket.close()  # vanish without a close handshake, frames still in flight
        return 3

    def garbage(url: str) -> list[dict]:
        with StreamClient(url) as stream:
            stream.send_frame(b"\x00\x01 not an image")
            stream.send_frame(b"\xff\xd8\xff\xe0 truncated jpeg")
            stream.send_frame(encode_frame(np.zeros((8, 8, 3), np.uint8)))  # under the 16-px minimum
            stream.send_frame(b"\x89PNG" + bytes(3 * 1024 * 1024))  # over the 2 MiB frame limit
            stream.send_text("{not json")
            stream.send_text('{"type": "launch"}')
            stream.wait_for_replies()
            for _ in range(2):
                stream.receive()  # the two text errors
            after = stream.stream([frame])  # the stream still works after all that
            return [stream.replies[i] for i in range(4)] + stream.other + after

    def flood(url: str) -> list[dict]:
        with StreamClient(url) as stream:
            return stream.stream([frame] * 60, pace=False, max_in_flight=None)

    jobs = [good_stream(video) for video in videos] + [disconnect_mid_stream, garbage, flood]
    *good, _, bad, flooded = run_clients(server.url, jobs)
    for replies, ref in zip(good, refs):
        assert_matches_reference(replies, ref)

    assert [reply["code"] for reply in bad[:4]] == ["bad_frame", "bad_frame", "frame_size", "frame_too_large"]
    assert [reply["code"] for reply in bad[4:6]] == ["bad_message", "bad_message"]
    assert bad[6]["type"] == "result" and bad[6]["frames"] == 1

    kinds = [reply["type"] for reply in flooded]
    assert len(flooded) == 60 and set(kinds) <= {"result", "dropped"}  # one reply per frame
    dropped = [reply for reply in flooded if reply["type"] == "dropped"]
    assert 0 < len(dropped) < 60 and dropped[-1]["dropped"] == len(dropped)
    assert {reply["reason"] for reply in dropped} <= {"rate", "busy"} and "rate" in {r["reason"] for r in dropped}
    results = [reply for reply in flooded if reply["type"] == "result"]
    assert [reply["frames"] for reply in results] == list(range(1, len(results) + 1))
    assert results[-1]["dropped"] <= len(dropped)

    status = health_when_idle(server.url)
    assert status["streams"] == 0  # every state went with its connection, the vanished one included
    assert status["status"] == "ok" and status["frames_dropped"] >= len(dropped)
    with connect(server.ws_url) as raw:  # and the server still takes new streams
        assert '"hello"' in raw.recv(timeout=10)


def test_too_many_streams_are_refused_with_a_message(onnx_served):
    from movinet.serve import ServeSettings, ServerThread, create_app

    settings = ServeSettings(max_streams=2)
    with ServerThread(create_app(onnx_served, settings), settings) as server:
        first, second = StreamClient(server.url), StreamClient(server.url)
        with pytest.raises(ServeClientError, match="at most 2 streams"):
            StreamClient(server.url)
        assert first.stream([motion_frames(1, 1)[0]])[0]["type"] == "result"
        first.close()
        deadline = time.monotonic() + 10
        while health(server.url)["streams"] > 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        with StreamClient(server.url) as third:  # a freed slot is taken again
            assert third.stream([motion_frames(2, 1)[0]])[0]["type"] == "result"
        second.close()


def test_reset_starts_a_fresh_stream(server, onnx_served):
    video = motion_frames(300, 4)
    ref = reference_logits(onnx_served, video[2:])
    with StreamClient(server.url, top_k=3) as stream:
        stream.stream(video[:2])
        stream.reset()
        replies = stream.stream(video[2:])
        assert any(message["type"] == "reset" and message["frame"] == 2 for message in stream.other)
    assert_matches_reference(replies, ref)


def test_pytorch_model_with_fewer_classes_than_top_k(tmp_path):
    """Stream weights served with PyTorch; a 3-class model gets 3 classes per result, not an error."""
    from movinet.weights import save_weights
    from movinet.serve import ServedModel, ServerThread, create_app
    from tests.conftest import random_model
    from tests.serve.conftest import PREPROCESSING

    weights = save_weights(random_model("movinet_a0_stream", seed=5, num_classes=3), tmp_path / "three.safetensors",
                           model_name="movinet_a0_stream", labels=["a", "b", "c"], preprocessing=PREPROCESSING)
    served = ServedModel.load(weights, num_threads=1, fps=20)
    video = motion_frames(400, 3)
    ref = reference_logits(served, video)
    with ServerThread(create_app(served)) as server, StreamClient(server.url) as stream:
        assert stream.hello["top_k"] == 3
        replies = stream.stream(video)
    assert_matches_reference(replies, ref)
    assert {entry["label"] for entry in replies[-1]["top_k"]} == {"a", "b", "c"}
