"""The one GPU check: install the carried wheels, run the `cuda` tests, measure, write one table.

    python benchmarks/gpu_check.py --wheels gpu_wheels --out "$OUT"     # on the GPU machine
    python benchmarks/gpu_check.py --smoke --out /tmp/gpu_check          # anywhere, CPU, seconds

Writes to `--out` (default `$OUT`, else ./gpu_check_out): `gpu_check.md` (the table), `gpu_check.json`
(every row), `cuda_tests.txt` (the pytest output). Rows:
  * training clips/s and peak memory: A0 base at 50x172² and A0 stream, fp32 vs bf16, channels-last
    on/off, torch.compile on/off, batch 8/32/64 (the engine's own `train_one_epoch` step on batches
    already on the device, so the model is measured, not the data);
  * inference clips/s: A0 base (inference form) at batch 1/16/64, fp32 and bf16;
  * batched stream steps: A0 stream (inference form), batch 1/64/256/1024: frames/s, and the live
    5-fps streams that rate holds; once for the model step alone and once through
    `ServedModel.step_batch` (the server's concatenation and split of per-stream states);
  * the data loader: clips/s of the training loader with 16 workers over generated H.264 videos,
    against the best A0 base training rate (does decoding starve the GPU?).
Each row past `--budget-s` is written as skipped, so one run always ends with a table. A row that
runs out of GPU memory says "OOM". `--smoke` runs every measurement on the CPU with tiny sizes
(CI runs it, so the script cannot rot); its numbers mean nothing.

The GPU machine has torch, numpy, onnx, onnxruntime and pytest but no PyAV, starlette, uvicorn or
websockets: download their wheels here for its Python 3.12 / manylinux x86_64 and carry the folder
(`gpu_wheels/` is git-ignored):

    pip download --only-binary=:all: --no-deps --python-version 3.12 \\
        --platform manylinux2014_x86_64 --platform manylinux_2_28_x86_64 -d gpu_wheels \\
        av starlette uvicorn websockets anyio h11 sniffio idna typing_extensions click \\
        python-multipart pillow matplotlib contourpy cycler fonttools kiwisolver packaging \\
        pyparsing python-dateutil six

`--wheels DIR` installs every wheel in DIR with `pip install --no-index --find-links DIR` (no
network) before anything imports them; torch itself is never installed from there.

Time: the tests get at most `--tests-timeout-s` (150), the measurements `--budget-s` (330; a
torch.compile row starts only with 120 s left), so one run ends within the device's 10-minute
command limit with room to spare; a second try can add `--skip-tests`. The wheels above come to
about 60 MB (PyAV 35 MB): they and the source tree fit a 64 MiB carry.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
STREAM_FPS = 5.0
COMPILE_NEEDS_S = 120.0  # budget a torch.compile row needs left to start (inductor on A0: minutes)


@dataclass(frozen=True)
class Sizes:
    """What one run measures; `FULL` on the GPU, `SMOKE` on a CPU in seconds."""

    frames: int
    size: int
    train_batches: tuple[int, ...]
    infer_batches: tuple[int, ...]
    stream_batches: tuple[int, ...]
    timed_steps: int
    videos: int
    video_frames: int
    video_size: int
    loader_workers: int
    loader_batch: int
    list_repeats: int  # the training list names each video this many times: batches enough for the workers


FULL = Sizes(frames=50, size=172, train_batches=(8, 32, 64), infer_batches=(1, 16, 64),
             stream_batches=(1, 64, 256, 1024), timed_steps=5, videos=96, video_frames=60, video_size=256,
             loader_workers=16, loader_batch=8, list_repeats=4)
SMOKE = Sizes(frames=4, size=32, train_batches=(2,), infer_batches=(1,), stream_batches=(1, 3), timed_steps=1,
              videos=4, video_frames=6, video_size=40, loader_workers=0, loader_batch=2, list_repeats=1)


@dataclass
class Row:
    """One measurement; `value` None when skipped or failed (`note` says why)."""

    section: str
    setting: str
    value: float | None = None
    unit: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    note: str = ""


class Budget:
    """Seconds left for measuring; rows after the end are written as skipped."""

    def __init__(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds

    def left(self) -> float:
        return self.deadline - time.monotonic()


# -- setup ---------------------------------------------------------------------------------------


def install_wheels(folder: Path) -> str:
    """pip-install every wheel of `folder` without network; returns pip's last lines."""
    wheels = sorted(str(path) for path in folder.glob("*.whl") if not path.name.startswith("torch-"))
    if not wheels:
        return f"no wheels in {folder}"
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--no-index", "--find-links", str(folder),
                           "--no-deps", *wheels], capture_output=True, text=True)
    tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-3:])
    if done.returncode != 0:
        raise SystemExit(f"gpu_check: installing the wheels of {folder} failed:\n{tail}")
    return tail


