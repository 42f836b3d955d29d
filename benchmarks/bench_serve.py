"""`movinet serve` under load: throughput (batched vs unbatched) and a hostile mix, through the real server.

**Throughput** (the default, `--scenario throughput`):

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

**Hostile mix** (`--scenario hostile`): 4 good streams send JPEG frames paced at the model's
stream rate from 127.0.0.1, with the server's default settings (flood control, idle timeout,
per-client cap, upload limits on). Reported per run: every frame's end-to-end latency (sent ->
its reply received) p50 / p99 / max, and the frames not classified (dropped, refused or
unanswered), first alone, then beside hostile clients:

* a ping flood: a WebSocket client sending pings as fast as it can and reading nothing;
* a slow upload: `POST /predict` announcing 10 MB and sending 1 byte per second;
* a list upload, repeated: a 6 KB `.txt` upload naming 200 video files on the server's disk;
* 28 idle WebSockets, each from its own loopback address (127.0.0.2 ...), sending nothing.

    python benchmarks/bench_serve.py --scenario hostile [--seconds 20] [--size 172]
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
    """The server process (`--serve`): prints nothing, writes its URL to `port_file`.

    max_batch > 0: the throughput setting (no flood control); 0: the server's defaults."""
    from movinet.serve import ServedModel, ServerThread, ServeSettings, StreamLimits, create_app

    model = ServedModel.load(model_file, num_threads=1)
    settings = ServeSettings() if max_batch == 0 else ServeSettings(
        max_batch=max_batch, max_streams=64, max_streams_per_client=64, streams=StreamLimits(rate_limit=False))
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


def start_server(model_file: Path, max_batch: int) -> tuple[subprocess.Popen, str]:
    """A server process for `model_file` (see `run_server`); returns it and its URL."""
    port_file = Path(tempfile.mkdtemp(prefix="movinet-bench-")) / "url"
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen([sys.executable, __file__, "--serve", str(model_file), str(port_file), str(max_batch)],
                               env=env)
    deadline = time.monotonic() + 120
    while not port_file.exists() or not port_file.read_text():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError("the benchmark server did not start")
        time.sleep(0.1)
    return process, port_file.read_text()


def measure(model_file: Path, max_batch: int, streams: int, seconds: float, size: int) -> dict[str, Any]:
    """Serve `model_file` with `max_batch`; N closed-loop clients for `seconds`."""
    from movinet.serve.client import health

    process, url = start_server(model_file, max_batch)
    try:
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


# -- the hostile mix ---------------------------------------------------------------------------------


def paced_stream(url: str, frames: list[bytes], seconds: float, out: dict[str, Any]) -> None:
    """A good client: frames paced at the server's stream rate for `seconds`; records each frame's
    end-to-end latency (send -> reply) and the frames not classified (a stream that fails to open
    counts all its frames, with the reason)."""
    out.update(latencies=[], lost=[], sent=0)
    try:
        _paced_stream(url, frames, seconds, out)
    except Exception as error:  # noqa: BLE001 - reported as the stream's frames not classified
        out["lost"].append(f"stream failed: {type(error).__name__}: {error}")


def _paced_stream(url: str, frames: list[bytes], seconds: float, out: dict[str, Any]) -> None:
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    from movinet.serve.client import ws_url

    with connect(ws_url(url), max_size=None, open_timeout=30) as ws:
        fps = float(json.loads(ws.recv(timeout=30))["fps"])
        count = int(seconds * fps)
        sent_at: dict[int, float] = {}
        latencies: list[float] = []
        lost: list[str] = []

        def receive() -> None:
            try:
                while len(latencies) + len(lost) < count:
                    reply = json.loads(ws.recv(timeout=30))
                    if reply.get("frame") is None:
                        continue
                    if reply["type"] == "result":
                        latencies.append(time.monotonic() - sent_at[reply["frame"]])
                    else:
                        lost.append(reply.get("reason") or reply.get("code") or reply["type"])
            except (TimeoutError, ConnectionClosed):
                pass

        receiver = threading.Thread(target=receive)
        receiver.start()
        start = time.monotonic()
        for index in range(count):
            time.sleep(max(0.0, start + index / fps - time.monotonic()))
            sent_at[index] = time.monotonic()
            ws.send(frames[index % len(frames)])
        receiver.join(60)
    out.update(latencies=latencies, lost=lost + ["unanswered"] * (count - len(latencies) - len(lost)), sent=count)


