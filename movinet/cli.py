"""The `movinet` command line: thin handlers over library functions.

    movinet list
    movinet convert tf CKPT_DIR_OR_TARBALL --model movinet_a0_base -o a0_base.safetensors
    movinet convert paddle MoViNetA0_k400.pdparams --model movinet_a0_paddle -o a0_paddle.safetensors

Heavy imports happen inside handlers so `movinet --help` stays fast. Every handler returns an exit
code; user errors (ValueError, FileNotFoundError) print one line, never a stack trace.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence


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


def cmd_convert(args: argparse.Namespace) -> int:
    if args.source == "tf":
        from movinet.convert.tf import convert_tf

        out = convert_tf(args.input, args.model, args.output)
    else:
        from movinet.convert.paddle import convert_paddle

        out = convert_paddle(args.input, args.model, args.output)
    print(f"wrote {out}")
    return 0


# ------------------------------------------------------------------------------------------------
# parser


def _add(sub: argparse._SubParsersAction, name: str, handler: Callable[[argparse.Namespace], int],
         help_text: str) -> argparse.ArgumentParser:
    parser = sub.add_parser(name, help=help_text, description=help_text)
    parser.set_defaults(func=handler)
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="movinet", description="MoViNet video classification: models, "
                                     "weight conversion, training, export and (online) inference.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = _add(sub, "list", cmd_list, "list the models with input size, parameters and GMACs")
    p.add_argument("--pattern", default="*", help="glob over model names, e.g. '*stream'")
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = _add(sub, "convert", cmd_convert, "convert official TF or PaddleVideo weights to movinet .safetensors")
    p.add_argument("source", choices=["tf", "paddle"], help="tf: TF Model Garden checkpoint (dir, prefix, "
                   ".tar.gz or named-variable .npz); paddle: a PaddleVideo .pdparams")
    p.add_argument("input", help="checkpoint path")
    p.add_argument("--model", required=True, help="target model name (see `movinet list`)")
    p.add_argument("-o", "--output", required=True, help="output .safetensors path (a .json sidecar is written too)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `movinet` console script; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError) as error:
        print(f"movinet {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"movinet {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
