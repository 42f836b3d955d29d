"""`movinet serve` throughput: 16 concurrent streams, batched vs unbatched, through the real server.

For each configuration a server runs in its own process (one model thread, 127.0.0.1, a free port)
and N clients (threads of this process) stream pre-encoded JPEG frames of the size the page sends
(shorter side = the model's resize, 4:3) as fast as the server answers, keeping 2 frames in flight
each, for `--seconds`. Flood control is off (the clients are the load generator). Reported:

* frames/s served in total, and what that means as streams classified in real time at the
  model's stream rate (5 fps for official stream models);
* the same per core: frames per CPU-second of the server process (model, event loop, decoding);
* the mean batch size and model-call latency, from the server's /health.

"batched" serves with `--max_batch` (16), "unbatched" with max_batch 1 (every step its own model
call). Also printed: the model alone, one step of B streams (B = 1 and 16), to separate the model's
batching gain from the server's. Random weights (throughput does not depend on them). Not a test:
run it on an otherwise idle machine.

    python benchmarks/bench_serve.py [--backend onnx|torch] [--size 172] [--streams 16] [--seconds 10] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
MODEL = "movinet_a0_stream"


def make_model(folder: Path, backend: str, size: int) -> Path:
    """Random-weight A0 stream at `size` px: a stream ONNX export or .safetensors weights."""
    import torch

    import movinet
    from movinet.export.onnx import export_onnx
    from movinet.data.preprocessing import Preprocessing
    from movinet.weights import save_weights

    torch.set_num_threads(1)
    model = movinet.create_model(MODEL).eval()
    prep = Preprocessing(frames=8, height=size, width=size, resize=size)
    if backend == "onnx":
        return export_onnx(model, folder, model_name=MODEL, preprocessing=prep, stream_steps=2).onnx_path
    return save_weights(model, folder / f"{MODEL}.safetensors", model_name=MODEL, preprocessing=prep)


def run_server(model_file: str, port_file: str, max_batch: int) -> None:
    """The server process (`--serve`): prints nothing, writes its URL to `port_file`."""
    from movinet.serve import ServedModel, ServerThread, ServeSettings, StreamLimits, create_app

    model = ServedModel.load(model_file, num_threads=1)
    settings = ServeSettings(max_batch=max_batch, max_streams=64, streams=StreamLimits(rate_limit=False))
    with ServerThread(create_app(model, settings), settings) as server:
        Path(port_file).write_text(server.url)
        while True:
            time.sleep(1)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def jpeg_frames(size: int, count: int = 8) -> list[bytes]:
    from movinet.serve.client import encode_frame

    rng = np.random.default_rng(0)
    height, width = size, size * 4 // 3
    frames = []
    for _ in range(count):
        blocks = rng.integers(0, 256, (height // 8 + 1, width // 8 + 1, 3), dtype=np.uint8)
        frames.append(encode_frame(blocks.repeat(8, 0).repeat(8, 1)[:height, :width], "jpeg"))
    return frames


def stream_for(url: str, frames: list[bytes], stop_at: float, counts: list[int], index: int) -> None:
    """One closed-loop client: 2 frames in flight, until `stop_at`."""
    from movinet.serve.client import StreamClient

    with StreamClient(url, timeout=60) as stream:
        sent = 0
        while time.monotonic() < stop_at:
            stream.wait_for_replies(1)
            stream.send_frame(frames[sent % len(frames)])
            sent += 1
        stream.wait_for_replies(0)
        bad = [r for r in stream.replies.values() if r["type"] != "result"]
        if bad:
            raise RuntimeError(f"stream {index}: {len(bad)} frames not served: {bad[0]}")
        counts[index] = len(stream.replies)


def measure(model_file: Path, max_batch: int, streams: int, seconds: float, size: int) -> dict[str, Any]:
    """Serve `model_file` with `max_batch`; N closed-loop clients for `seconds`."""
    from movinet.serve.client import health

    port_file = Path(tempfile.mkdtemp(prefix="movinet-bench-")) / "url"
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen([sys.executable, __file__, "--serve", str(model_file), str(port_file), str(max_batch)],
                               env=env)
    try:
        deadline = time.monotonic() + 120
        while not port_file.exists() or not port_file.read_text():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the benchmark server did not start")
            time.sleep(0.1)
        url = port_file.read_text()
        frames = jpeg_frames(size)
        stream_for(url, frames, time.monotonic() + 1.0, [0], 0)  # warm-up: the first model calls
        before = health(url)["scheduler"]
        counts = [0] * streams
        cpu_start, start = cpu_seconds(process.pid), time.monotonic()
        threads = [threading.Thread(target=stream_for, args=(url, frames, start + seconds, counts, i))
                   for i in range(streams)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed, cpu = time.monotonic() - start, cpu_seconds(process.pid) - cpu_start
        after = health(url)["scheduler"]
    finally:
        process.terminate()
        process.wait(30)
    steps, calls = after["steps"] - before["steps"], after["model_calls"] - before["model_calls"]
    model_s = after["model_seconds"] - before["model_seconds"]
    total = sum(counts)
    return {"max_batch": max_batch, "streams": streams, "frames": total, "seconds": round(elapsed, 2),
            "frames_per_s": round(total / elapsed, 1), "server_cpu_s": round(cpu, 2),
            "frames_per_cpu_s": round(total / cpu, 1) if cpu else None, "mean_batch": round(steps / max(calls, 1), 2),
            "model_call_ms": round(1000 * model_s / max(calls, 1), 2), "model_share": round(model_s / elapsed, 2),
            "min_stream_frames": min(counts), "max_stream_frames": max(counts)}


def model_only(model_file: Path, streams: int, seconds: float = 3.0) -> dict[str, float]:
    """Frames/s of the model alone: one step of B streams, B = 1 and `streams`."""
    from movinet.serve.model import ServedModel

    served = ServedModel.load(model_file, num_threads=1)
    prep = served.preprocessing
    clip = np.random.default_rng(0).random((3, 1, prep.height, prep.width), dtype=np.float32)
    out = {}
    for batch in (1, streams):
        states = [served.new_state() for _ in range(batch)]
        _, states = served.step_batch([clip] * batch, states)
        calls, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            _, states = served.step_batch([clip] * batch, states)
            calls += 1
        out[f"batch_{batch}_frames_per_s"] = round(batch * calls / (time.perf_counter() - start), 1)
    return out


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--serve":
        run_server(sys.argv[2], sys.argv[3], int(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=["onnx", "torch"], default="onnx", help="ONNX Runtime (the "
                        "default serving path) or PyTorch eager")
    parser.add_argument("--size", type=int, default=172, help="model input side (default 172, A0's)")
    parser.add_argument("--streams", type=int, default=16, help="concurrent clients (default 16)")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured time per configuration")
    parser.add_argument("--max_batch", type=int, default=16, help="batched configuration's largest batch")
    parser.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    from movinet.serve.model import ServedModel

    with tempfile.TemporaryDirectory(prefix="movinet-bench-serve-") as folder:
        model_file = make_model(Path(folder), args.backend, args.size)
        fps = ServedModel.load(model_file, num_threads=1).fps
        alone = model_only(model_file, args.streams)
        runs = {name: measure(model_file, batch, args.streams, args.seconds, args.size)
                for name, batch in (("unbatched", 1), ("batched", args.max_batch))}
    print(f"{MODEL} {args.size}px, {args.backend}, 1 model thread, {args.streams} closed-loop streams, "
          f"stream rate {fps:g} fps")
    print(f"model alone: {alone}")
    header = (f"{'server':<10} {'frames/s':>9} {'streams@fps':>12} {'frames/cpu-s':>13} {'streams@fps/core':>17} "
              f"{'mean batch':>11} {'call ms':>8} {'min..max frames/stream':>23}")
    print(header)
    for name, run in runs.items():
        per_core = run["frames_per_cpu_s"] or 0.0
        print(f"{name:<10} {run['frames_per_s']:>9.1f} {run['frames_per_s'] / fps:>12.1f} {per_core:>13.1f} "
              f"{per_core / fps:>17.1f} {run['mean_batch']:>11.2f} {run['model_call_ms']:>8.2f} "
              f"{run['min_stream_frames']:>11}..{run['max_stream_frames']}")
    gain = runs["batched"]["frames_per_s"] / runs["unbatched"]["frames_per_s"]
    gain_core = (runs["batched"]["frames_per_cpu_s"] or 0) / (runs["unbatched"]["frames_per_cpu_s"] or 1)
    print(f"batched / unbatched: {gain:.2f}x frames/s, {gain_core:.2f}x per core (target >= 2x)")
    if args.json:
        Path(args.json).write_text(json.dumps({"model": MODEL, "size": args.size, "backend": args.backend,
                                               "stream_fps": fps, "model_alone": alone, "runs": runs,
                                               "gain": round(gain, 3), "gain_per_core": round(gain_core, 3)},
                                              indent=2) + "\n")


if __name__ == "__main__":
    main()
