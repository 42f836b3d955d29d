"""The `movinet` command line: thin handlers over library functions.

    movinet list
    movinet convert tf CKPT_DIR_OR_TARBALL --model movinet_a0_base -o a0_base.safetensors
    movinet convert paddle MoViNetA0_k400.pdparams --model movinet_a0_paddle -o a0_paddle.safetensors
    movinet export  -c configs/movinet_k400_frame.yaml -p best.safetensors -o inference/
    movinet predict --input_file video.mp4 --config configs/movinet_k400_frame.yaml \
                    --model_file inference/movinet_a0_paddle.onnx
    movinet stream  --input 0 --model_file inference/movinet_a0_stream.onnx   # camera 0

Heavy imports happen inside handlers so `movinet --help` stays fast. Every handler returns an exit
code; user errors (ValueError, and OSError on paths: missing, unwritable, a file where a directory should
be) print one line and exit with 2, never a stack trace.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path


# ------------------------------------------------------------------------------------------------
# handlers


def cmd_list(args: argparse.Namespace) -> int:
    from movinet.models.summary import model_table

    rows = model_table(args.pattern)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    header = f"{'model':<20} {'input (T x H x W)':<18} {'classes':>7} {'params':>12} {'GMACs':>8}"
    print(header)
    print("-" * len(header))
    for row in rows:
        frames, height, width = row["input_size"]
        print(f"{row['name']:<20} {f'{frames} x {height} x {width}':<18} {row['num_classes']:>7} "
              f"{row['params']:>12,} {row['gmacs']:>8.2f}")
    return 0


def cmd_configs(args: argparse.Namespace) -> int:
    from movinet.configs import config_summary, list_configs, packaged_config

    if args.name:
        sys.stdout.write(packaged_config(args.name).read_text(encoding="utf-8"))
        return 0
    names = list_configs()
    width = max(len(name) for name in names)
    for name in names:
        print(f"{name:<{width}}  {config_summary(name)}")
    print("\nuse one with -c NAME (a file of that name in the working directory wins); "
          "`movinet configs NAME > my.yaml` copies it to edit")
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    from movinet.files import check_outputs
    from movinet.weights import metadata_path

    inputs = {"the checkpoint": args.input}
    if args.source == "tf":  # a checkpoint prefix stands for its files
        inputs.update({"the checkpoint's index": f"{args.input}.index"})
    check_outputs(inputs, {"-o": args.output, "-o's sidecar": metadata_path(args.output)})
    if args.source == "tf":
        from movinet.convert.tf import convert_tf

        out = convert_tf(args.input, args.model, args.output)
    else:
        from movinet.convert.paddle import convert_paddle

        out = convert_paddle(args.input, args.model, args.output)
    print(f"wrote {out}")
    return 0


def cmd_prepare(args: argparse.Namespace) -> int:
    from movinet.data.datasets import read_list_file
    from movinet.data.prepare import extract_frames, labels_path_for, write_video_list
    from movinet.files import check_outputs

    source = args.input
    if args.what == "videolist":
        labels = labels_path_for(args.list)
        existing = labels.exists()
        check_outputs({"the input": source, **({"the existing labels file": labels} if existing else {})},
                      {"--list": args.list})
        list_path, labels_path = write_video_list(source, args.list)
        print(f"wrote {list_path}\n" + (f"kept {labels_path} (an existing labels file fixes the class indices)"
                                        if existing else f"wrote {labels_path}"))
        return 0
    if args.output is None:
        raise ValueError("`movinet prepare frames` needs -o OUT_ROOT for the extracted frames")
    check_outputs({"the input": source}, {"--list": args.list, "-o": args.output})
    if source.endswith((".txt", ".list")):  # a `path label` video list, paths relative to --root
        videos = [(sample.path, sample.label) for sample in read_list_file(source, "videos", args.root)]
    else:
        videos = source  # a folder-per-class tree
    summary = extract_frames(videos, args.output, list_out=args.list, short_size=args.short_size,
                             num_workers=args.workers)
    print(f"extracted {summary.num_frames} frames from {summary.num_videos} videos into {args.output}; "
          f"list: {summary.list_path}" + (f", labels: {summary.labels_path}" if summary.labels_path else ""))
    for path, reason in summary.failed:
        print(f"skipped {path}: {reason}", file=sys.stderr)
    return 1 if summary.failed else 0


def _load_config(path: str | None, overrides: Sequence[str] = ()):
    if path is None:
        return None
    from movinet.engine.config import load_config

    return load_config(path, list(overrides))


def _config_preprocessing(cfg):
    """The evaluation pipeline of a config (`Preprocessing.from_config`), or None without one."""
    if cfg is None:
        return None
    from movinet.data.preprocessing import Preprocessing

    return Preprocessing.from_config(cfg)


def cmd_train(args: argparse.Namespace) -> int:
    from movinet.engine.train import fit

    if args.test:  # PaddleVideo's `main.py --test -c CONFIG -w WEIGHTS`
        return cmd_test(args)
    if args.weights and args.resume:
        raise ValueError("-w (weights to fine-tune from) and --resume (a run to continue) exclude each other; "
                         "give one of them")
    overrides = (list(args.override) + (["train.sync_bn=true"] if args.sync_bn else [])
                 + (["train.amp=fp16"] if args.amp else []))
    cfg = _load_config(args.config, overrides)
    if args.weights:
        cfg.model.weights = args.weights
    if not args.resume:  # a resume rewrites its own run's files; -c may be that run's config.yaml
        from movinet.engine.rundir import fixed_outputs
        from movinet.files import check_outputs

        check_outputs({"-c": args.config, "-w": args.weights}, fixed_outputs(Path(cfg.train.output_dir)),
                      remedy="copy it out of train.output_dir first, or train into another directory with "
                             "-o train.output_dir=DIR")
    result = fit(cfg, validate=args.validate, resume=args.resume, overwrite=args.overwrite)
    if result.get("best_weights"):
        print(f"best top-1 {result['best_top1']:.4f} (epoch {result['best_epoch']}): {result['best_weights']}")
    print(f"final weights: {result['final_weights']}")
    return 0


def cmd_test(args: argparse.Namespace) -> int:
    from movinet.engine.evaluate import report_paths, test
    from movinet.files import check_outputs

    cfg = _load_config(args.config, args.override)
    check_outputs({"-c": args.config, "-w": args.weights}, report_paths(cfg))
    report = test(cfg, args.weights)
    print(f"top-1 {report['top1']:.4f}  top-5 {report['top5']:.4f}  on {report['num_samples']} videos")
    print(f"report: {report['report']}\nconfusion matrix: {report['confusion_png']}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from movinet.engine.demo import run_demo

    result = run_demo(args.work_dir, seed=args.seed, max_minutes=args.max_minutes, data_only=args.data_only)
    if args.data_only:
        print(f"demo data in {result['data_root']} and {result['test_dir']}")
        return 0
    print(f"demo test top-1: {result['test_top1']:.4f} ({result['total_seconds'] / 60:.1f} min); "
          f"everything is in {result['work_dir']}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from movinet.export.onnx import export_from_weights
    from movinet.files import check_outputs

    cfg = _load_config(args.config, args.override)
    out = Path(args.output)
    check_outputs({"-c": args.config, "-p": args.params},
                  {"the ONNX file": out / f"{cfg.model.name}.onnx", "its sidecar": out / f"{cfg.model.name}.json"})
    preprocessing = _config_preprocessing(cfg)
    result = export_from_weights(args.params, args.output, model_name=cfg.model.name, preprocessing=preprocessing,
                                 dynamic_spatial=args.dynamic_spatial, opset=args.opset)
    print(f"wrote {result.onnx_path}\nwrote {result.json_path}")
    print(f"ONNX Runtime vs PyTorch ({result.kind}): max |diff| {result.max_abs_error:.3g}, "
          f"relative error {result.relative_error:.3g}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from movinet.inference.backends import load_predictor
    from movinet.inference.model_files import resolve_model_files
    from movinet.inference.predict import predict_files
    from movinet.inference.report import print_results

    cfg = _load_config(args.config)
    model_file = resolve_model_files(args.model_file, args.weights, model_name=cfg.model.name if cfg else None)
    predictor = load_predictor(model_file, use_gpu=args.use_gpu, use_tensorrt=args.use_tensorrt,
                               num_threads=args.cpu_threads, model_name=cfg.model.name if cfg else None,
                               preprocessing=_config_preprocessing(cfg))
    results = predict_files(args.input_file, predictor, top_k=args.top_k, batch_size=args.batch_size,
                            progress=not args.json)
    return 1 if print_results(results, top_k=args.top_k, json_lines=args.json) else 0


def _fps_option(fps: float | None) -> float | None:
    """`--fps` of `stream` and `serve`, through the one rate check (`movinet.limits.check_rate`)."""
    from movinet.limits import check_rate

    try:
        return check_rate(fps, "--fps") if fps is not None else None
    except ValueError as error:
        raise ValueError(f"{error}; leave --fps out to use the rate the model was trained at (5 fps for the "
                         "official stream models)") from None


def cmd_stream(args: argparse.Namespace) -> int:
    from movinet.files import check_outputs
    from movinet.inference.backends import load_predictor
    from movinet.inference.stream import annotation_format, run_stream

    fps = _fps_option(args.fps)
    model_file = args.model_file or args.weights
    if model_file is None:
        raise ValueError("give --model_file X.onnx (a stream export) or -w WEIGHTS.safetensors of a stream model")
    if args.annotate is not None:
        annotation_format(args.annotate)
    input_file = None if args.input.isdigit() or "://" in args.input else args.input  # cameras and URLs are no files
    check_outputs({"--input": input_file, "the model": model_file, "--config": args.config},
                  {"--json_out": None if args.json_out == "-" else args.json_out, "--annotate": args.annotate})
    cfg = _load_config(args.config)
    predictor = load_predictor(model_file, use_gpu=args.use_gpu, num_threads=args.cpu_threads,
                               model_name=cfg.model.name if cfg else None, preprocessing=_config_preprocessing(cfg))
    source = int(args.input) if args.input.isdigit() else args.input
    summary = run_stream(source, predictor=predictor, top_k=args.top_k, target_fps=fps, chunk=args.chunk,
                         max_frames=args.max_frames, json_out=args.json_out, annotate=args.annotate,
                         print_every=args.print_every)
    return {"error": 1, "interrupted": 130}.get(summary.ended, 0)


def cmd_serve(args: argparse.Namespace) -> int:
    from movinet.serve.app import ServeSettings
    from movinet.serve.server import serve

    fps = _fps_option(args.fps)
    model_file = args.model_file or args.weights
    if model_file is None:
        raise ValueError("give --model_file OUT_DIR/<model>.onnx (a stream export) or -w WEIGHTS.safetensors "
                         "of a stream model")
    settings = ServeSettings(max_streams=args.max_streams, max_batch=args.max_batch,
                             batch_window_ms=args.batch_window_ms, top_k=args.top_k,
                             max_upload_bytes=int(args.max_upload_mb * 1024 * 1024))
    serve(model_file, host=args.host, port=args.port, settings=settings, use_gpu=args.use_gpu,
          num_threads=args.threads, fps=fps, log_level=args.log_level)
    return 0


# ------------------------------------------------------------------------------------------------
# parser

_TRUE_WORDS = ("true", "t", "1", "yes", "y", "on")
_FALSE_WORDS = ("false", "f", "0", "no", "n", "off")


def parse_bool(text: str) -> bool:
    """A boolean option value as the seed's `str2bool` reads it ("True", "false", "1", ...)."""
    word = text.strip().lower()
    if word in _TRUE_WORDS or word in _FALSE_WORDS:
        return word in _TRUE_WORDS
    raise argparse.ArgumentTypeError(f"expected True or False, got {text!r}")


