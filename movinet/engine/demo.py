"""`movinet demo`: an offline end-to-end run on CPU in a few minutes.

Steps (each prints what it produced and returns paths in the result dict):
  1. write the synthetic motion dataset (`movinet.data.synthetic`, "squares" style: 6 classes in
     pairs that are each other's time reversal, so only motion over time tells them apart) as class
     folders, an independent test split and a held-out video;
  2. train MoViNet-A0 at reduced size with `fit` (`configs/demo.yaml`), validating every epoch;
  3. test the best weights with `test` (JSON report + confusion-matrix PNG) and print the top-1;
  4. export the weights to ONNX (checked against PyTorch by the exporter), and the stream model
     `movinet serve` takes: the causal variant of the trained weights as a stream ONNX graph, at the
     rate the model saw the demo's clips (8-fps videos, every 2nd frame: 4 fps);
  5. predict the held-out video with ONNX Runtime, as `movinet predict` does;
  6. stream the held-out video frame by frame through that stream model (`movinet stream`),
     printing the per-frame top-1;
  7. print the one `movinet serve` command that serves the stream model in the browser.

Nothing is downloaded.
"""

from __future__ import annotations

import math
import os
import shlex
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from movinet.engine.config import Config, load_config
from movinet.models.registry import get_model_info

NUM_CLASSES = 6
VIDEOS_PER_CLASS = 150  # fewer and A0 memorises the clips instead of learning the motion
VAL_VIDEOS_PER_CLASS = 10
STYLE = "squares"
VIDEO_FPS = 8.0
VIDEO_FRAMES = 16
VIDEO_SIZE = 64
TEST_VIDEOS_PER_CLASS = 20
HELD_OUT_CLASS = "move_up"


def demo_config_path() -> Path:
    """The packaged `demo.yaml` (movinet/configs, shipped in the wheel)."""
    from movinet.configs import packaged_config

    try:
        return packaged_config("demo.yaml")
    except FileNotFoundError:
        raise FileNotFoundError("the packaged demo.yaml is missing from this movinet installation "
                                "(movinet/configs/); reinstall movinet") from None


def choose_num_threads() -> int:
    """Torch threads for the demo: the cores other processes leave free, minus one left to video
    decoding and the rest of the system. On a shared machine OpenMP threads that wait for a descheduled sibling make a
    small model's many small ops several times slower than a single thread (measured: 2 threads 4x
    slower than 1 on this project's 2-core machine while another job ran)."""
    cores = os.cpu_count() or 1
    try:
        busy = math.ceil(os.getloadavg()[0] - 0.5)
    except OSError:  # no load average on this platform
        busy = 0
    return max(1, min(cores - 1, cores - busy))


# What the demo writes into its work directory; a directory holding only these is a previous demo
# run and is reused, anything else is someone's files and is refused.
DEMO_OUTPUTS = frozenset({"data", "test_data", "held_out", "run", "inference"})
MIN_FREE_BYTES = 300 * 2**20  # the data, checkpoints and exports take about 100 MB


def check_demo_requirements(work: Path, *, data_only: bool = False) -> Path:
    """Everything the demo needs, checked before it does any work; returns the config path.

    Checks the packaged config (found and valid), the work directory (creatable, writable, free of
    other files, enough free space), the video encoder, and ONNX export/runtime unless `data_only`.

    Raises:
        ValueError / FileNotFoundError / OSError: one message listing every problem found.
    """
    import shutil

    problems: list[str] = []
    config_path = None
    try:
        config_path = demo_config_path()
        load_config(config_path, ["data.root=.", f"train.output_dir={work / 'run'}"])
    except (FileNotFoundError, ValueError) as error:
        problems.append(str(error))
    from movinet.data.synthetic import SQUARE_CLASSES

    if HELD_OUT_CLASS not in sorted(SQUARE_CLASSES[:NUM_CLASSES]):
        problems.append(f"the synthetic classes {SQUARE_CLASSES[:NUM_CLASSES]} lack the held-out {HELD_OUT_CLASS!r}")
    problems += _work_dir_problems(work)
    if work.is_dir() and shutil.disk_usage(work).free < MIN_FREE_BYTES:
        problems.append(f"{work} has {shutil.disk_usage(work).free / 2**20:.0f} MB free; the demo needs "
                        f"{MIN_FREE_BYTES / 2**20:.0f} MB: free some space or pass another --work_dir")
    try:
        import av

        from movinet.data.video import default_video_codec

        av.codec.Codec(default_video_codec(), "w")
    except Exception as error:  # noqa: BLE001 - PyAV builds fail in many ways; report any of them
        problems.append(f"PyAV cannot encode video ({error}); reinstall `av`")
    if not data_only:
        for module in ("onnx", "onnxruntime"):
            try:
                __import__(module)
            except ImportError as error:
                problems.append(f"the export/predict steps need {module} ({error}); `pip install {module}`")
    if problems:
        raise ValueError("the demo cannot run:\n  " + "\n  ".join(problems) if len(problems) > 1 else problems[0])
    return config_path  # type: ignore[return-value] - no problem means the path was found