def run_cuda_tests(out: Path, smoke: bool, timeout: float) -> Row:
    """`pytest -m cuda` (collect-only in smoke mode); its output goes to cuda_tests.txt."""
    command = [sys.executable, "-m", "pytest", "-m", "cuda", "-q", "-rs", "-p", "no:cacheprovider"]
    command += [str(ROOT / "tests" / "test_cuda.py"), "--collect-only"] if smoke else [str(ROOT / "tests")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    try:
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
        output, code = done.stdout + done.stderr, done.returncode
    except subprocess.TimeoutExpired as error:
        output, code = f"{error.stdout or ''}\n(timed out after {timeout:.0f} s)", -1
    (out / "cuda_tests.txt").write_text(output if isinstance(output, str) else output.decode())
    summary = next((line for line in reversed(output.splitlines()) if line.strip()), "")
    return Row("cuda tests", "pytest -m cuda" + (" --collect-only" if smoke else ""), float(code), "exit code",
               note=summary.strip("= "))


# -- measurements --------------------------------------------------------------------------------


def synchronize(device: Any) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def reset_peak(device: Any) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def peak_gib(device: Any) -> float | None:
    import torch

    return torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None


def guarded(section: str, setting: str, budget: Budget, measure: Callable[[], Row], need_s: float = 0.0) -> Row:
    """Run one measurement if `need_s` seconds of the budget are left: "OOM" or the error's first
    line on failure."""
    import torch

    if budget.left() <= need_s:
        return Row(section, setting, note="skipped: time budget spent")
    try:
        return measure()
    except torch.OutOfMemoryError:
        return Row(section, setting, note="OOM")
    except Exception as error:  # a failed row must not lose the others
        return Row(section, setting, note=f"failed: {type(error).__name__}: {str(error).splitlines()[0][:200]}")
    finally:
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def train_rate(model_name: str, sizes: Sizes, batch: int, device: Any, *, bf16: bool, channels_last: bool,
               compiled: bool) -> Row:
    """Clips/s of the engine's training step (RMSProp, as the recipes) on batches already on the device."""
    import torch

    from movinet.engine.config import ModelConfig, OptimizerConfig
    from movinet.engine.optim import build_optimizer
    from movinet.engine.performance import maybe_compile
    from movinet.engine.train import LoopPlan, StepSettings, TrainState, build_model, train_one_epoch

    reset_peak(device)
    model = build_model(ModelConfig(name=model_name, num_classes=600), 600).to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last_3d)
    optimizer = build_optimizer(model, OptimizerConfig(name="rmsprop"), lr=0.01)
    stepped = maybe_compile(model, compiled)  # what train.compile does
    video = torch.rand(batch, 3, sizes.frames, sizes.size, sizes.size, device=device)
    batch_item = {"video": video, "label": torch.arange(batch, device=device) % 600}
    settings = StepSettings(device=device, amp_dtype=torch.bfloat16 if bf16 else None, channels_last=channels_last)
    scaler = torch.amp.GradScaler(device.type, enabled=False)

    def steps(count: int) -> float:
        plan = LoopPlan(micro_steps_per_epoch=count, steps_per_epoch=count, total_steps=count, epochs=1,
                        accumulate_steps=1)
        synchronize(device)
        started = time.perf_counter()
        train_one_epoch(stepped, [batch_item] * count, optimizer, lambda _: 0.01, scaler, settings, TrainState(),
                        plan=plan)
        synchronize(device)
        return time.perf_counter() - started

    warmup_s = steps(2 if device.type == "cuda" else 1)  # cuDNN's algorithm search, compilation
    seconds = steps(sizes.timed_steps)
    setting = (f"{model_name} {sizes.frames}x{sizes.size}² batch {batch}, {'bf16' if bf16 else 'fp32'}, "
               f"channels-last {'on' if channels_last else 'off'}, compile {'on' if compiled else 'off'}")
    return Row("training", setting, batch * sizes.timed_steps / seconds, "clips/s",
               {"peak_gib": peak_gib(device), "warmup_s": round(warmup_s, 2), "model": model_name, "batch": batch,
                "bf16": bf16, "channels_last": channels_last, "compile": compiled})