class BoolFlag(argparse.Action):
    """A boolean option written `--flag`, `--flag=True|False` or `--flag True|False` (the seed's
    tools take `--use_gpu=True`; a plain switch refuses that as an "ignored explicit argument")."""

    def __init__(self, option_strings: Sequence[str], dest: str, default: bool = False,
                 help: str | None = None) -> None:  # noqa: A002 - argparse's keyword
        super().__init__(option_strings, dest, nargs="?", const=True, default=default, type=parse_bool,
                         metavar="True|False", help=help)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: object,
                 option_string: str | None = None) -> None:
        setattr(namespace, self.dest, values)


class _Parser(argparse.ArgumentParser):
    """Takes every long option in both spellings: the seed's `--top_k` and the dashed `--top-k`."""

    def parse_known_args(self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None):
        tokens = sys.argv[1:] if args is None else list(args)
        return super().parse_known_args([self._canonical(token) for token in tokens], namespace)

    def _canonical(self, token: str) -> str:
        if not token.startswith("--") or token == "--":
            return token
        name, sep, value = token.partition("=")
        if name in self._option_string_actions:
            return token
        for twin in ("--" + name[2:].replace("-", "_"), "--" + name[2:].replace("_", "-")):
            if twin in self._option_string_actions:
                return twin + sep + value
        return token