def _work_dir_problems(work: Path) -> list[str]:
    if work.exists() and not work.is_dir():
        return [f"--work_dir {work} is a file; pass a new or empty directory"]
    try:
        work.mkdir(parents=True, exist_ok=True)
        probe = work / f".movinet-demo-probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        return [f"cannot write to --work_dir {work} ({error.strerror or error}); pass a writable directory"]
    foreign = sorted(name for name in os.listdir(work) if name not in DEMO_OUTPUTS)
    if foreign:
        return [f"--work_dir {work} holds other files ({', '.join(foreign[:5])}); the demo writes "
                f"{', '.join(sorted(DEMO_OUTPUTS))} there: pass a new or empty directory"]
    return []


def _say(step: str, message: str) -> None:
    print(f"[demo] {step}: {message}", flush=True)


def make_demo_data(work: Path, seed: int) -> dict[str, Any]:
    """Step 1: train/val class folders, an independent test split, and one held-out video."""
    from movinet.data.synthetic import make_motion_dataset, make_motion_video

    common = dict(num_classes=NUM_CLASSES, num_frames=VIDEO_FRAMES, size=VIDEO_SIZE, layout="folders", style=STYLE,
                  fps=VIDEO_FPS)
    info = make_motion_dataset(work / "data", videos_per_class=VIDEOS_PER_CLASS,
                               val_videos_per_class=VAL_VIDEOS_PER_CLASS, seed=seed, **common)
    # Validation picks the best epoch, so the reported number comes from videos no step has seen.
    test_info = make_motion_dataset(work / "test_data", videos_per_class=0, val_videos_per_class=TEST_VIDEOS_PER_CLASS,
                                    seed=seed + 1, **common)
    test_dir = Path(test_info["root"]) / test_info["val_list"]
    held_out = make_motion_video(work / "held_out" / f"{HELD_OUT_CLASS}.mp4", HELD_OUT_CLASS,
                                 num_frames=VIDEO_FRAMES, size=VIDEO_SIZE, fps=VIDEO_FPS, seed=seed + 10_000,
                                 style=STYLE)
    _say("data", f"{info['num_videos']} train/val + {test_info['num_videos']} test videos of {VIDEO_FRAMES} frames "
         f"at {VIDEO_SIZE} px, classes {', '.join(info['class_names'])} -> {info['root']}/{{train,val}}, "
         f"{test_dir}; held-out {held_out}")
    return {**info, "test_dir": str(test_dir), "held_out_video": str(held_out), "held_out_label": HELD_OUT_CLASS}


def demo_config(work: Path, data: dict[str, Any], seed: int, time_limit_minutes: float) -> Config:
    """configs/demo.yaml pointed at the generated data and the work directory."""
    overrides = [
        f"data.root={data['root']}", f"data.train_list={data['train_list']}", f"data.val_list={data['val_list']}",
        f"data.test_list={data['test_dir']}", f"data.labels_file={data['labels_file']}",
        f"train.output_dir={work / 'run'}", f"train.seed={seed}", f"train.time_limit_minutes={time_limit_minutes}",
    ]
    return load_config(demo_config_path(), overrides)


def train_demo_model(cfg: Config) -> dict[str, Any]:
    """Step 2: `fit` with validation every epoch; keeps the best weights."""
    from movinet.engine.train import fit

    started = time.perf_counter()
    result = fit(cfg, validate=True, overwrite=True)  # the work directory is the demo's own (checked first)
    result["train_seconds"] = time.perf_counter() - started
    size = cfg.data.transform.crop_size
    _say("train", f"{cfg.model.name} {cfg.data.sampling.num_frames}x{size}px, {result['epochs']} epochs in "
         f"{result['train_seconds']:.0f} s ({result['clips_per_s']:.1f} clips/s); best val top-1 "
         f"{result['best_top1']:.4f} at epoch {result['best_epoch']} of {result['epochs']} (val loss "
         f"{result['best_val_loss']:.4f}; equal top-1s go to the lower loss) -> {result['best_weights']}")
    return result