def inference_rate(sizes: Sizes, batch: int, device: Any, *, bf16: bool) -> Row:
    """Clips/s of A0 base in its inference form (what predict/test/export run)."""
    import contextlib

    import torch

    import movinet

    model = movinet.optimize_for_inference(movinet.create_model("movinet_a0_base").eval().to(device))
    video = torch.rand(batch, 3, sizes.frames, sizes.size, sizes.size, device=device)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
    reset_peak(device)

    def run(count: int) -> float:
        synchronize(device)
        started = time.perf_counter()
        with torch.inference_mode(), autocast:
            for _ in range(count):
                model(video)
        synchronize(device)
        return time.perf_counter() - started

    run(1)
    seconds = run(sizes.timed_steps)
    precision = "bf16" if bf16 else "fp32" + (" (TF32 convs)" if device.type == "cuda" else "")
    return Row("inference", f"movinet_a0_base {sizes.frames}x{sizes.size}², batch {batch}, {precision}",
               batch * sizes.timed_steps / seconds, "clips/s",
               {"peak_gib": peak_gib(device), "batch": batch, "bf16": bf16})


def stream_rate(sizes: Sizes, batch: int, device: Any, *, through_server: bool) -> Row:
    """Frames/s of one batched A0 stream step, and the 5-fps streams that holds."""
    import numpy as np
    import torch

    import movinet
    from movinet.data.preprocessing import Preprocessing
    from movinet.inference import TorchPredictor
    from movinet.serve.model import ServedModel

    model = movinet.create_model("movinet_a0_stream").eval()
    prep = Preprocessing(frames=1, height=sizes.size, width=sizes.size, resize=sizes.size)
    served = ServedModel(TorchPredictor.from_model(model, "movinet_a0_stream", device=str(device),
                                                   preprocessing=prep), fps=STREAM_FPS)
    steps = max(sizes.timed_steps, 3)
    if through_server:
        clips = [np.random.default_rng(i).random((3, 1, sizes.size, sizes.size), dtype=np.float32)
                 for i in range(batch)]
        states = [served.new_state() for _ in range(batch)]

        def one() -> None:
            nonlocal states
            _, states = served.step_batch(clips, states)
    else:
        predictor = served.predictor
        frame = torch.rand(batch, 3, 1, sizes.size, sizes.size, device=device)
        state = predictor.init_state(batch)

        def one() -> None:
            nonlocal state
            _, state = predictor.step(frame, state)
    reset_peak(device)
    one()
    synchronize(device)
    started = time.perf_counter()
    for _ in range(steps):
        one()
    synchronize(device)
    frames_per_s = batch * steps / (time.perf_counter() - started)
    where = "ServedModel.step_batch (states concatenated and split)" if through_server else "model step alone"
    return Row("stream", f"movinet_a0_stream {sizes.size}², batch {batch}, {where}", frames_per_s, "frames/s",
               {"streams_at_5fps": int(frames_per_s // STREAM_FPS), "peak_gib": peak_gib(device), "batch": batch,
                "through_server": through_server})


def loader_rate(sizes: Sizes, device: Any, work: Path) -> Row:
    """Clips/s of the engine's training loader over generated H.264 videos (decode + augment)."""
    import dataclasses

    from movinet.data import datasets
    from movinet.data.synthetic import make_motion_dataset
    from movinet.engine.config import Config
    from movinet.engine.distributed import DistInfo
    from movinet.engine.loaders import train_loader_for_epoch

    made = make_motion_dataset(work / "videos", num_classes=6, videos_per_class=max(1, sizes.videos // 6),
                               val_videos_per_class=0, num_frames=sizes.video_frames, size=sizes.video_size,
                               layout="videos")
    root = Path(str(made["root"]))
    lines = (root / str(made["train_list"])).read_text().splitlines()
    (root / "repeated.txt").write_text("".join(f"{line}\n" for line in lines * sizes.list_repeats))
    cfg = Config()
    data = dataclasses.replace(
        cfg.data, format="videos", root=str(root), train_list="repeated.txt",
        labels_file=str(made["labels_file"]), batch_size=sizes.loader_batch, num_workers=sizes.loader_workers,
        sampling=dataclasses.replace(cfg.data.sampling, num_frames=sizes.frames),
        transform=dataclasses.replace(cfg.data.transform, short_size=round(sizes.size * 192 / 172),
                                      crop_size=sizes.size))
    cfg = dataclasses.replace(cfg, data=data)
    dataset = datasets.build_dataset(data, "train", num_classes=6, seed=0)
    loader = train_loader_for_epoch(dataset, cfg, DistInfo(device=device), 0, 0)
    started, first, clips = time.perf_counter(), None, 0
    for batch in loader:
        if first is None:
            first = time.perf_counter()  # worker start-up and the first batch are not the steady rate
            continue
        clips += batch["video"].shape[0]
    steady = clips / max(time.perf_counter() - (first or started), 1e-9)
    source = f"{len(lines)} H.264 videos ({sizes.video_frames} frames, {sizes.video_size}²)"
    return Row("loader", f"training loader, {sizes.loader_workers} workers, batch {sizes.loader_batch}, "
               f"{len(dataset)} clips of {source} -> {sizes.frames}x{sizes.size}²", steady, "clips/s",
               {"startup_s": round((first or started) - started, 2), "workers": sizes.loader_workers})


# -- the run -------------------------------------------------------------------------------------


def training_grid(sizes: Sizes, smoke: bool) -> list[tuple[str, int, bool, bool, bool]]:
    """(model, batch, bf16, channels_last, compile): precision x layout at the middle batch, then the
    batch sweep and torch.compile on the default combination (bf16 + channels-last). The smoke run
    takes one row of each kind and leaves compilation out (minutes on a CPU; `train.compile` itself
    is unit-tested)."""
    middle = sizes.train_batches[len(sizes.train_batches) // 2]
    if smoke:
        return [("movinet_a0_base", middle, False, False, False), ("movinet_a0_stream", middle, True, True, False)]
    grid = []
    for model in ("movinet_a0_base", "movinet_a0_stream"):
        grid += [(model, middle, bf16, cl, False) for bf16 in (False, True) for cl in (False, True)]
        grid += [(model, batch, True, True, False) for batch in sizes.train_batches if batch != middle]
        grid.append((model, middle, True, True, True))
    return grid


def measure_all(sizes: Sizes, device: Any, budget: Budget, work: Path, smoke: bool) -> list[Row]:
    """Every row, printed as it is measured; the torch.compile rows last, and only while
    COMPILE_NEEDS_S of the budget is left (a compilation cannot be interrupted)."""
    plans: list[tuple[str, str, Callable[[], Row], float]] = []
    later = []
    for model, batch, bf16, cl, compiled in training_grid(sizes, smoke):
        plan = ("training", f"{model} batch {batch} bf16={bf16} channels_last={cl} compile={compiled}",
                functools.partial(train_rate, model, sizes, batch, device, bf16=bf16, channels_last=cl,
                                  compiled=compiled), COMPILE_NEEDS_S if compiled else 0.0)
        (later if compiled else plans).append(plan)
    plans += [("inference", f"batch {batch} bf16={bf16}", functools.partial(inference_rate, sizes, batch, device,
                                                                            bf16=bf16), 0.0)
              for batch in sizes.infer_batches for bf16 in (False, True)]
    plans += [("stream", f"batch {batch} server={server}", functools.partial(stream_rate, sizes, batch, device,
                                                                             through_server=server), 0.0)
              for batch in sizes.stream_batches for server in (False, True)]
    plans.append(("loader", "training loader", functools.partial(loader_rate, sizes, device, work), 0.0))
    rows = []
    for section, setting, measure, need_s in plans + later:
        rows.append(guarded(section, setting, budget, measure, need_s))
        print(format_row(rows[-1]), flush=True)
    return rows


def loader_verdict(rows: list[Row]) -> str:
    """Does decoding keep up with the fastest A0 base training step measured?"""
    loader = next((r for r in rows if r.section == "loader" and r.value), None)
    train = [r for r in rows if r.section == "training" and r.value and r.extra.get("model") == "movinet_a0_base"]
    if loader is None or not train:
        return "loader vs training: not measured"
    best = max(train, key=lambda r: r.value)
    ratio = loader.value / best.value
    if ratio >= 1:
        return (f"loader {loader.value:.1f} clips/s >= training {best.value:.1f} clips/s ({ratio:.2f}x): "
                "decoding keeps up")
    return (f"loader {loader.value:.1f} clips/s < training {best.value:.1f} clips/s ({ratio:.2f}x): decoding starves "
            f"the GPU by {1 - ratio:.0%}; closing it needs pre-extracted frames (`movinet prepare frames`, "
            "data.format frames) or a GPU decoder")


def format_row(row: Row) -> str:
    value = f"{row.value:.4g} {row.unit}" if row.value is not None else "-"
    extra = ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in row.extra.items()
                      if k in ("peak_gib", "streams_at_5fps", "warmup_s", "startup_s") and v is not None)
    return f"| {row.section} | {row.setting} | {value} | {extra} | {row.note} |"


def device_description(device: Any) -> str:
    import torch

    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        memory = props.total_memory / 2**30
        return f"{props.name} ({memory:.0f} GiB), torch {torch.__version__}, CUDA {torch.version.cuda}"
    return f"CPU ({platform.processor() or platform.machine()}, {os.cpu_count()} cores), torch {torch.__version__}"


def write_report(out: Path, rows: list[Row], header: dict[str, Any]) -> Path:
    lines = [f"# movinet GPU check{' (SMOKE: CPU, tiny sizes, the numbers mean nothing)' if header['smoke'] else ''}",
             "", f"Device: {header['device']}", f"Date: {header['date']}", "",
             "| section | setting | value | details | note |", "|---|---|---|---|---|",
             *(format_row(row) for row in rows), "", header["loader_verdict"], ""]
    (out / "gpu_check.md").write_text("\n".join(lines))
    (out / "gpu_check.json").write_text(json.dumps({**header, "rows": [asdict(r) for r in rows]}, indent=2) + "\n")
    return out / "gpu_check.md"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("OUT") or "gpu_check_out"),
                        help="folder for gpu_check.md / .json / cuda_tests.txt (default $OUT)")
    parser.add_argument("--wheels", type=Path, help="install the wheels of this folder first (no network)")
    parser.add_argument("--smoke", action="store_true", help="CPU, tiny sizes, seconds: checks the script runs")
    parser.add_argument("--skip-tests", action="store_true", help="measure only")
    parser.add_argument("--tests-timeout-s", type=float, default=150.0)
    parser.add_argument("--budget-s", type=float, default=330.0,
                        help="seconds for the measurements (tests + budget + a compile fit the device's 10 minutes)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    installed = install_wheels(args.wheels) if args.wheels else "no wheels given"
    rows = [] if args.skip_tests else [run_cuda_tests(args.out, args.smoke, args.tests_timeout_s)]
    if rows:
        print(format_row(rows[0]), flush=True)

    import torch

    if not args.smoke and not torch.cuda.is_available():
        print("gpu_check: no CUDA device here; use --smoke for the CPU check", file=sys.stderr)
        return 2
    device = torch.device("cuda" if not args.smoke else "cpu")
    if args.smoke:
        torch.set_num_threads(1)  # CI machines are shared: spinning threads only slow each other
    sizes = SMOKE if args.smoke else FULL
    with tempfile.TemporaryDirectory(prefix="gpu_check_") as work:
        rows += measure_all(sizes, device, Budget(args.budget_s), Path(work), args.smoke)
    header = {"device": device_description(device), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "smoke": args.smoke, "wheels": installed, "seconds": round(time.monotonic() - started, 1),
              "loader_verdict": loader_verdict(rows)}
    report = write_report(args.out, rows, header)
    print(f"gpu_check: wrote {report} and gpu_check.json in {header['seconds']} s")
    failed = [row for row in rows if row.note.startswith("failed")]
    tests_failed = bool(rows) and rows[0].section == "cuda tests" and rows[0].value not in (0.0, 5.0)
    return 1 if failed or tests_failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