def _add(sub: argparse._SubParsersAction, name: str, handler: Callable[[argparse.Namespace], int],
         help_text: str) -> argparse.ArgumentParser:
    parser = sub.add_parser(name, help=help_text, description=help_text)
    parser.set_defaults(func=handler)
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="movinet", description="MoViNet video classification: models, weight conversion, "
                     "training, export and (online) inference. Options are spelled as in PaddleVideo's tools "
                     "(--top_k; --top-k works too); boolean options take --flag or --flag=True/False.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = _add(sub, "list", cmd_list, "list the models with input size, parameters and GMACs")
    p.add_argument("--pattern", default="*", help="glob over model names, e.g. '*stream'")
    p.add_argument("--json", action=BoolFlag, help="machine-readable output")

    p = _add(sub, "configs", cmd_configs, "list the packaged YAML configs, or print one (to copy and edit)")
    p.add_argument("name", nargs="?", default=None, help="a config to print, e.g. movinet_k400_frame.yaml")

    p = _add(sub, "convert", cmd_convert, "convert official TF or PaddleVideo weights to movinet .safetensors")
    p.add_argument("source", choices=["tf", "paddle"], help="tf: TF Model Garden checkpoint (dir, prefix, "
                   ".tar.gz or named-variable .npz); paddle: a PaddleVideo .pdparams")
    p.add_argument("input", help="checkpoint path")
    p.add_argument("--model", required=True, help="target model name (see `movinet list`)")
    p.add_argument("-o", "--output", required=True, help="output .safetensors path (a .json sidecar is written too)")

    p = _add(sub, "train", cmd_train, "train from a YAML config (one process, or many under torchrun)")
    p.add_argument("-c", "--config", required=True, help="YAML config, e.g. configs/movinet_k400_frame.yaml")
    p.add_argument("--validate", action=BoolFlag, help="evaluate every epoch and keep the best top-1 model")
    p.add_argument("--resume", default=None, help="training checkpoint to continue exactly, e.g. OUTPUT_DIR/last.pt")
    p.add_argument("--sync_bn", action=BoolFlag, help="SyncBatchNorm across GPUs (CUDA DDP only)")
    p.add_argument("--overwrite", action=BoolFlag, help="replace the run already in train.output_dir (a fresh run "
                   "refuses a directory holding another run's checkpoints or weights)")
    p.add_argument("-w", "--weights", default=None, help="weights to fine-tune from (sets model.weights); with "
                   "--test, the weights to evaluate (PaddleVideo main.py's -w)")
    p.add_argument("--test", action=BoolFlag, help="evaluate -w WEIGHTS instead of training, as `movinet test` "
                   "(PaddleVideo main.py's --test)")
    p.add_argument("--amp", action=BoolFlag, help="float16 mixed precision on CUDA (sets train.amp=fp16)")
    p.add_argument("-o", "--override", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. -o train.epochs=5 (repeatable)")

    p = _add(sub, "test", cmd_test, "evaluate weights: top-1/top-5, per-class accuracy, confusion matrix")
    p.add_argument("-c", "--config", required=True, help="YAML config (its data section says what to test)")
    p.add_argument("-w", "--weights", default=None, help="weights: .safetensors, a training checkpoint (.pt), a PaddleVideo .pdparams, or a "
                   "release name (kinetics600, kinetics400) of the config's model")
    p.add_argument("-o", "--override", action="append", default=[], metavar="KEY=VALUE", help="config override")

    p = _add(sub, "demo", cmd_demo, "offline end-to-end demo: synthetic motion videos -> train -> test -> "
             "export -> predict -> stream, on CPU in a few minutes")
    p.add_argument("--work_dir", default=None, help="where to put everything (default: a new temp dir)")
    p.add_argument("--seed", type=int, default=0, help="seed of the data and the training (default 0)")
    p.add_argument("--max_minutes", type=float, default=10.0, help="time budget; training stops early to keep it")
    p.add_argument("--data_only", action=BoolFlag, help="check the installation and generate the data, then stop")

    p = _add(sub, "prepare", cmd_prepare, "prepare a dataset: extract frames (PaddleVideo frame layout) "
             "or write a video list for a folder-per-class tree")
    p.add_argument("what", choices=["frames", "videolist"], help="frames: extract JPEG frames and write a "
                   "`frame_dir num_frames label` list; videolist: write a `path label` list + labels.txt")
    p.add_argument("input", help="a folder-per-class root (<root>/<class>/<video>), or for `frames` also a "
                   "`path label` video list (.txt/.list)")
    p.add_argument("--list", required=True, help="list file to write")
    p.add_argument("-o", "--output", default=None, help="frames: output root of the frame folders")
    p.add_argument("--root", default="", help="root of the paths in a video list")
    p.add_argument("--short_size", type=int, default=None, help="frames: resize the shorter side to this")
    p.add_argument("--workers", type=int, default=1, help="frames: parallel processes")

    p = _add(sub, "export", cmd_export, "export trained weights to ONNX (+ JSON sidecar), checked against PyTorch")
    p.add_argument("-c", "--config", required=True, help="the YAML config the model was trained with")
    p.add_argument("-p", "--params", "--pretrained_params", required=True,
                   help="weights: .safetensors, a training checkpoint (.pt) or a PaddleVideo .pdparams")
    p.add_argument("-o", "--output", "--output_path", required=True, help="output directory")
    p.add_argument("--dynamic_spatial", action=BoolFlag, help="base models: allow other frame sizes")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    p.add_argument("--override", "-O", action="append", default=[], metavar="KEY=VALUE", help="config override")

    p = _add(sub, "predict", cmd_predict, "classify video files with an exported ONNX model or PyTorch weights")
    p.add_argument("--input_file", "-i", required=True, help="a video, a directory of videos, or a .txt list")
    p.add_argument("--config", "-c", help="the training config (optional: the model files carry their settings)")
    p.add_argument("--model_file", help="OUT_DIR/<model>.onnx written by `movinet export` (a Paddle .pdmodel "
                   "name in a directory holding one movinet export stands for that export)")
    p.add_argument("-w", "--weights", "--params_file", help="PyTorch weights (.safetensors, training .pt or "
                   ".pdparams) instead of an ONNX model; next to --model_file X.onnx a Paddle .pdiparams name is "
                   "ignored (the ONNX file holds its weights)")
    p.add_argument("--use_gpu", action=BoolFlag, help="ONNX Runtime CUDA execution provider")
    p.add_argument("--use_tensorrt", action=BoolFlag, help="ONNX Runtime TensorRT execution provider")
    p.add_argument("--cpu_threads", type=int, default=None, help="CPU threads for ONNX Runtime")
    p.add_argument("--top_k", type=int, default=1, help="print the k best classes (default 1)")
    p.add_argument("-b", "--batch_size", type=int, default=1, help="videos per model call")
    p.add_argument("--json", action=BoolFlag, help="one JSON object per file instead of text")

    p = _add(sub, "stream", cmd_stream, "online inference on a video file, camera index or RTSP/HTTP URL, frame by frame")
    p.add_argument("--input", required=True, help="video file, camera index (e.g. 0) or rtsp:// / http:// URL")
    p.add_argument("--model_file", help="a stream model exported by `movinet export` (.onnx)")
    p.add_argument("-w", "--weights", help="stream-model weights (.safetensors or training .pt) to run with PyTorch")
    p.add_argument("--config", "-c", help="the training config (optional)")
    p.add_argument("--use_gpu", action=BoolFlag, help="ONNX Runtime CUDA execution provider")
    p.add_argument("--cpu_threads", type=int, default=None, help="CPU threads for the model (ONNX Runtime or PyTorch)")
    p.add_argument("--top_k", type=int, default=5, help="report the k best classes (default 5)")
    p.add_argument("--fps", type=float, default=None, help="resample to this rate, > 0 (default: the rate the "
                   "model was trained at, 5 fps for the official stream models)")
    p.add_argument("--chunk", type=int, default=1, help="frames per model step")
    p.add_argument("--max_frames", type=int, default=None, help="stop after this many model frames")
    p.add_argument("--json_out", default=None, help="write JSON lines per step to this file ('-' for stdout)")
    p.add_argument("--annotate", default=None, metavar="OUT.mp4", help="write the video with the top-k drawn on it")
    p.add_argument("--print_every", type=int, default=1, help="print every N steps (0: only the summary)")

    p = _add(sub, "serve", cmd_serve, "serve a stream model: live page, HTTP API and WebSocket streams, "
             "many streams batched on one model")
    p.add_argument("--model_file", help="a stream model exported by `movinet export` (.onnx + .json sidecar)")
    p.add_argument("-w", "--weights", help="stream-model weights (.safetensors) to run with PyTorch")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    p.add_argument("--use_gpu", action=BoolFlag, help="run the model on CUDA")
    p.add_argument("--threads", type=int, default=None, help="CPU threads of the model (default: the runtime's)")
    p.add_argument("--fps", type=float, default=None, help="stream rate (default: the model's training rate)")
    p.add_argument("--top_k", type=int, default=5, help="classes per streamed result (default 5)")
    p.add_argument("--max_streams", type=int, default=32, help="concurrent streams (default 32)")
    p.add_argument("--max_batch", type=int, default=16, help="most streams per model call (1: no batching)")
    p.add_argument("--batch_window_ms", type=float, default=4.0,
                   help="how long a frame waits for other streams' frames to join its batch (default 4)")
    p.add_argument("--max_upload_mb", type=float, default=100.0, help="largest POST /predict upload (default 100)")
    p.add_argument("--log_level", default="warning", choices=["critical", "error", "warning", "info", "debug"],
                   help="server log level (default warning)")
    return parser


def os_error_message(error: OSError) -> str:
    """One line for an OS error on a path: which path, what is wrong, what to do."""
    if error.errno is None:
        return str(error)  # raised by movinet with a message that already says what to do
    path = error.filename if error.filename is not None else "?"
    if isinstance(error, PermissionError):
        return f"permission denied on {path}; choose an output location you can write, or change its permissions"
    if isinstance(error, (FileExistsError, NotADirectoryError)):
        return (f"a file stands where a directory is needed: {path}; remove or rename that file, or choose "
                "another output path")
    if isinstance(error, IsADirectoryError):
        return f"{path} is a directory where a file is needed; give a file path"
    reason = error.strerror or str(error)
    return f"{reason}: {path}" if error.filename is not None else reason


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `movinet` console script; returns the exit code."""
    args = build_parser().parse_args(argv)
    from movinet.process import apply_command_settings

    apply_command_settings(args.command)
    try:
        return args.func(args)
    except ValueError as error:
        print(f"movinet {args.command}: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # FileNotFoundError, PermissionError, a file where a directory should be, ...
        print(f"movinet {args.command}: error: {os_error_message(error)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"movinet {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
