"""`movinet finetune DATA_DIR`: a pretrained MoViNet fine-tuned on a folder of your own videos.

    result = finetune("my_videos", model="movinet_a0_stream", weights="kinetics600", output_dir="runs/mine")
    print("\\n".join(result["next_commands"]))        # test, export, predict, serve, push

`DATA_DIR` holds one folder per class, either directly (`DATA_DIR/<class>/<video>`: a validation
split is held out, seeded, and written to `OUTPUT_DIR/splits/`) or already split
(`DATA_DIR/train/<class>/...`, `DATA_DIR/val/<class>/...`, optionally `DATA_DIR/test/<class>/...`).
The class names are the folder names; no labels file is needed.

The recipe is the packaged `finetune.yaml`; this module only fills in the data, the model, the
weights and the output directory, as `-O KEY=VALUE` overrides of it, so a fine-tuning run is
exactly `movinet train -c finetune.yaml --validate -O ...` with those overrides (the command is
printed and stored in `OUTPUT_DIR/finetune.json`, beside the run's resolved `config.yaml`).
"""

from __future__ import annotations

import json
import logging
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from movinet.engine.config import Config, load_config
from movinet.files import atomic_write_text
from movinet.models.registry import get_model_info

log = logging.getLogger("movinet.finetune")

RECIPE = "finetune.yaml"
SPLIT_DIR = "splits"
RECORD = "finetune.json"
NO_WEIGHTS = ("none", "scratch")


@dataclass(frozen=True)
class DataLayout:
    """Where the splits of a fine-tuning folder are, as `data:` overrides.

    Attributes:
        overrides: `data.*` KEY=VALUE settings of the recipe.
        num_train: training videos (a batch larger than this could never make a step).
        description: one line for the console ("given train/ and val/ folders", "held out ...").
        split: the held-out split's record for `finetune.json` (None when the folder had splits).
        val_dir_or_list: where the validation videos are listed (a folder or a list file).
        example_video: one validation video, for the printed `predict` command.
        has_test: the folder has its own test/ split.
    """

    overrides: list[str]
    num_train: int
    description: str
    split: dict[str, Any] | None
    val_dir_or_list: Path
    example_video: Path
    has_test: bool


def _first_video(folder: Path) -> Path:
    from movinet.data.datasets import scan_class_folders

    return scan_class_folders(folder)[0][0].path


def _given_splits(data_dir: Path) -> DataLayout:
    """`DATA_DIR/train`, `DATA_DIR/val` (and `DATA_DIR/test`) class folders."""
    from movinet.data.datasets import scan_class_folders

    train, class_names = scan_class_folders(data_dir / "train")
    scan_class_folders(data_dir / "val", class_names)  # a val folder of unknown classes fails here
    has_test = (data_dir / "test").is_dir()
    overrides = ["data.format=folders", f"data.root={data_dir}", "data.train_list=train", "data.val_list=val",
                 f"data.test_list={'test' if has_test else 'val'}", 'data.labels_file=""']
    splits = "train/, val/ and test/" if has_test else "train/ and val/"
    return DataLayout(overrides, len(train), f"{len(class_names)} classes from the {splits} folders of {data_dir}",
                      None,
                      data_dir / "val", _first_video(data_dir / "val"), has_test)


