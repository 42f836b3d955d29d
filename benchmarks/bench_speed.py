"""The speed table of issue 8: our fastest paths beside the TF Lite and Paddle Inference anchors.

    python benchmarks/bench_speed.py --anchor-python /path/to/anchor-venv/bin/python [--processes 3]

Every figure is a median over `--processes` fresh processes (each: warm-up, then the median of its
timed runs), with the thread count fixed in that process (1 unless the row says 2), on the seed-0
benchmark clip of `../shared/anchors/README.md`. With `--anchor-python` the anchors
(`bench_anchors.py`, run in that benchmark-only venv) are timed in the same sitting and the table
gives our figure as a ratio of theirs. Machines differ from day to day: only the ratios and
figures of one sitting compare; the load average is printed beside them. Never asserted by a test.

Rows: A0 stream per 172x172 frame with the state in and out (PyTorch, ONNX Runtime and, with the
`litert` extra installed, LiteRT fp32 / fp16 / int8 beside the TF Lite fp32 and int8 anchors),
A0 base per 1x50x172x172 clip (1 and
2 threads), achieved GMAC/s of every official model at its native input as a fraction of the fp32
matmul rate measured in the same run, `movinet predict` on a 10-s 640x272 H.264 video (in-process
decode + preprocess + model, and the whole cold process), `movinet stream` frames per second on
a file, and the peak RSS of A0 base on one clip.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from timing import timed  # sibling script: benchmarks/ is on sys.path

REPO = Path(__file__).resolve().parents[1]
ANCHORS = REPO.parent / "shared" / "anchors"
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS")
SIZE, FRAMES = 172, 50
OFFICIAL = [f"movinet_{arch}_{kind}" for kind in ("base", "stream") for arch in ("a0", "a1", "a2", "a3", "a4", "a5")]


# ------------------------------------------------------------------------------------------------
# workers (each runs in a fresh process; prints one RESULT line)


def benchmark_clip() -> Any:
    """The anchors' input: U[0, 1) from default_rng(0), (1, 50, 172, 172, 3) -> (1, 3, 50, 172, 172)."""
    import numpy as np

    clip = np.random.default_rng(0).uniform(0.0, 1.0, (1, FRAMES, SIZE, SIZE, 3)).astype(np.float32)
    return np.ascontiguousarray(clip.transpose(0, 4, 1, 2, 3))


def torch_model(name: str, form: str, threads: int):
    import torch

    import movinet
    from movinet.process import keep_freed_memory

    torch.set_num_threads(threads)
    keep_freed_memory()  # as the command line does for the commands that run a model (movinet/process.py)
    model = movinet.create_model(name).eval()
    return movinet.optimize_for_inference(model) if form == "fast" else model


def ort_session(path: str, threads: int):
    from movinet.inference.backends.onnx import onnx_session_options

    import onnxruntime as ort

    return ort.InferenceSession(path, onnx_session_options(threads), providers=["CPUExecutionProvider"])


def work_matmul(args: argparse.Namespace) -> dict[str, float]:
    import torch

    torch.set_num_threads(args.threads)
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    seconds = statistics.median(timed(lambda: a @ b, 7, 2))
    return {"gmacs_per_s": 2048 ** 3 / seconds / 1e9}


