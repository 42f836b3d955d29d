"""One command-line language: the same option for the same thing in every subcommand (the seed's
spellings kept as aliases), an example in every subcommand's help, `--version`, one default top-k,
`-o` for outputs, warnings as one line, scores to 4 digits, `predict DIR` into class folders."""

from __future__ import annotations

import inspect
import re
import shlex
import warnings
from pathlib import Path

import pytest

import movinet
from movinet import cli
from movinet.cli import build_parser, main
from movinet.inference import DEFAULT_TOP_K
from movinet.inference.inputs import collect_inputs
from movinet.inference.report import Result, format_result

REPO = Path(__file__).resolve().parents[1]


def subcommands() -> dict:
    return build_parser()._subparsers._group_actions[0].choices


def parse(*argv: str):
    return build_parser().parse_args(list(argv))


def test_every_subcommand_has_an_example_that_parses():
    for name, sub in subcommands().items():
        help_text = sub.format_help()
        examples = re.findall(r"^  (movinet .*)$", help_text.split("example")[-1], flags=re.M)
        assert examples and all(line.split()[1] == name for line in examples), name
        for line in examples:
            argv = shlex.split(line.split(" > ")[0])[1:]
            assert parse(*argv).command == name, line


def test_version_is_the_package_version(capsys):
    import tomllib

    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.strip() == f"movinet {version}" == \
        f"movinet {movinet.__version__}"


@pytest.mark.parametrize("command, seed, unified, dest", [
    (["predict", "--model_file", "m.onnx"], ["--input_file", "v.mp4"], ["-i", "v.mp4"], "input_file"),
    (["predict", "--model_file", "m.onnx"], ["--input_file", "v.mp4"], ["--input", "v.mp4"], "input_file"),
    (["stream"], ["--input", "v.mp4"], ["-i", "v.mp4"], "input"),
    (["stream"], ["--input", "v.mp4"], ["--input_file", "v.mp4"], "input"),
    (["predict", "-i", "v.mp4"], ["--cpu_threads", "3"], ["--threads", "3"], "cpu_threads"),
    (["stream", "-i", "v.mp4"], ["--cpu_threads", "3"], ["--threads", "3"], "cpu_threads"),
    (["serve"], ["--threads", "3"], ["--cpu_threads", "3"], "threads"),
    (["export", "-c", "c.yaml", "-o", "out"], ["-p", "w.pt"], ["-w", "w.pt"], "params"),
    (["export", "-c", "c.yaml", "-o", "out"], ["--pretrained_params", "w.pt"], ["--weights", "w.pt"], "params"),
    (["export", "-c", "c.yaml", "-p", "w.pt"], ["--output_path", "out"], ["--output_dir", "out"], "output"),
    (["export", "-c", "c.yaml", "-p", "w.pt", "-o", "out"], ["--override", "a.b=1"], ["-O", "a.b=1"], "override"),
    (["train", "-c", "c.yaml"], ["-o", "train.epochs=5"], ["-O", "train.epochs=5"], "override"),
    (["test", "-c", "c.yaml"], ["-o", "test.split=val"], ["--override", "test.split=val"], "override"),
    (["train", "-c", "c.yaml"], ["--output_dir", "runs/x"], ["-o", "runs/x"], "output"),
    (["test", "-c", "c.yaml"], ["--output", "reports"], ["-o", "reports"], "output"),
    (["finetune", "videos"], ["--output_dir", "runs/x"], ["-o", "runs/x"], "output"),
    (["predict", "-i", "v.mp4", "-w", "w.pt"], ["--config", "c.yaml"], ["-c", "c.yaml"], "config"),
])
def test_the_seed_spelling_and_the_unified_one_are_the_same_option(command, seed, unified, dest):
    old, new = parse(*command, *seed), parse(*command, *unified)
    assert getattr(old, dest) == getattr(new, dest) and getattr(new, dest) not in (None, [])


def test_dash_o_is_the_output_and_a_key_value_an_override():
    args = parse("train", "-c", "c.yaml", "-o", "runs/a", "-o", "train.epochs=3", "-O", "data.batch_size=2")
    assert args.output == "runs/a" and args.override == ["train.epochs=3", "data.batch_size=2"]
    assert parse("finetune", "videos", "-o", "train.epochs=1").output is None  # KEY=VALUE: not a directory
    assert parse("convert", "tf", "x.tar.gz", "--model", "movinet_a0_base", "-o", "a=b.safetensors").output == \
        "a=b.safetensors"  # commands that read no config: -o is always the output
    assert cli._output_override("train.output_dir", "runs/a") == ["train.output_dir=runs/a"]


def test_one_default_top_k_everywhere():
    from movinet.inference.classify import Classifier
    from movinet.inference.predict import predict_files
    from movinet.inference.stream import run_stream

    cli_defaults = {name: parse(*argv).top_k for name, argv in (
        ("predict", ["predict", "-i", "v.mp4"]), ("stream", ["stream", "-i", "v.mp4"]), ("serve", ["serve"]))}
    assert set(cli_defaults.values()) == {DEFAULT_TOP_K}
    for function in (predict_files, run_stream, Classifier.__init__, movinet.classify):
        assert inspect.signature(function).parameters["top_k"].default == DEFAULT_TOP_K, function


def test_warnings_print_as_one_line(monkeypatch, capsys):
    def noisy(args):
        warnings.warn("train.amp=bf16 needs CUDA; training in float32 on cpu", UserWarning, stacklevel=1)
        return 0

    monkeypatch.setattr(cli, "cmd_configs", noisy)
    assert main(["configs"]) == 0
    err = capsys.readouterr().err
    assert err == "movinet: warning: train.amp=bf16 needs CUDA; training in float32 on cpu\n"
    assert warnings.showwarning is not cli.show_warning_line  # the process's own setting is back


def test_scores_print_to_four_digits():
    single = Result("a.mp4", classes=[2], labels=["grow"], scores=[0.912345678])
    assert format_result(single).splitlines()[1:] == ["\ttop-1 class: 2", "\ttop-1 label: grow",
                                                      "\ttop-1 score: 0.9123"]
    several = Result("a.mp4", classes=[2, 0], labels=["grow", None], scores=[0.912345678, 0.0876])
    lines = format_result(several, 2).splitlines()
    assert lines[1:4] == ["\ttop-1 class: 2", "\ttop-1 label: grow", "\ttop-1 score: 0.9123"]
    assert lines[4:] == ["\ttop-2 class: [2, 0]", "\ttop-2 label: ['grow', 'n/a']", "\ttop-2 score: [0.9123, 0.0876]"]


def test_predict_dir_takes_the_videos_of_class_folders(tmp_path):
    for relative in ("a/one.mp4", "a/notes.txt", "b/deeper/two.avi", ".hidden/three.mp4", "b/.four.mp4", "top.mkv"):
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_bytes(b"")
    assert collect_inputs(tmp_path) == [str(tmp_path / p) for p in ("a/one.mp4", "b/deeper/two.avi", "top.mkv")]
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    with pytest.raises(ValueError, match="no video files.*nor do its sub-folders"):
        collect_inputs(tmp_path / "empty")


def test_movinet_help_lists_finetune_and_push(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "finetune" in out and "push" in out and "--version" in out