def _held_out_split(data_dir: Path, out_dir: Path, val_fraction: float, seed: int, overwrite: bool) -> DataLayout:
    """Class folders directly in `DATA_DIR`: hold out a seeded validation split, written as lists."""
    from movinet.data.splits import hold_out_split, recorded_split_differs, write_split_lists

    split = hold_out_split(data_dir, val_fraction=val_fraction, seed=seed)
    split_dir = out_dir / SPLIT_DIR
    if not overwrite and recorded_split_differs(split, split_dir):
        raise ValueError(f"{split_dir} holds another split of the videos (another folder, seed or fraction); "
                         "fine-tune into another --output directory, or replace that run with --overwrite")
    paths = write_split_lists(split, split_dir)
    counts = split.counts()
    overrides = ["data.format=videos", f"data.root={data_dir}", f"data.train_list={paths['train']}",
                 f"data.val_list={paths['val']}", f"data.test_list={paths['val']}",
                 f"data.labels_file={paths['labels']}"]
    record = {"val_fraction": val_fraction, "seed": seed, "lists": {k: str(v) for k, v in paths.items()},
              "train_videos": counts["train"], "val_videos": counts["val"]}
    description = (f"{len(split.class_names)} classes from the folders of {data_dir}: {len(split.train)} training "
                   f"videos, {len(split.val)} held out for validation (seed {seed}, fraction {val_fraction:g}) -> "
                   f"{split_dir}")
    return DataLayout(overrides, len(split.train), description, record, paths["val"], split.val[0].path, False)


def data_layout(data_dir: str | Path, out_dir: Path, *, val_fraction: float = 0.2, seed: int = 0,
                overwrite: bool = False) -> DataLayout:
    """How a fine-tuning folder is read: its own train/ and val/ splits, or a held-out split of its
    class folders (written to `out_dir/splits`).

    Raises:
        FileNotFoundError: `data_dir` does not exist.
        ValueError: no class folders, a class without videos, a train/ folder without val/, or a
            different split already written in `out_dir`.
    """
    root = Path(data_dir).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a directory; give a folder with one sub-folder of videos per class "
                                "(DATA_DIR/<class_name>/<video>)")
    if (root / "train").is_dir():
        if not (root / "val").is_dir():
            raise ValueError(f"{root} has train/ but no val/ folder; add {root}/val/<class_name>/<video>, or put the "
                             "class folders directly in the folder to have a validation split held out")
        return _given_splits(root)
    return _held_out_split(root, out_dir, val_fraction, seed, overwrite)


def model_overrides(model_name: str, weights: str | None) -> list[str]:
    """`model.*` and size overrides of the recipe for `model_name` and its starting weights.

    `weights` None takes the model's published release (Kinetics-600 for the official models);
    "none" trains from random initialisation. The clip is resized and cropped to the model's own
    input size (172 px for A0/A1, 224 for A2, ...), with the recipe's frame count.
    """
    from movinet.hub import default_release

    info = get_model_info(model_name)
    if weights is None:
        weights = default_release(model_name) or "none"
    overrides = [f"model.name={model_name}", f"model.weights={'null' if weights.lower() in NO_WEIGHTS else weights}"]
    _, height, _ = info.input_size
    overrides += [f"data.transform.crop_size={height}", f"data.transform.short_size={info.resize}"]
    if info.family == "paddle":
        overrides += ["data.transform.preset=paddle", "data.transform.normalize=imagenet"]
    return overrides


def train_command(recipe: str, overrides: Sequence[str]) -> str:
    """The `movinet train` command line a fine-tuning run equals."""
    return " ".join(["movinet train -c", shlex.quote(recipe), "--validate",
                     *(f"-O {shlex.quote(item)}" for item in overrides)])


def next_commands(run_dir: Path, weights: Path, model_name: str, example_video: Path, *, causal: bool) -> list[str]:
    """The commands that come after fine-tuning, with this run's paths."""
    q = shlex.quote
    config, export = run_dir / "config.yaml", run_dir / "export"
    onnx = export / f"{model_name}.onnx"
    commands = [
        f"movinet test    -c {q(str(config))} -w {q(str(weights))}",
        f"movinet export  -c {q(str(config))} -w {q(str(weights))} -o {q(str(export))}",
        f"movinet predict -i {q(str(example_video))} --model_file {q(str(onnx))}",
    ]
    if causal:
        commands.append(f"movinet serve   --model_file {q(str(onnx))}")
    commands.append(f"movinet push    {q(str(run_dir))} --repo YOUR_NAME/{q(run_dir.name)}")
    return commands