def work_stream_torch(args: argparse.Namespace) -> dict[str, float]:
    import torch

    model = torch_model(args.model, args.form, args.threads)
    height = width = args.size
    frames = torch.from_numpy(benchmark_clip()) if args.size == SIZE else torch.rand(1, 3, FRAMES, height, width)
    state = model.init_state(1, height, width)
    steps = [frames[:, :, t % FRAMES:t % FRAMES + 1] for t in range(args.steps)]
    times = []
    with torch.inference_mode():
        for t, clip in enumerate(steps):
            start = time.perf_counter()
            _, state = model.stream_step(clip, state)
            times.append(time.perf_counter() - start)
    return {"seconds": statistics.median(times[min(10, len(times) // 2):])}


def work_stream_ort(args: argparse.Namespace) -> dict[str, float]:
    import numpy as np

    session = ort_session(args.onnx, args.threads)
    meta = json.loads(Path(args.onnx).with_suffix(".json").read_text())
    feeds = {s["input"]: np.zeros(s["shape"], dtype=s["dtype"]) for s in meta["states"]}
    outputs = [s["output"] for s in meta["states"]]
    size = meta["input_size"]["height"]
    clip = benchmark_clip() if size == SIZE else np.random.default_rng(0).random((1, 3, FRAMES, size, size), np.float32)
    times = []
    for t in range(args.steps):
        frame = np.ascontiguousarray(clip[:, :, t % FRAMES:t % FRAMES + 1])
        start = time.perf_counter()
        result = session.run(["logits", *outputs], {"video": frame, **feeds})
        times.append(time.perf_counter() - start)
        feeds = {s["input"]: value for s, value in zip(meta["states"], result[1:])}
    return {"seconds": statistics.median(times[10:])}


def work_stream_litert(args: argparse.Namespace) -> dict[str, float]:
    """A `.tflite` stream step in ai-edge-litert (XNNPACK), state fed back, no torch."""
    import numpy as np

    from movinet.inference.backends.litert import signature_runner

    meta = json.loads(Path(args.tflite).with_suffix(".json").read_text())
    runner = signature_runner(args.tflite, meta["signature"], args.threads)
    feeds = {s["input"]: np.zeros(s["shape"], dtype=s["dtype"]) for s in meta["states"]}
    frames = np.ascontiguousarray(benchmark_clip().transpose(0, 2, 3, 4, 1))  # (1, 50, 172, 172, 3)
    times = []
    for t in range(args.steps):
        frame = frames[:, t % FRAMES:t % FRAMES + 1]
        start = time.perf_counter()
        out = runner(video=frame, **feeds)
        times.append(time.perf_counter() - start)
        feeds = {s["input"]: out[s["output"]] for s in meta["states"]}
    return {"seconds": statistics.median(times[10:])}


def work_base_torch(args: argparse.Namespace) -> dict[str, float]:
    import torch

    model = torch_model(args.model, args.form, args.threads)
    frames = FRAMES if args.size == SIZE else args.frames
    video = (torch.from_numpy(benchmark_clip()) if args.size == SIZE and frames == FRAMES
             else torch.rand(1, 3, frames, args.size, args.size))
    with torch.inference_mode():
        times = timed(lambda: model(video), args.runs)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB -> MiB on Linux
    return {"seconds": statistics.median(times), "peak_rss_mib": peak}


def work_base_ort(args: argparse.Namespace) -> dict[str, float]:
    session = ort_session(args.onnx, args.threads)
    video = benchmark_clip()
    times = timed(lambda: session.run(["logits"], {"video": video}), args.runs)
    return {"seconds": statistics.median(times)}


def work_predict(args: argparse.Namespace) -> dict[str, float]:
    from movinet.inference.backends.onnx import OnnxPredictor
    from movinet.inference.predict import predict_files

    predictor = OnnxPredictor(args.onnx, num_threads=args.threads)
    predict_files(args.video, predictor, progress=False)  # warm-up
    rows = []
    for _ in range(args.runs):
        [result] = predict_files(args.video, predictor, progress=False)
        rows.append(result.timings)
    out = {key: statistics.median(r[key] for r in rows) for key in ("decode", "preprocess", "model")}
    out["seconds"] = statistics.median(sum(r.values()) for r in rows)
    out["torch_imported"] = float("torch" in sys.modules)
    return out


def work_stream_file(args: argparse.Namespace) -> dict[str, float]:
    from movinet.inference.backends.onnx import OnnxPredictor
    from movinet.inference.stream import run_stream

    predictor = OnnxPredictor(args.onnx, num_threads=args.threads)
    run_stream(args.video, predictor=predictor, print_every=0, max_frames=5)  # warm-up
    start = time.perf_counter()
    summary = run_stream(args.video, predictor=predictor, print_every=0)
    wall = time.perf_counter() - start
    return {"frames": summary.frames, "wall_s": wall, "fps": summary.frames / wall}


def work_export(args: argparse.Namespace) -> dict[str, float]:
    import torch

    import movinet
    from movinet.export.onnx import export_onnx

    torch.set_num_threads(args.threads)
    model = movinet.create_model(args.model).eval()
    result = export_onnx(model, args.workdir, model_name=args.model, verify=False)
    return {"path": str(result.onnx_path)}  # type: ignore[dict-item]


def work_export_litert(args: argparse.Namespace) -> dict[str, float]:
    """A0 stream (random weights) to `.tflite` in `args.precision`; int8 calibrated frame by frame
    on three random clips (seeds 1-3, not the benchmark's seed 0), as the int8 anchor was."""
    import numpy as np
    import torch

    import movinet
    from movinet.export.litert import export_litert

    torch.set_num_threads(args.threads)
    model = movinet.create_model(args.model).eval()
    clips = [np.random.default_rng(seed).random((3, FRAMES, SIZE, SIZE), np.float32) for seed in (1, 2, 3)]
    result = export_litert(model, args.workdir, model_name=args.model, precision=args.precision,
                           calibration=clips if args.precision == "int8" else None, verify=False)
    return {"path": str(result.model_path)}  # type: ignore[dict-item]


WORKERS = {"matmul": work_matmul, "stream_torch": work_stream_torch, "stream_ort": work_stream_ort,
           "stream_litert": work_stream_litert, "base_torch": work_base_torch, "base_ort": work_base_ort,
           "predict": work_predict, "stream_file": work_stream_file, "export": work_export,
           "export_litert": work_export_litert}


# ------------------------------------------------------------------------------------------------
# the driver


def cpu_description() -> str:
    """The CPU model and the vector extensions that decide kernel speed (AVX2, AVX-512, VNNI)."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine()
    model = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")), "?")
    flags = next((line.split(":", 1)[1].split() for line in info.splitlines() if line.startswith("flags")), [])
    wanted = ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_int8")
    return f"{model} [{' '.join(flag for flag in wanted if flag in flags)}]"


def litert_available() -> bool:
    """The `litert` extra (converter, runtime, quantizer) is installed: the LiteRT rows can run."""
    import importlib.util

    return all(importlib.util.find_spec(name) for name in ("litert_torch", "ai_edge_litert", "ai_edge_quantizer"))


def run_worker(kind: str, threads: int = 1, **options: Any) -> dict[str, Any]:
    """One fresh process of `kind` with `threads` threads in every pool."""
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", kind, "--threads", str(threads)]
    for key, value in options.items():
        command += [f"--{key}", str(value)]
    env = dict(os.environ, PYTHONPATH=str(REPO), **{var: str(threads) for var in THREAD_VARS})
    proc = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"worker {kind} {options} failed: {(proc.stderr or proc.stdout).strip()[-2000:]}")
    return json.loads(lines[-1][len("RESULT "):])


def median_of(processes: int, kind: str, key: str = "seconds", **options: Any) -> float:
    return statistics.median(run_worker(kind, **options)[key] for _ in range(processes))


def run_anchors(python: str) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "anchors.json"
        proc = subprocess.run([python, str(ANCHORS / "bench_anchors.py"), "--which", "tflite,tflite_int8,paddle",
                               "--json", str(out)], capture_output=True, text=True)
        if proc.returncode != 0 or not out.exists():
            raise RuntimeError(f"anchors failed: {proc.stdout[-1000:]} {proc.stderr[-1000:]}")
        results = json.loads(out.read_text())

    def median(words: str) -> float | None:
        return next((r["median_s"] for r in results if r["anchor"].startswith(words)), None)

    return {"tflite_frame_s": median("TF Lite float32"), "tflite_int8_frame_s": median("TF Lite int8"),
            "paddle_clip_s": median("Paddle")}


def make_video(path: Path) -> Path:
    """10 s, 25 fps, 640x272 H.264 (libx264 crf 18, ~0.7 Mbit/s, like web video of that size),
    written with PyAV: a drifting smooth background and three moving textured boxes."""
    import numpy as np

    from movinet.data.video import write_video

    height, width = 272, 640
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    rng = np.random.default_rng(0)
    texture = np.kron(rng.integers(0, 256, (height // 4, width // 4, 3)).astype(np.float32), np.ones((4, 4, 1)))

    def frames():
        for t in range(250):
            frame = 128 + 60 * (np.sin((xx + 4 * t) / 40.0) * np.cos((yy - 2 * t) / 30.0))[..., None]
            frame = frame + np.array([0.0, 30.0, -30.0])
            moved = np.roll(texture, 3 * t, axis=1)
            for k in range(3):
                left = int((100 + 150 * k + 6 * t * (k + 1)) % (width - 120))
                top = int(60 + 40 * k + 20 * np.sin(t / 10 + k))
                frame[top:top + 100, left:left + 120] = moved[top:top + 100, left:left + 120] * 0.6 + 50
            yield np.clip(frame, 0, 255).astype(np.uint8)

    return write_video(path, frames(), 25.0, codec="libx264", options={"crf": "18"})


def cold_predict_seconds(video: Path, onnx: Path, threads: int) -> float:
    """Wall time of one whole `movinet predict` process (imports, session, decode, model, print)."""
    command = [sys.executable, "-m", "movinet", "predict", "--input_file", str(video), "--model_file", str(onnx),
               "--cpu_threads", str(threads)]
    env = dict(os.environ, PYTHONPATH=str(REPO), **{var: str(threads) for var in THREAD_VARS})
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, env=env, cwd=REPO)
    return time.perf_counter() - start


def macs(name: str, frames: int, size: int) -> int:
    import torch

    from movinet.models.registry import build_model, get_model_info
    from movinet.models.summary import count_macs

    with torch.device("meta"):
        model = build_model(get_model_info(name))
    return count_macs(model, frames, size, size)


class Table:
    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def add(self, work: str, ours: float, unit: str, *, anchor: float | None = None, ratio: float | None = None,
            target: str = "", met: bool | None = None, note: str = "") -> None:
        row = {"work": work, "ours": ours, "unit": unit, "anchor": anchor, "ratio": ratio, "target": target,
               "met": met, "note": note, "load": os.getloadavg()[0]}
        self.rows.append(row)
        print(self.format_row(row), flush=True)

    @staticmethod
    def format_row(row: dict[str, Any]) -> str:
        anchor = "" if row["anchor"] is None else f"{row['anchor']:.4g}"
        ratio = "" if row["ratio"] is None else f"{row['ratio']:.2f}"
        met = {True: "yes", False: "NO", None: ""}[row["met"]]
        return (f"| {row['work']} | {row['ours']:.4g} {row['unit']} | {anchor} | {ratio} | {row['target']} | {met} "
                f"| {row['load']:.1f} | {row['note']} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--anchor-python", help="python of the benchmark-only venv with ai-edge-litert and "
                                                "paddlepaddle (see ../shared/anchors/README.md)")
    parser.add_argument("--processes", type=int, default=3, help="fresh processes per figure (median)")
    parser.add_argument("--skip-zoo", action="store_true", help="leave out the A0-A5 GMAC/s rows (minutes)")
    parser.add_argument("--json", help="also write the table to this JSON file")
    # worker arguments
    parser.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--model", default="movinet_a0_base", help=argparse.SUPPRESS)
    parser.add_argument("--form", default="fast", help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, default=SIZE, help=argparse.SUPPRESS)
    parser.add_argument("--frames", type=int, default=FRAMES, help=argparse.SUPPRESS)
    parser.add_argument("--steps", type=int, default=60, help=argparse.SUPPRESS)
    parser.add_argument("--runs", type=int, default=5, help=argparse.SUPPRESS)
    parser.add_argument("--onnx", help=argparse.SUPPRESS)
    parser.add_argument("--tflite", help=argparse.SUPPRESS)
    parser.add_argument("--precision", default="fp32", help=argparse.SUPPRESS)
    parser.add_argument("--video", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print("RESULT " + json.dumps(WORKERS[args.worker](args)), flush=True)
        return

    p = args.processes
    print(f"# {cpu_description()}, {os.cpu_count()} CPUs, python {platform.python_version()}, "
          f"load {os.getloadavg()[0]:.1f} at start")
    print("| work | ours | anchor | ratio | target | met | load | note |\n|---|---|---|---|---|---|---|---|")
    table = Table()
    anchors = run_anchors(args.anchor_python) if args.anchor_python else {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        base_onnx = run_worker("export", 2, model="movinet_a0_base", workdir=work)["path"]
        stream_onnx = run_worker("export", 2, model="movinet_a0_stream", workdir=work)["path"]
        matmul = median_of(p, "matmul", "gmacs_per_s")
        table.add("fp32 matmul 2048², 1 thread", matmul, "GMAC/s", note="torch.mm; the rate the zoo rows divide by")

        tflite, tflite_int8 = anchors.get("tflite_frame_s"), anchors.get("tflite_int8_frame_s")
        frame = {"PyTorch, inference form": median_of(p, "stream_torch", model="movinet_a0_stream", form="fast"),
                 "ONNX Runtime, exported inference form": median_of(p, "stream_ort", onnx=stream_onnx),
                 "PyTorch, training form": median_of(p, "stream_torch", model="movinet_a0_stream", form="train")}
        if litert_available():
            for precision in ("fp32", "fp16", "int8"):
                tflite_file = run_worker("export_litert", 2, model="movinet_a0_stream", precision=precision,
                                         workdir=work)["path"]
                frame[f"LiteRT {precision}"] = median_of(p, "stream_litert", tflite=tflite_file)
        for path, seconds in frame.items():
            ratio = seconds / tflite if tflite else None
            limit = 0.5 if "int8" in path else 1.0
            table.add(f"A0 stream, one 172² frame, state in/out, 1 thread: {path}", seconds * 1e3, "ms",
                      anchor=None if tflite is None else tflite * 1e3, ratio=ratio,
                      target=f"≤ {limit}× TF Lite fp32", met=None if ratio is None else ratio <= limit)
        if tflite_int8 and "LiteRT int8" in frame:
            ratio = frame["LiteRT int8"] / tflite_int8
            table.add("A0 stream int8 step vs the int8 anchor (TF Lite, everything int8), 1 thread",
                      frame["LiteRT int8"] * 1e3, "ms", anchor=tflite_int8 * 1e3, ratio=ratio,
                      target="≤ 1.0× int8 anchor", met=ratio <= 1.0)

        paddle = anchors.get("paddle_clip_s")
        clip = {"PyTorch, inference form": median_of(p, "base_torch", model="movinet_a0_base", form="fast"),
                "ONNX Runtime, exported inference form": median_of(p, "base_ort", onnx=base_onnx),
                "PyTorch, training form": median_of(p, "base_torch", model="movinet_a0_base", form="train", runs=3)}
        for path, seconds in clip.items():
            ratio = seconds / paddle if paddle else None
            table.add(f"A0 base, 1×3×50×172² clip, 1 thread: {path}", seconds, "s", anchor=paddle, ratio=ratio,
                      target="≤ 0.4× Paddle Inference", met=None if ratio is None else ratio <= 0.4)
        best_path = min(("PyTorch, inference form", "ONNX Runtime, exported inference form"), key=clip.get)
        two = (median_of(p, "base_torch", threads=2, model="movinet_a0_base", form="fast")
               if best_path.startswith("PyTorch") else median_of(p, "base_ort", threads=2, onnx=base_onnx))
        table.add(f"A0 base, 2 threads: {best_path}", two, "s", ratio=clip[best_path] / two,
                  target="≥ 1.6× our 1-thread figure", met=clip[best_path] / two >= 1.6, note="ratio = speed-up")

        if not args.skip_zoo:
            from movinet.models.registry import get_model_info

            for name in OFFICIAL:
                frames, size, _ = get_model_info(name).input_size
                stream = name.endswith("stream")
                path = "PyTorch inference form"
                if stream:
                    seconds = median_of(1, "stream_torch", model=name, form="fast", size=size, steps=20)
                    graph = run_worker("export", 2, model=name, workdir=work)["path"]
                    onnx_seconds = median_of(1, "stream_ort", onnx=graph, steps=30)
                    if onnx_seconds < seconds:
                        seconds, path = onnx_seconds, "ONNX Runtime"
                    work_macs = macs(name, 1, size)
                else:
                    seconds = median_of(1, "base_torch", model=name, form="fast", size=size, frames=frames, runs=1)
                    work_macs = macs(name, frames, size)
                rate = work_macs / seconds / 1e9
                what = f"one {size}² frame" if stream else f"{frames}×{size}²"
                table.add(f"{name} at {what}, {path}, 1 thread", rate, "GMAC/s", ratio=rate / matmul,
                          target="≥ 0.30 of matmul", met=rate / matmul >= 0.30,
                          note=f"{work_macs / 1e9:.3g} GMAC in {seconds * 1e3:.4g} ms")

        video = make_video(work / "ten_seconds_640x272.mp4")
        predict = [run_worker("predict", 2, onnx=base_onnx, video=video, runs=3) for _ in range(p)]
        in_process = statistics.median(r["seconds"] for r in predict)
        parts = {k: statistics.median(r[k] for r in predict) for k in ("decode", "preprocess", "model")}
        table.add("predict A0 base ONNX, 10-s 640×272 H.264, 2 threads, in-process", in_process, "s",
                  target="≤ 0.35 s", met=in_process <= 0.35,
                  note=", ".join(f"{k} {v:.3f}" for k, v in parts.items())
                  + ("; torch imported" if any(r["torch_imported"] for r in predict) else "; no torch imported"))
        cold = statistics.median(cold_predict_seconds(video, Path(base_onnx), 2) for _ in range(p))
        table.add("movinet predict, whole cold process, 2 threads", cold, "s", target="≤ 1.0 s", met=cold <= 1.0)
        fps = median_of(p, "stream_file", key="fps", onnx=stream_onnx, video=video)
        table.add("movinet stream on the file, A0 stream ONNX 172², 1 thread, end to end", fps, "frames/s",
                  target="≥ 100", met=fps >= 100, note="decode, resample to 5 fps, step")
        rss = run_worker("base_torch", 1, model="movinet_a0_base", form="fast", runs=1)["peak_rss_mib"]
        table.add("peak RSS, A0 base inference form, one 50×172² clip", rss, "MiB", target="≤ 1024 MiB",
                  met=rss <= 1024)
    if args.json:
        Path(args.json).write_text(json.dumps({"anchors": anchors, "rows": table.rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