def ping_flood(url: str, stop: threading.Event) -> None:
    """A WebSocket client that sends pings as fast as the server takes them and reads nothing."""
    import base64
    import socket
    import struct
    import urllib.parse

    parts = urllib.parse.urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(f"GET /ws HTTP/1.1\r\nHost: {parts.netloc}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode())
    ping = struct.pack("!BB", 0x89, 0x80 | 125) + bytes(4) + b"p" * 125  # masked with a zero mask
    burst = ping * 512
    sock.settimeout(0.5)
    while not stop.is_set():
        try:
            sock.send(burst)
        except socket.timeout:
            continue
        except OSError:  # the server closed it
            break
    sock.close()


def slow_upload(url: str, stop: threading.Event) -> None:
    """`POST /predict` announcing 10 MB, then 1 byte per second."""
    import socket
    import urllib.parse

    parts = urllib.parse.urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(f"POST /predict HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: video/mp4\r\n"
                     f"Content-Length: {10 * 2**20}\r\n\r\n".encode())
        while not stop.wait(1.0):
            try:
                sock.sendall(b"\0")
            except OSError:  # answered 408 and closed
                break


def list_uploads(url: str, videos: list[Path], stop: threading.Event, out: dict[str, Any]) -> None:
    """The same 6 KB list of 200 server-side video paths, uploaded as `list.txt` again and again."""
    import urllib.error
    import urllib.request

    body = "".join(f"{videos[i % len(videos)]}\n" for i in range(200)).encode()
    statuses: list[int] = []
    while not stop.is_set():
        request = urllib.request.Request(f"{url}/predict", data=body, method="POST",
                                         headers={"X-Filename": "list.txt", "Content-Type": "text/plain"})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                statuses.append(response.status)
        except urllib.error.HTTPError as error:
            statuses.append(error.code)
        except OSError:
            statuses.append(0)
        stop.wait(0.25)
    out["list_upload_statuses"] = sorted(set(statuses))
    out["list_uploads"] = len(statuses)


def idle_sockets(url: str, count: int, stop: threading.Event, out: dict[str, Any]) -> None:
    """`count` WebSockets from their own loopback addresses (127.0.0.2 ...) that send nothing."""
    from websockets.sync.client import connect

    from movinet.serve.client import ws_url

    import contextlib

    with contextlib.ExitStack() as sockets:
        opened = 0
        for index in range(count):
            try:
                ws = sockets.enter_context(connect(ws_url(url), source_address=(f"127.0.0.{2 + index}", 0),
                                                   open_timeout=10))
                opened += json.loads(ws.recv(timeout=10))["type"] == "hello"
            except (OSError, TimeoutError):
                continue
        out["idle_sockets_open"] = opened
        stop.wait()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def hostile_run(model_file: Path, size: int, seconds: float, hostile: bool, videos: list[Path]) -> dict[str, Any]:
    """4 paced good streams for `seconds` against a default-settings server, with or without the mix."""
    process, url = start_server(model_file, 0)
    stop = threading.Event()
    extra: dict[str, Any] = {}
    background: list[threading.Thread] = []
    try:
        frames = jpeg_frames(size)
        paced_stream(url, frames, 1.0, {})  # warm-up
        rss_before = rss_mb(process.pid)
        if hostile:
            background = [threading.Thread(target=ping_flood, args=(url, stop)),
                          threading.Thread(target=slow_upload, args=(url, stop)),
                          threading.Thread(target=list_uploads, args=(url, videos, stop, extra)),
                          threading.Thread(target=idle_sockets, args=(url, 28, stop, extra))]
            for thread in background:
                thread.start()
            time.sleep(1.0)  # the hostile clients are in before the good streams start
        results = [{} for _ in range(4)]
        streams = [threading.Thread(target=paced_stream, args=(url, frames, seconds, results[i])) for i in range(4)]
        for thread in streams:
            thread.start()
        for thread in streams:
            thread.join()
        rss_after = rss_mb(process.pid)
    finally:
        stop.set()
        for thread in background:
            thread.join(30)
        process.terminate()
        process.wait(30)
    latencies = np.array([value for result in results for value in result["latencies"]]) * 1000
    lost = [reason for result in results for reason in result["lost"]]
    return {"hostile": hostile, "frames": sum(result["sent"] for result in results),
            "p50_ms": round(float(np.percentile(latencies, 50)), 1) if latencies.size else None,
            "p99_ms": round(float(np.percentile(latencies, 99)), 1) if latencies.size else None,
            "max_ms": round(float(latencies.max()), 1) if latencies.size else None,
            "not_classified": len(lost), "reasons": sorted(set(lost)),
            "server_rss_mb": [round(rss_before, 1), round(rss_after, 1)], **extra}


def hostile_main(args: argparse.Namespace) -> None:
    import torch

    torch.set_num_threads(1)
    from movinet.data.video import write_video

    with tempfile.TemporaryDirectory(prefix="movinet-bench-serve-") as folder:
        model_file = make_model(Path(folder), "onnx", args.size)
        rng = np.random.default_rng(0)
        videos = [write_video(Path(folder) / f"server_video_{i}.mp4",
                              rng.integers(0, 256, (50, 240, 320, 3), dtype=np.uint8), 25.0) for i in range(4)]
        load_before = os.getloadavg()[0]
        runs = [hostile_run(model_file, args.size, args.seconds, hostile, videos) for hostile in (False, True)]
    print(f"{MODEL} {args.size}px, onnx, default server settings, 4 good streams paced at the stream rate for "
          f"{args.seconds:g} s; machine load (1-min average) {load_before:.2f} before, {os.getloadavg()[0]:.2f} after, "
          f"on {os.cpu_count()} cores")
    print(f"{'clients':<22} {'frames':>7} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'not classified':>15} "
          f"{'server RSS MB':>15}")
    for run in runs:
        name = "4 good + hostile mix" if run["hostile"] else "4 good streams alone"
        rss = run["server_rss_mb"]
        p50, p99, worst = (run[key] if run[key] is not None else "-" for key in ("p50_ms", "p99_ms", "max_ms"))
        print(f"{name:<22} {run['frames']:>7} {p50:>8} {p99:>8} {worst:>8} "
              f"{run['not_classified']:>15} {rss[0]:>7.0f} -> {rss[1]:<5.0f}")
    hostile = runs[1]
    print(f"hostile side: {hostile.get('idle_sockets_open')} idle sockets held places; "
          f"{hostile.get('list_uploads')} list uploads answered {hostile.get('list_upload_statuses')}; "
          f"reasons of the good frames not classified: {hostile['reasons'] or 'none'}")
    if args.json:
        record = {"scenario": "hostile", "size": args.size, "runs": runs}
        Path(args.json).write_text(json.dumps(record, indent=2) + "\n")


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
    parser.add_argument("--scenario", choices=["throughput", "hostile"], default="throughput",
                        help="throughput: batched vs unbatched; hostile: 4 paced streams beside hostile clients")
    args = parser.parse_args()
    if args.scenario == "hostile":
        hostile_main(args)
        return

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
