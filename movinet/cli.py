"""The `movinet` command line: thin handlers over library functions.

    movinet list
    movinet convert tf CKPT_DIR_OR_TARBALL --model movinet_a0_base -o a0_base.safetensors
    movinet convert paddle MoViNetA0_k400.pdparams --model movinet_a0_paddle -o a0_paddle.safetensors
    movinet export  -c configs/movinet_k400_frame.yaml -p best.safetensors -o inference/
    movinet predict --input_file video.mp4 --config configs/movinet_k400_frame.yaml \
                    --model_file inference/movinet_a0_paddle.onnx
    movinet stream  --input 0 --model_file inference/movinet_a0_stream.onnx   # camera 0
    movinet finetune my_videos --model movinet_a0_stream -o runs/my_model

Heavy imports happen inside handlers so `movinet --help` stays fast. Every handler returns an exit
code; user errors (ValueError, and OSError on paths: missing, unwritable, a file where a directory should
be) print one line and exit with 2, never a stack trace; warnings print as one line each.

One option name for one thing in every subcommand, the seed's spellings kept as aliases: `-i/--input`
(`--input_file`), `-w/--weights` (`-p/--params`, `--params_file`), `-c/--config`, `-o/--output`
(`--output_dir`, `--output_path`), `-O/--override KEY=VALUE` (also `-o KEY=VALUE`, the seed's
`main.py` spelling, where a command reads a config and writes no single file), `--threads`
(`--cpu_threads`), `--top_k` (default 5 everywhere).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

from movinet.inference import DEFAULT_TOP_K


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
    overrides = (_output_override("train.output_dir", args.output) + list(args.override)
                 + (["train.sync_bn=true"] if args.sync_bn else []) + (["train.amp=fp16"] if args.amp else []))
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

    cfg = _load_config(args.config, _output_override("test.output_dir", args.output) + list(args.override))
    check_outputs({"-c": args.config, "-w": args.weights}, report_paths(cfg))
    report = test(cfg, args.weights, overwrite=args.overwrite)
    print(f"top-1 {report['top1']:.4f}  top-5 {report['top5']:.4f}  on {report['num_samples']} videos")
    print(f"report: {report['report']}\nconfusion matrix: {report['confusion_png']}")
    return 0


def cmd_finetune(args: argparse.Namespace) -> int:
    from movinet.engine.finetune import finetune

    overrides = ([f"train.epochs={args.epochs}"] if args.epochs else []) + (
        [f"data.batch_size={args.batch_size}"] if args.batch_size else []) + (
        [f"train.freeze_backbone_epochs={2**31 - 1}"] if args.freeze_backbone else []) + (
        ["train.tensorboard=true"] if args.tensorboard else []) + list(args.override)
    result = finetune(args.data_dir, model=args.model, weights=args.weights, output_dir=args.output,
                      recipe=args.config, overrides=overrides, val_fraction=args.val_fraction,
                      overwrite=args.overwrite, command=args.command_line)
    print(f"best val top-1 {result['best_top1']:.4f} (epoch {result['best_epoch']} of {result['epochs']}): "
          f"{result['weights']}\nnext:\n  " + "\n  ".join(result["next_commands"]))
    return 0


def cmd_push(args: argparse.Namespace) -> int:
    from movinet.hf import push_to_hub

    pushed = push_to_hub(args.source, args.repo, private=args.private, revision=args.revision)
    print(f"pushed {', '.join(pushed.files)} to {pushed.url}\nload it with movinet.load_model(\"hf://{args.repo}\") "
          f"or: movinet predict -i VIDEO -w hf://{args.repo}")
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


def _export_outputs(args: argparse.Namespace, model_name: str | None) -> dict[str, Path]:
    """The files `export` writes when the model's name is known (else the weights name it later)."""
    if model_name is None:
        return {}
    out = Path(args.output)
    stem = model_name if args.precision == "fp32" else f"{model_name}_{args.precision}"
    graph = out / (f"{stem}.tflite" if args.format == "litert" else f"{model_name}.onnx")
    return {"the exported model": graph, "its sidecar": graph.with_suffix(".json")}