def evaluate_demo_model(cfg: Config, weights: str, which: str = "") -> dict[str, Any]:
    """Step 3: `test` on the independent test split; writes the report and confusion matrix.
    `which` says which weights these are (e.g. "the best validation epoch, 5")."""
    from movinet.engine.evaluate import test

    report = test(cfg, weights, overwrite=True)  # the work directory is the demo's own (checked first)
    _say("test", f"top-1 {report['top1']:.4f} (top-5 {report['top5']:.4f}) on {report['num_samples']} videos, "
         f"weights {Path(weights).name}{f' ({which})' if which else ''} -> {report['report']}, "
         f"{report['confusion_png']}")
    return report


def export_demo_model(cfg: Config, weights: str, work: Path) -> Any:
    """Step 4: ONNX export of the trained weights (the exporter checks ONNX Runtime against PyTorch)."""
    from movinet.export.onnx import export_from_weights

    # The weights carry `Preprocessing.from_config(cfg)`, written by training.
    result = export_from_weights(weights, work / "inference", model_name=cfg.model.name)
    _say("export", f"{result.model_path} + {result.json_path.name}; ONNX Runtime vs PyTorch relative error "
         f"{result.relative_error:.2e}")
    return result


def demo_stream_fps(cfg: Config) -> float:
    """The frame rate the demo's model saw: the videos' rate over the training sampling's stride."""
    return VIDEO_FPS / cfg.data.sampling.temporal_stride


def export_demo_stream_model(cfg: Config, weights: str, work: Path) -> Any:
    """Step 4b: the stream model of what was trained, for `movinet stream` and `movinet serve`.

    A base model sees whole clips; streaming needs a causal model. The base weights are loaded into
    their causal variant (`load_model(..., causal=True)`), whose per-frame predictions only
    approximate the base model (it never saw the future frames in training), and exported as a
    stream ONNX graph that records the demo's stream rate (`demo_stream_fps`), so `movinet serve`
    needs no `--fps`.
    """
    from movinet.export.onnx import export_onnx
    from movinet.loading import load_model

    model, meta = load_model(weights, model_name=cfg.model.name, causal=True)
    preprocessing = replace(meta.preprocessing, stream_fps=demo_stream_fps(cfg))
    result = export_onnx(model, work / "inference" / "stream", model_name=meta.name, labels=meta.labels,
                         preprocessing=preprocessing, stream_steps=3)
    causal = "" if get_model_info(cfg.model.name).causal else "the causal variant of "
    _say("export", f"stream model ({causal}the trained weights, {preprocessing.stream_fps:g} fps) -> "
         f"{result.model_path}")
    return result


def serve_command(stream_onnx: str | os.PathLike) -> str:
    """The one command that serves the demo's stream model in the browser (its sidecar holds the rate)."""
    return f"movinet serve --model_file {shlex.quote(str(stream_onnx))}"


def predict_held_out(onnx_path: Path, video: str) -> dict[str, Any]:
    """Step 5: `movinet predict` on the held-out video with ONNX Runtime."""
    from movinet.inference.backends.onnx import OnnxPredictor
    from movinet.inference.predict import predict_files
    from movinet.inference.report import format_result

    result = predict_files([video], OnnxPredictor(onnx_path), top_k=1, progress=False)[0]
    if not result.ok:
        raise RuntimeError(f"prediction of {video} failed: {result.error}")
    print(format_result(result, 1), flush=True)
    _say("predict", f"{Path(video).name}: {result.labels[0]} ({result.scores[0]:.3f})")
    return result.to_dict()


def stream_held_out(stream_onnx: str | os.PathLike, video: str) -> dict[str, Any]:
    """Step 6: `movinet stream` on the held-out video, one frame per step, with the stream model
    `movinet serve` runs (`export_demo_stream_model`) at the rate it records."""
    from movinet.inference.backends.onnx import OnnxPredictor
    from movinet.inference.stream import run_stream

    summary = run_stream(video, predictor=OnnxPredictor(stream_onnx), top_k=1, print_every=1)
    _say("stream", f"{summary.frames} frames, final top-1 {summary.final_top_k[0][1] if summary.final_top_k else '-'}")
    return {"frames": summary.frames, "ended": summary.ended}