def finetune_config(data_dir: str | Path, *, model: str | None = None, weights: str | None = None,
                    output_dir: str | Path | None = None, recipe: str | Path = RECIPE,
                    overrides: Sequence[str] = (), val_fraction: float = 0.2, overwrite: bool = False
                    ) -> tuple[Config, list[str], DataLayout]:
    """The resolved fine-tuning config, the overrides of the recipe that make it, and the data layout.

    User `overrides` come last, so they win over what this function fills in.
    """
    base = load_config(recipe, list(overrides))
    model_name = model or base.model.name
    run_dir = Path(output_dir) if output_dir is not None else Path("runs") / f"{Path(data_dir).name}-{model_name}"
    layout = data_layout(data_dir, run_dir, val_fraction=val_fraction, seed=base.train.seed, overwrite=overwrite)
    filled = [*layout.overrides, *model_overrides(model_name, weights), f"train.output_dir={run_dir}"]
    if layout.num_train < base.data.batch_size:  # a small folder: one batch of all its videos
        filled.append(f"data.batch_size={layout.num_train}")
    all_overrides = [*filled, *overrides]
    return load_config(recipe, all_overrides), all_overrides, layout


def finetune(data_dir: str | Path, *, model: str | None = None, weights: str | None = None,
             output_dir: str | Path | None = None, recipe: str | Path = RECIPE, overrides: Sequence[str] = (),
             val_fraction: float = 0.2, overwrite: bool = False, command: str | None = None) -> dict[str, Any]:
    """Fine-tune a pretrained MoViNet on a folder of videos (see the module doc).

    Args:
        data_dir: the folder (class folders, or train/ and val/ splits of them).
        model: registry name (default: the recipe's, movinet_a0_stream).
        weights: starting weights: a release name ("kinetics600"), a file, or "none" (random
            initialisation); default the model's published release.
        output_dir: the run directory (default `runs/<DATA_DIR name>-<model>`).
        recipe: the config to start from (default the packaged finetune.yaml).
        overrides: further `KEY=VALUE` settings (epochs, batch size, device, ...), applied last.
        val_fraction: share of each class held out for validation when the folder has no val/.
        overwrite: replace a run already in `output_dir`.
        command: the command line that started this (recorded in `finetune.json`).

    Returns:
        `fit`'s result plus "weights" (the best validation weights), "config" (the run's
        config.yaml), "train_command", "next_commands", "data" (the layout's description) and
        "record" (the path of finetune.json).
    """
    from movinet.engine.train import fit

    cfg, all_overrides, layout = finetune_config(data_dir, model=model, weights=weights, output_dir=output_dir,
                                                 recipe=recipe, overrides=overrides, val_fraction=val_fraction,
                                                 overwrite=overwrite)
    equivalent = train_command(str(recipe), all_overrides)
    print(f"[finetune] {layout.description}\n[finetune] the same as: {equivalent}", flush=True)
    result = fit(cfg, validate=True, overwrite=overwrite)
    run_dir = Path(result["run_dir"])
    weights_path = Path(result["best_weights"] or result["final_weights"])
    causal = get_model_info(cfg.model.name).causal if cfg.model.causal is None else cfg.model.causal
    record = {"command": command or f"movinet finetune {shlex.quote(str(data_dir))}", "train_command": equivalent,
              "data_dir": str(data_dir), "data": layout.description, "split": layout.split,
              "model": cfg.model.name, "initial_weights": cfg.model.weights, "weights": str(weights_path),
              "best_epoch": result["best_epoch"], "best_val_top1": result["best_top1"],
              "best_val_loss": result["best_val_loss"], "epochs": result["epochs"],
              "has_test_split": layout.has_test}
    record_path = atomic_write_text(run_dir / RECORD, json.dumps(record, indent=2) + "\n")
    return {**result, "weights": str(weights_path), "config": str(run_dir / "config.yaml"),
            "train_command": equivalent, "data": layout.description, "record": str(record_path),
            "has_test_split": layout.has_test,
            "next_commands": next_commands(run_dir, weights_path, cfg.model.name, layout.example_video, causal=causal)}