def cmd_export(args: argparse.Namespace) -> int:
    from movinet.files import check_outputs

    cfg = _load_config(args.config, args.override)  # optional: weights carry their model and preprocessing
    model_name = cfg.model.name if cfg else None
    check_outputs({"-c": args.config, "-w": args.params}, _export_outputs(args, model_name))
    if args.format == "litert":
        from movinet.engine.config import eval_data_config
        from movinet.export.litert import export_litert_from_weights

        result = export_litert_from_weights(args.params, args.output, model_name=model_name,
                                            preprocessing=_config_preprocessing(cfg), precision=args.precision,
                                            data=eval_data_config(cfg) if cfg else None,
                                            calibration_split=args.calibration_split,
                                            calibration_clips=args.calibration_clips,
                                            causal=cfg.model.causal if cfg else None)
        runtime = "LiteRT"
    else:
        from movinet.export.onnx import export_from_weights

        if args.precision != "fp32":
            raise ValueError(f"--precision {args.precision} is made for LiteRT: add --format litert")
        result = export_from_weights(args.params, args.output, model_name=model_name,
                                     preprocessing=_config_preprocessing(cfg), causal=cfg.model.causal if cfg else None,
                                     dynamic_spatial=args.dynamic_spatial, opset=args.opset)
        runtime = "ONNX Runtime"
    print(f"wrote {result.model_path}\nwrote {result.json_path}")
    check = result.verification
    agreement = "" if check is None or check.top1_agreement is None else f", top-1 agreement {check.top1_agreement:.3f}"
    print(f"{runtime} vs PyTorch ({result.kind}, {args.precision}): max |diff| {result.max_abs_error:.3g}, "
          f"relative error {result.relative_error:.3g}{agreement}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from movinet.inference.backends import load_predictor
    from movinet.inference.model_files import resolve_model_files
    from movinet.inference.predict import predict_files
    from movinet.inference.report import print_results

    cfg = _load_config(args.config, args.override)
    model_file = resolve_model_files(args.model_file, args.weights, model_name=cfg.model.name if cfg else None)
    predictor = load_predictor(model_file, use_gpu=args.use_gpu, use_tensorrt=args.use_tensorrt,
                               num_threads=args.cpu_threads, model_name=cfg.model.name if cfg else None,
                               preprocessing=_config_preprocessing(cfg), causal=cfg.model.causal if cfg else None)
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
    cfg = _load_config(args.config, args.override)
    predictor = load_predictor(model_file, use_gpu=args.use_gpu, num_threads=args.cpu_threads,
                               model_name=cfg.model.name if cfg else None, preprocessing=_config_preprocessing(cfg),
                               causal=cfg.model.causal if cfg else None)
    source = int(args.input) if args.input.isdigit() else args.input
    summary = run_stream(source, predictor=predictor, top_k=args.top_k, target_fps=fps, chunk=args.chunk,
                         max_frames=args.max_frames, json_out=args.json_out, annotate=args.annotate,
                         print_every=args.print_every)
    return {"error": 1, "interrupted": 130}.get(summary.ended, 0)


def cmd_serve(args: argparse.Namespace) -> int:
    from movinet.serve.app import ServeSettings
    from movinet.serve.connection import StreamLimits
    from movinet.serve.server import serve

    fps = _fps_option(args.fps)
    model_file = args.model_file or args.weights
    if model_file is None:
        raise ValueError("give --model_file OUT_DIR/<model>.onnx (a stream export) or -w WEIGHTS.safetensors "
                         "of a stream model")
    settings = ServeSettings(max_streams=args.max_streams, max_streams_per_client=args.max_streams_per_client,
                             max_batch=args.max_batch, batch_window_ms=args.batch_window_ms, top_k=args.top_k,
                             max_upload_bytes=int(args.max_upload_mb * 1024 * 1024),
                             upload_timeout_s=args.upload_timeout,
                             streams=StreamLimits(idle_timeout_s=args.idle_timeout))
    serve(model_file, host=args.host, port=args.port, settings=settings, use_gpu=args.use_gpu,
          num_threads=args.threads, fps=fps, token=args.token, no_token=args.no_token,
          allow_hosts=args.allow_host, allow_origins=args.allow_origin, log_level=args.log_level)
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


_OVERRIDE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*=")


class OutputOrOverride(argparse.Action):
    """`-o`: a `KEY=VALUE` value is a config override (the seed's `main.py -o train.epochs=5`),
    anything else the output path (every other command's `-o`)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: object,
                 option_string: str | None = None) -> None:
        if option_string == "-o" and _OVERRIDE.match(str(values)):
            setattr(namespace, "override", [*(getattr(namespace, "override", None) or []), values])
        else:
            setattr(namespace, self.dest, values)


def _output_override(key: str, output: str | None) -> list[str]:
    """The config override an `-o/--output` path stands for, if one was given."""
    return [f"{key}={output}"] if output else []


def _add(sub: argparse._SubParsersAction, name: str, handler: Callable[[argparse.Namespace], int],
         help_text: str, *examples: str) -> argparse.ArgumentParser:
    parser = sub.add_parser(name, help=help_text, description=help_text,
                            epilog="example" + ("s" if len(examples) > 1 else "") + ":\n  " + "\n  ".join(examples),
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.set_defaults(func=handler)
    return parser


def _add_config(p: argparse.ArgumentParser, help_text: str, *, required: bool = False, default: str | None = None,
                output_key: str | None = None) -> None:
    """`-c/--config` and `-O/--override KEY=VALUE`; with `output_key`, also `-o/--output` (that key)."""
    p.add_argument("-c", "--config", required=required, default=default, help=help_text)
    p.add_argument("-O", "--override", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. -O train.epochs=5 (repeatable)")
    if output_key is not None:
        p.add_argument("-o", "--output", "--output_dir", action=OutputOrOverride, default=None, metavar="DIR",
                       help=f"output directory (sets {output_key}); -o KEY=VALUE, the seed's spelling, is an "
                            "override like -O")


def _add_threads(p: argparse.ArgumentParser, dest: str, what: str) -> None:
    p.add_argument("--threads", "--cpu_threads", dest=dest, type=int, default=None,
                   help=f"CPU threads of the model ({what}; default: the runtime's)")


def _add_top_k(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--top_k", type=int, default=DEFAULT_TOP_K, help=f"{what} (default {DEFAULT_TOP_K})")


def build_parser() -> argparse.ArgumentParser:
    from movinet import __version__

    parser = _Parser(prog="movinet", description="MoViNet video classification: models, weight conversion, "
                     "training, fine-tuning, export and (online) inference. Options are spelled as in PaddleVideo's "
                     "tools (--top_k; --top-k works too); boolean options take --flag or --flag=True/False.",
                     epilog="`movinet COMMAND --help` shows a command's options and an example.")
    parser.add_argument("--version", action="version", version=f"movinet {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = _add(sub, "list", cmd_list, "list the models with input size, parameters and GMACs",
             "movinet list --pattern '*stream'")
    p.add_argument("--pattern", default="*", help="glob over model names, e.g. '*stream'")
    p.add_argument("--json", action=BoolFlag, help="machine-readable output")

    p = _add(sub, "configs", cmd_configs, "list the packaged YAML configs, or print one (to copy and edit)",
             "movinet configs finetune.yaml > my_finetune.yaml")
    p.add_argument("name", nargs="?", default=None, help="a config to print, e.g. movinet_k400_frame.yaml")

    p = _add(sub, "convert", cmd_convert, "convert official TF or PaddleVideo weights to movinet .safetensors",
             "movinet convert tf movinet_a0_stream.tar.gz --model movinet_a0_stream -o a0_stream.safetensors")
    p.add_argument("source", choices=["tf", "paddle"], help="tf: TF Model Garden checkpoint (dir, prefix, "
                   ".tar.gz or named-variable .npz); paddle: a PaddleVideo .pdparams")
    p.add_argument("input", help="checkpoint path")
    p.add_argument("--model", required=True, help="target model name (see `movinet list`)")
    p.add_argument("-o", "--output", required=True, help="output .safetensors path (a .json sidecar is written too)")

    p = _add(sub, "finetune", cmd_finetune, "fine-tune a pretrained model on a folder of videos, one sub-folder "
             "per class (the packaged finetune.yaml recipe)",
             "movinet finetune my_videos --model movinet_a0_stream --weights kinetics600 -o runs/my_model")
    p.add_argument("data_dir", help="DATA_DIR/<class>/<video> (a validation split is held out), or DATA_DIR/train/"
                   "<class>/..., DATA_DIR/val/<class>/... [DATA_DIR/test/<class>/...]")
    p.add_argument("--model", default=None, help="model to fine-tune (default movinet_a0_stream; see `movinet list`)")
    p.add_argument("-w", "--weights", default=None, help="starting weights: a release name (default kinetics600, "
                   "downloaded once), a .safetensors / .pt file, hf://ORG/NAME, or none (random initialisation)")
    _add_config(p, "the recipe (default: the packaged finetune.yaml)", default="finetune.yaml",
                output_key="train.output_dir; default runs/<DATA_DIR name>-<model>")
    p.add_argument("--epochs", type=int, default=None, help="epochs (default: the recipe's, 10)")
    p.add_argument("-b", "--batch_size", type=int, default=None, help="clips per step (default: the recipe's, 8)")
    p.add_argument("--freeze_backbone", action=BoolFlag, help="train only the classifier, the whole run (default: "
                   "only the first train.freeze_backbone_epochs epochs, 2)")
    p.add_argument("--val_fraction", type=float, default=0.2, help="share of each class held out for validation "
                   "when DATA_DIR has no val/ folder (default 0.2)")
    p.add_argument("--tensorboard", action=BoolFlag, help="also write TensorBoard event files (movinet[tensorboard])")
    p.add_argument("--overwrite", action=BoolFlag, help="replace the run already in the output directory")

    p = _add(sub, "train", cmd_train, "train from a YAML config (one process, or many under torchrun)",
             "movinet train -c movinet_k400_frame.yaml --validate -o output/k400 -O train.epochs=5")
    _add_config(p, "YAML config, e.g. configs/movinet_k400_frame.yaml", required=True, output_key="train.output_dir")
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

    p = _add(sub, "test", cmd_test, "evaluate weights: top-1/top-5, per-class accuracy, confusion matrix",
             "movinet test -c runs/my_model/config.yaml -w runs/my_model/best.safetensors -o runs/my_model/test2")
    _add_config(p, "YAML config (its data section says what to test)", required=True,
                output_key="test.output_dir; default <train.output_dir>/test")
    p.add_argument("-w", "--weights", default=None, help="weights: .safetensors, a training checkpoint (.pt), a "
                   "PaddleVideo .pdparams, hf://ORG/NAME, or a release name (kinetics600, kinetics400) of the "
                   "config's model")
    p.add_argument("--overwrite", action=BoolFlag, help="replace an earlier report in the output directory")

    p = _add(sub, "demo", cmd_demo, "offline end-to-end demo: synthetic motion videos -> train -> test -> "
             "export -> predict -> stream, on CPU in a few minutes", "movinet demo --work_dir demo_run")
    p.add_argument("--work_dir", default=None, help="where to put everything (default: a new temp dir)")
    p.add_argument("--seed", type=int, default=0, help="seed of the data and the training (default 0)")
    p.add_argument("--max_minutes", type=float, default=10.0, help="time budget; training stops early to keep it")
    p.add_argument("--data_only", action=BoolFlag, help="check the installation and generate the data, then stop")

    p = _add(sub, "prepare", cmd_prepare, "prepare a dataset: extract frames (PaddleVideo frame layout) "
             "or write a video list for a folder-per-class tree",
             "movinet prepare frames data/k400/videos -o data/k400/rawframes --list data/k400/train_frames.list")
    p.add_argument("what", choices=["frames", "videolist"], help="frames: extract JPEG frames and write a "
                   "`frame_dir num_frames label` list; videolist: write a `path label` list + labels.txt")
    p.add_argument("input", help="a folder-per-class root (<root>/<class>/<video>), or for `frames` also a "
                   "`path label` video list (.txt/.list)")
    p.add_argument("--list", required=True, help="list file to write")
    p.add_argument("-o", "--output", default=None, help="frames: output root of the frame folders")
    p.add_argument("--root", default="", help="root of the paths in a video list")
    p.add_argument("--short_size", type=int, default=None, help="frames: resize the shorter side to this")
    p.add_argument("--workers", type=int, default=1, help="frames: parallel processes")

    p = _add(sub, "export", cmd_export, "export trained weights to ONNX or LiteRT (+ JSON sidecar), checked against "
             "PyTorch",
             "movinet export -c runs/my_model/config.yaml -w runs/my_model/best.safetensors -o runs/my_model/export",
             "movinet export --format litert --precision int8 -c runs/my_model/config.yaml "
             "-w runs/my_model/best.safetensors -o phone/")
    p.add_argument("-c", "--config", help="the YAML config the model was trained with (optional: our weights carry "
                   "their model, classes and preprocessing; a .pdparams and int8 calibration need it)")
    p.add_argument("-O", "--override", action="append", default=[], metavar="KEY=VALUE", help="config override")
    p.add_argument("-w", "-p", "--weights", "--params", "--pretrained_params", dest="params", required=True,
                   help="weights: .safetensors, a training checkpoint (.pt), a PaddleVideo .pdparams or hf://ORG/NAME")
    p.add_argument("-o", "--output", "--output_path", "--output_dir", required=True, help="output directory")
    p.add_argument("--dynamic_spatial", action=BoolFlag, help="base models: allow other frame sizes")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    p.add_argument("--format", choices=("onnx", "litert"), default="onnx",
                   help="onnx (default) or litert: a .tflite for phones (needs pip install \"movinet[litert]\")")
    p.add_argument("--precision", choices=("fp32", "fp16", "int8"), default="fp32",
                   help="litert: fp16 weights, or int8 calibrated on the config's data (see --calibration_split)")
    p.add_argument("--calibration_split", choices=("train", "val", "test"), default="val",
                   help="int8: the config's split whose clips calibrate (default val)")
    p.add_argument("--calibration_clips", type=int, default=16, help="int8: calibration clips (default 16)")

    p = _add(sub, "predict", cmd_predict, "classify video files with an exported ONNX or LiteRT model or PyTorch "
             "weights",
             "movinet predict -i clip.mp4 --model_file runs/my_model/export/movinet_a0_stream.onnx",
             "movinet predict -i my_videos/ -w runs/my_model/best.safetensors --json")
    p.add_argument("-i", "--input", "--input_file", dest="input_file", required=True,
                   help="a video, a directory of videos (class folders included), or a .txt list")
    _add_config(p, "the training config (optional: the model files carry their settings)")
    p.add_argument("--model_file", help="OUT_DIR/<model>.onnx or .tflite written by `movinet export` (a Paddle "
                   ".pdmodel "
                   "name in a directory holding one movinet export stands for that export)")
    p.add_argument("-w", "--weights", "--params_file", help="PyTorch weights (.safetensors, training .pt, "
                   ".pdparams or hf://ORG/NAME) instead of an ONNX model; next to --model_file X.onnx a Paddle "
                   ".pdiparams name is ignored (the ONNX file holds its weights)")
    p.add_argument("--use_gpu", action=BoolFlag, help="ONNX Runtime CUDA execution provider")
    p.add_argument("--use_tensorrt", action=BoolFlag, help="ONNX Runtime TensorRT execution provider")
    _add_threads(p, "cpu_threads", "ONNX Runtime or PyTorch")
    _add_top_k(p, "print the k best classes")
    p.add_argument("-b", "--batch_size", type=int, default=1, help="videos per model call")
    p.add_argument("--json", action=BoolFlag, help="one JSON object per file instead of text")

    p = _add(sub, "stream", cmd_stream, "online inference on a video file, camera index or RTSP/HTTP URL, "
             "frame by frame", "movinet stream -i 0 --model_file runs/my_model/export/movinet_a0_stream.onnx")
    p.add_argument("-i", "--input", "--input_file", dest="input", required=True,
                   help="video file, camera index (e.g. 0) or rtsp:// / http:// URL")
    p.add_argument("--model_file", help="a stream model exported by `movinet export` (.onnx or .tflite)")
    p.add_argument("-w", "--weights", help="stream-model weights (.safetensors, training .pt or hf://ORG/NAME) to "
                   "run with PyTorch; with -c, a base model whose config sets model.causal: true streams too")
    _add_config(p, "the training config (optional)")
    p.add_argument("--use_gpu", action=BoolFlag, help="ONNX Runtime CUDA execution provider")
    _add_threads(p, "cpu_threads", "ONNX Runtime or PyTorch")
    _add_top_k(p, "report the k best classes")
    p.add_argument("--fps", type=float, default=None, help="resample to this rate, > 0 (default: the rate the "
                   "model was trained at, 5 fps for the official stream models)")
    p.add_argument("--chunk", type=int, default=1, help="frames per model step")
    p.add_argument("--max_frames", type=int, default=None, help="stop after this many model frames")
    p.add_argument("--json_out", default=None, help="write JSON lines per step to this file ('-' for stdout)")
    p.add_argument("--annotate", default=None, metavar="OUT.mp4", help="write the video with the top-k drawn on it")
    p.add_argument("--print_every", type=int, default=1, help="print every N steps (0: only the summary)")

    p = _add(sub, "serve", cmd_serve, "serve a stream model: live page, HTTP API and WebSocket streams, "
             "many streams batched on one model",
             "movinet serve --model_file runs/my_model/export/movinet_a0_stream.onnx --port 8000")
    p.add_argument("--model_file", help="a stream model exported by `movinet export` (.onnx or .tflite, + .json "
                   "sidecar)")
    p.add_argument("-w", "--weights", help="stream-model weights (.safetensors) to run with PyTorch")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    p.add_argument("--use_gpu", action=BoolFlag, help="run the model on CUDA")
    _add_threads(p, "threads", "ONNX Runtime or PyTorch")
    p.add_argument("--fps", type=float, default=None, help="stream rate (default: the model's training rate)")
    _add_top_k(p, "classes per streamed result")
    p.add_argument("--max_streams", type=int, default=32, help="concurrent streams (default 32)")
    p.add_argument("--max_batch", type=int, default=16, help="most streams per model call (1: no batching)")
    p.add_argument("--batch_window_ms", type=float, default=4.0,
                   help="how long a frame waits for other streams' frames to join its batch (default 4)")
    p.add_argument("--max_upload_mb", type=float, default=100.0, help="largest POST /predict upload (default 100)")
    p.add_argument("--upload_timeout", type=float, default=60.0,
                   help="seconds an upload's body may take to arrive (default 60)")
    p.add_argument("--max_streams_per_client", type=int, default=8,
                   help="concurrent streams from one client address (default 8)")
    p.add_argument("--idle_timeout", type=float, default=60.0,
                   help="close a stream that sends no frame for this many seconds (default 60; close code 4408)")
    p.add_argument("--token", default=None, help="access token the server requires (default: $MOVINET_SERVE_TOKEN; "
                   "one is generated and printed in the URL when --host is not loopback)")
    p.add_argument("--no_token", action=BoolFlag, help="serve without a token even when --host is not loopback "
                   "(anyone who can reach the address may use the server)")
    p.add_argument("--allow_origin", action="append", default=[], metavar="ORIGIN",
                   help="a web page origin besides the server's own that may use /ws and POST, e.g. "
                   "https://app.example.com ('*': any); repeatable")
    p.add_argument("--allow_host", action="append", default=[], metavar="NAME",
                   help="another name the server is reached by (a DNS name, a proxy's Host; '*': any); repeatable")
    p.add_argument("--log_level", default="warning", choices=["critical", "error", "warning", "info", "debug"],
                   help="server log level (default warning)")

    p = _add(sub, "push", cmd_push, "upload a run's weights, sidecar and a generated model card to the Hugging Face "
             "Hub (movinet[hub]; log in with `hf auth login` or set HF_TOKEN)",
             "movinet push runs/my_model --repo YOUR_NAME/my_model")
    p.add_argument("source", help="a run directory (its best.safetensors, else final.safetensors, with the test "
                   "report and config) or a .safetensors file")
    p.add_argument("--repo", required=True, help="the Hub repository, ORG/NAME (created if missing)")
    p.add_argument("--private", action=BoolFlag, help="create the repository private")
    p.add_argument("--revision", default=None, help="branch to commit to (default main)")
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


def show_warning_line(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                      file: object = None, line: str | None = None) -> None:
    """`warnings.showwarning` of the command line: one line, `movinet: warning: MESSAGE`, not Python's
    `file.py:123: Category: message` followed by the source line."""
    print(f"movinet: warning: {message}", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `movinet` console script; returns the exit code."""
    args = build_parser().parse_args(argv)
    args.command_line = " ".join(["movinet", *(sys.argv[1:] if argv is None else argv)])
    from movinet.process import apply_command_settings

    apply_command_settings(args.command)
    try:
        with warnings.catch_warnings():
            warnings.showwarning = show_warning_line
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