def run_demo(work_dir: str | None = None, *, seed: int = 0, max_minutes: float = 10,
             data_only: bool = False) -> dict[str, Any]:
    """Generate data, train and test a MoViNet-A0 on CPU; print and return what each step produced.

    Everything the steps need is checked first (`check_demo_requirements`), so a broken install or
    an unusable work directory fails at once, not after minutes of data generation.

    Args:
        work_dir: where everything goes; None = a new temporary directory. A directory holding
            only a previous demo's outputs is reused; one holding other files is refused.
        seed: seed for the data and the training.
        max_minutes: wall-time budget of the whole demo; training stops early (after an epoch) if it
            would not leave time for testing.
        data_only: stop after generating the data (checks an installation quickly; CI runs it from a
            wheel); the result then has the data keys only.

    Returns:
        Paths and numbers: "work_dir", "data_root", "train_dir", "val_dir", "test_dir", "labels_file",
        "class_names", "held_out_video", "held_out_label", "config", "weights" (best safetensors),
        "final_weights", "checkpoint", "training_curves", "test_report", "confusion_png",
        "test_top1", "train_seconds", "total_seconds", "onnx", "stream_onnx" (the stream model),
        "serve_command" (the `movinet serve` command that serves it).
    """
    started = time.perf_counter()
    work = Path(work_dir) if work_dir else Path(tempfile.mkdtemp(prefix="movinet_demo_"))
    check_demo_requirements(work, data_only=data_only)
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(choose_num_threads())
    try:
        return _run_steps(work, seed, max_minutes, started, data_only)
    finally:
        torch.set_num_threads(previous_threads)


def _run_steps(work: Path, seed: int, max_minutes: float, started: float, data_only: bool) -> dict[str, Any]:
    _say("start", f"working in {work} (seed {seed}, budget {max_minutes:g} min, {torch.get_num_threads()} threads)")
    data = make_demo_data(work, seed)
    if data_only:
        _say("done", f"stopped after the data step (--data_only) in {time.perf_counter() - started:.0f} s")
        return {"work_dir": str(work), "data_root": data["root"], "class_names": data["class_names"],
                "test_dir": data["test_dir"], "held_out_video": data["held_out_video"],
                "total_seconds": time.perf_counter() - started}
    # Keep ~10% of the budget (at least 30 s) for testing after the last epoch.
    budget = max(max_minutes - max(0.5, 0.1 * max_minutes) - (time.perf_counter() - started) / 60, 0.5)
    cfg = demo_config(work, data, seed, budget)
    fitted = train_demo_model(cfg)
    weights = fitted["best_weights"] or fitted["final_weights"]
    which = (f"epoch {fitted['best_epoch']} of {fitted['epochs']}, the best validation epoch" if fitted["best_weights"]
             else f"the final weights, epoch {fitted['epochs']}")
    report = evaluate_demo_model(cfg, weights, which)
    exported = export_demo_model(cfg, weights, work)
    stream_model = export_demo_stream_model(cfg, weights, work)
    prediction = predict_held_out(exported.model_path, data["held_out_video"])
    streamed = stream_held_out(stream_model.model_path, data["held_out_video"])
    total = time.perf_counter() - started
    root = Path(data["root"])
    command = serve_command(stream_model.model_path)
    _say("done", f"test top-1 {report['top1']:.4f} in {total / 60:.1f} min; weights {weights}")
    _say("serve", f"see it live in the browser (camera or {Path(data['held_out_video']).name}):\n    {command}")
    return {
        "work_dir": str(work), "data_root": str(root), "train_dir": str(root / data["train_list"]),
        "val_dir": str(root / data["val_list"]), "test_dir": data["test_dir"], "labels_file": str(root / data["labels_file"]),
        "class_names": data["class_names"], "held_out_video": data["held_out_video"],
        "held_out_label": data["held_out_label"], "config": str(Path(fitted["run_dir"]) / "config.yaml"),
        "weights": weights, "final_weights": fitted["final_weights"], "checkpoint": fitted["last_checkpoint"],
        "training_curves": fitted["plot"], "test_report": report["report"], "confusion_png": report["confusion_png"],
        "test_top1": report["top1"], "train_seconds": fitted["train_seconds"], "total_seconds": total,
        "onnx": str(exported.model_path), "stream_onnx": str(stream_model.model_path), "serve_command": command,
        "prediction": prediction, "stream": streamed,
    }


if __name__ == "__main__":
    run_demo()
