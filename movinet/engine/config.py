"""Training/testing configuration: YAML file -> nested, typed dataclasses.

A config file has six sections, each a dataclass below: `model`, `data` (`movinet.data.config.DataConfig`),
`optimizer`, `lr_schedule`, `train` and `test`. Every field has a default, so a file only states what it
changes. Loading is strict, so a typo fails at start instead of silently training the wrong recipe:

* an unknown key names its full dotted path and lists the valid keys of its section;
* a wrong type names the key, the expected type and the type it got;
* `-o key.sub=value` overrides (value parsed as YAML) are applied to the raw mapping before validation.

No `_base_` inheritance and no `exec`: one file is one recipe, and its header comment says which.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from movinet.data.config import DataConfig, evaluation_sampling
from movinet.files import atomic_write_text
from movinet.limits import MAX_CLASSES, MAX_FRAMES, MAX_SIDE, MAX_STRIDE, LimitError, check_count

MAX_VIEWS = 64  # clips per video in multi-clip evaluation
MAX_BATCH = 65_536
MAX_WORKERS = 1024


@dataclass
class ModelConfig:
    """Which network to build (see `movinet.list_models()`).

    name: registry name, e.g. "movinet_a0_paddle", "movinet_a0_base", "movinet_a2_stream".
    weights: initial weights (safetensors path or release name); None = random init.
    num_classes: None = from the data when it knows (folders, labels_file), else the model default.
    dropout / stochastic_depth / causal: None = the registry default of `name`.
    """

    name: str = "movinet_a0_paddle"
    weights: str | None = None
    num_classes: int | None = None
    dropout: float | None = None
    stochastic_depth: float | None = None
    causal: bool | None = None


@dataclass
class OptimizerConfig:
    """Optimizer and gradient handling.

    name: "rmsprop" (TF/Paddle rule, eps inside the sqrt), "sgd" or "adamw".
    weight_decay: for rmsprop/sgd a coupled L2: `weight_decay * w` is added to the gradient
        (Paddle `L2Decay(c)` is c; Keras `regularizers.l2(c)` is 2c). For adamw, decoupled decay.
    l2_params: "all" (Paddle: every parameter, BN and biases included) or "conv_kernels"
        (TF: conv/linear kernels only, not the final classifier layer).
    clip_grad_norm: max gradient norm, None = no clipping.
    clip_mode: "global" (one norm over all gradients) or "per_param" (Keras `clipnorm`: each
        parameter's gradient clipped on its own).
    """

    name: Literal["rmsprop", "sgd", "adamw"] = "rmsprop"
    momentum: float = 0.9
    rho: float = 0.9
    eps: float = 1.0
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    nesterov: bool = False
    weight_decay: float = 3e-5
    l2_params: Literal["all", "conv_kernels"] = "all"
    clip_grad_norm: float | None = None
    clip_mode: Literal["global", "per_param"] = "global"


@dataclass
class LRScheduleConfig:
    """Learning rate as a function of training progress, set before every optimizer step.

    name:
        "warmup_cosine": linear warm-up from `warmup_start_lr` to cosine(`warmup`), then
            cosine(p) = base_lr * 0.5 * (1 + cos(pi * p / total)), computed on the absolute position p
            (not shifted by the warm-up). With unit "epoch" and fractional epochs this is PaddleVideo's
            `CustomWarmupCosineDecay` (iter_step=True); with unit "step" it is TF Model Garden's
            `LinearWarmup(CosineDecay)`.
        "constant": `base_lr` throughout.
    unit: "epoch" (p = optimizer steps / steps per epoch) or "step" (p = optimizer steps).
    total: cosine length in `unit`; None = the whole run (train.epochs or train.max_steps).
    """

    name: Literal["warmup_cosine", "constant"] = "warmup_cosine"
    unit: Literal["epoch", "step"] = "epoch"
    base_lr: float = 0.5
    warmup_start_lr: float = 0.001
    warmup: float = 10.0
    total: float | None = 160.0


@dataclass
class TrainConfig:
    """The training loop.

    batch sizes are per process (`data.batch_size`); `global_batch_size`, when set, fixes the
    effective batch: accumulate_steps = global_batch_size / (batch_size * world_size).
    checkpoint_every_iters: also write `last.pt` every N optimizer steps (0 = only at epoch ends),
        so a killed run resumes mid-epoch.
    amp: "auto", "none", "bf16" or "fp16" autocast (CUDA only; an explicit bf16/fp16 on CPU is a
        warning and float32). "auto": bf16 on GPUs that compute in it (Ampere and later), fp16 with
        a grad scaler on older ones, float32 on CPU.
    channels_last: keep weights and clips in the channels-last-3d layout (cuDNN's fast 3D kernels);
        "auto" = on CUDA only.
    compile: run the training step through `torch.compile` (minutes of compilation up front).
    deterministic: deterministic kernels only (on CUDA also a fixed cuBLAS workspace,
        CUBLAS_WORKSPACE_CONFIG=:4096:8 unless set): what makes a resume bit-exact on a GPU; slower.
    time_limit_minutes: stop after the epoch when the next one would end past this wall time
        (null = no limit); the run still validates, checkpoints and exports.
    precise_bn_batches: before each validation (and at the end), recompute BN statistics as the
        average over this many training batches (0 = off); helps short runs whose BN momentum is
        the TF 0.01.
    freeze_backbone_epochs: train only the classifier for the first N epochs (fine-tuning: the new
        head learns before the pretrained backbone moves); the backbone's weights, BN statistics,
        dropout and stochastic depth stay fixed meanwhile. N >= epochs freezes it for the whole run.
    tensorboard: also write TensorBoard event files to `<output_dir>/tensorboard` (needs the
        `tensorboard` package: `pip install "movinet[tensorboard]"`).
    """

    output_dir: str = "output/movinet"
    epochs: int = 160
    max_steps: int | None = None
    seed: int = 1234
    device: Literal["auto", "cpu", "cuda"] = "auto"
    amp: Literal["auto", "none", "bf16", "fp16"] = "auto"
    channels_last: bool | Literal["auto"] = "auto"
    compile: bool = False
    sync_bn: bool = False
    accumulate_steps: int = 1
    global_batch_size: int | None = None
    label_smoothing: float = 0.0
    val_interval: int = 1
    save_interval: int = 10
    checkpoint_every_iters: int = 0
    log_interval: int = 1
    progress: bool = True
    deterministic: bool = False
    time_limit_minutes: float | None = None
    precise_bn_batches: int = 0
    freeze_backbone_epochs: int = 0
    tensorboard: bool = False


@dataclass
class EnsembleMember:
    """One model of a temporal ensemble (MoViNet paper: same architecture, different frame rates).

    weights: safetensors file or training checkpoint (.pt).
    model: registry name; None = `model.name`.
    num_frames / temporal_stride: override `data.sampling` for this member.
    """

    weights: str = ""
    model: str | None = None
    num_frames: int | None = None
    temporal_stride: int | None = None


@dataclass
class TestConfig:
    """`movinet test`.

    split: which list of the data section to evaluate ("test" falls back to `val_list` when
        `test_list` is empty).
    num_frames / temporal_stride: evaluation clips (validation during training and `movinet test`)
        when they differ from training's `data.sampling` (TF A3: train 64 frames, evaluate 120);
        null = `data.sampling`.
    stream: evaluate a causal model frame by frame through `stream_step` (final logits), in
        chunks of `stream_chunk` frames.
    output_dir: where the report goes; "" = `<train.output_dir>/test`.
    ensemble: when not empty, its members' view-averaged logits are averaged (the `-w` weights are
        the first member unless listed).
    """

    split: Literal["test", "val"] = "test"
    num_frames: int | None = None
    temporal_stride: int | None = None
    stream: bool = False
    stream_chunk: int = 1
    output_dir: str = ""
    ensemble: list[EnsembleMember] = field(default_factory=list)


@dataclass
class Config:
    """A whole recipe; see the module docstring."""

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    lr_schedule: LRScheduleConfig = field(default_factory=LRScheduleConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    test: TestConfig = field(default_factory=TestConfig)


class _YamlLoader(yaml.SafeLoader):
    """SafeLoader that also reads `3e-5` / `1e3` as floats (YAML 1.1 wants a dot: `3.0e-5`)."""


_FLOAT_PATTERN = re.compile(
    r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
    |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""",
    re.X,
)
_YamlLoader.yaml_implicit_resolvers = {
    key: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:float"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_YamlLoader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT_PATTERN, list("-+0123456789."))


# A config has a few hundred values. YAML aliases share one node many times, so a small file can
# stand for billions of values once expanded (the "billion laughs"): the count is checked on the
# shared structure, before anything is copied.
MAX_CONFIG_VALUES = 100_000
MAX_CONFIG_BYTES = 1 << 20


def parse_yaml(text: str, source: str = "config") -> Any:
    """Parse YAML text with the config loader's rules (`3e-5` is a float).

    Raises:
        ValueError: the text, with its aliases expanded, would hold more than `MAX_CONFIG_VALUES`
            values (checked without expanding them).
    """
    data = yaml.load(text, Loader=_YamlLoader)
    count = expanded_size(data)
    if count > MAX_CONFIG_VALUES:
        raise ValueError(f"{source}: with its YAML aliases (*name) expanded it would hold {count:,} values, more "
                         f"than the {MAX_CONFIG_VALUES:,} a config may have; write the values out instead of "
                         "repeating aliases")
    return data


def expanded_size(data: Any) -> int:
    """How many values `data` holds once every shared (aliased) node is copied out, counted in
    time linear in the distinct nodes."""
    sizes: dict[int, int] = {}

    def size(node: Any) -> int:
        if not isinstance(node, (dict, list)):
            return 1
        if id(node) in sizes:
            return sizes[id(node)]
        sizes[id(node)] = 1  # a node that contains itself (a recursive alias) counts once
        children = node.values() if isinstance(node, dict) else node
        total = 1 + sum(size(child) for child in children)
        sizes[id(node)] = total
        return total

    return size(data)


def load_config(path: str | Path, overrides: list[str] | None = None) -> Config:
    """Read a YAML config, apply `-o` overrides, validate and return it.

    Args:
        path: the YAML file, or the name of a packaged config ("movinet_k400_frame.yaml"; a file
            of that name in the working directory wins, see `movinet.configs.resolve_config`).
        overrides: strings "key.sub=value"; the value is parsed as YAML ("5", "true", "[1, 2]").

    Raises:
        FileNotFoundError: `path` does not exist and names no packaged config.
        ValueError: bad YAML, a PaddleVideo config, bad override syntax, unknown key, wrong type or
            invalid value.
    """
    from movinet.configs import resolve_config

    path = resolve_config(path)
    try:
        raw = parse_yaml(read_config_text(path), str(path)) or {}
    except yaml.YAMLError as error:
        raise ValueError(f"{path} is not valid YAML: {error}") from error
    except RecursionError:
        raise ValueError(f"{path} nests its values too deeply to be a config") from None
    _refuse_paddlevideo_config(raw, path)
    return config_from_dict(raw, overrides, source=str(path))


# Top-level sections of a PaddleVideo config (configs/recognition/*/*.yaml of PaddleVideo).
_PADDLEVIDEO_SECTIONS = ("MODEL", "DATASET", "PIPELINE", "OPTIMIZER", "METRIC", "INFERENCE")


def _refuse_paddlevideo_config(raw: Any, path: Path) -> None:
    """A PaddleVideo YAML is a different schema: point at movinet's port of the recipe instead."""
    if not isinstance(raw, dict) or not any(key in raw for key in _PADDLEVIDEO_SECTIONS):
        return
    from movinet.configs import list_configs

    port = path.name if path.name in list_configs() else "movinet_k400_frame.yaml"
    raise ValueError(
        f"{path} is a PaddleVideo config (sections {', '.join(k for k in _PADDLEVIDEO_SECTIONS if k in raw)}); "
        f"movinet reads its own format. movinet's port of this recipe is the packaged {port}: use -c {port}, "
        f"or `movinet configs {port} > my.yaml` to edit a copy"
    )


def read_config_text(path: Path) -> str:
    """The text of a config file: a regular file of at most `MAX_CONFIG_BYTES`.

    Raises:
        ValueError: a FIFO, a device or another special file, a file too large to be a config, or
            text that is not UTF-8.
    """
    import stat

    mode = path.stat().st_mode
    if not stat.S_ISREG(mode):
        raise ValueError(f"config {path} is not a regular file (a FIFO, device or socket); pass a YAML file")
    with open(path, "rb") as handle:
        data = handle.read(MAX_CONFIG_BYTES + 1)
    if len(data) > MAX_CONFIG_BYTES:
        raise ValueError(f"config {path} is larger than {MAX_CONFIG_BYTES >> 20} MiB; a config is a short YAML file: "
                         "check that -c names the right file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ValueError(f"config {path} is not UTF-8 text ({error.reason} at byte {error.start}); pass a YAML "
                         "file") from None


def config_from_dict(raw: dict[str, Any], overrides: list[str] | None = None, *, source: str = "config") -> Config:
    """Validate a raw mapping (as read from YAML) into a `Config`; see `load_config`."""
    if not isinstance(raw, dict):
        raise ValueError(f"{source}: the top level must be a mapping of sections, got {type(raw).__name__}")
    count = expanded_size(raw)
    if count > MAX_CONFIG_VALUES:  # checked before the copy below expands shared nodes
        raise ValueError(f"{source}: holds {count:,} values once its shared parts are copied out, more than the "
                         f"{MAX_CONFIG_VALUES:,} a config may have")
    raw = json.loads(json.dumps(raw))  # deep copy; overrides must not mutate the caller's dict
    for override in overrides or []:
        apply_override(raw, override)
    cfg = _build_dataclass(Config, raw, prefix="", source=source)
    try:
        check_config_values(cfg)
    except LimitError as error:
        raise LimitError(f"{source}: {error}") from None
    return cfg


def apply_override(raw: dict[str, Any], override: str) -> None:
    """Set `raw[key][sub]... = value` from "key.sub=value" (value parsed as YAML), in place."""
    key, sep, text = override.partition("=")
    parts = key.strip().split(".")
    if not sep or not all(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*|[0-9]+", part) for part in parts):
        raise ValueError(
            f"bad override {override!r}: expected KEY=VALUE with a dotted key, e.g. -o train.epochs=5 "
            "or -o optimizer.weight_decay=1e-4"
        )
    try:
        value = parse_yaml(text, f"override {override!r}") if text.strip() else None
    except yaml.YAMLError as error:
        raise ValueError(f"bad override {override!r}: the value is not valid YAML ({error})") from error
    node: Any = raw
    for depth, part in enumerate(parts[:-1]):
        if isinstance(node, list):
            node = _list_item(node, part, ".".join(parts[: depth + 1]), override)
            continue
        if node.get(part) is None:
            node[part] = {}
        node = node[part]
        if not isinstance(node, (dict, list)):
            raise ValueError(f"bad override {override!r}: {'.'.join(parts[:depth + 1])} is a value, not a section")
    if isinstance(node, list):
        index = _list_index(node, parts[-1], key, override)
        node[index] = value
    else:
        node[parts[-1]] = value


def _list_index(node: list[Any], part: str, key: str, override: str) -> int:
    if not part.isdigit() or int(part) >= len(node):
        raise ValueError(f"bad override {override!r}: {key} needs an index below {len(node)}")
    return int(part)


def _list_item(node: list[Any], part: str, key: str, override: str) -> Any:
    return node[_list_index(node, part, key, override)]


def _type_name(annotation: Any) -> str:
    if annotation is type(None):
        return "null"
    if isinstance(annotation, type):
        return annotation.__name__
    origin = typing.get_origin(annotation)
    if origin is Literal:
        return "one of " + ", ".join(repr(choice) for choice in typing.get_args(annotation))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(arg) for arg in typing.get_args(annotation))
    if origin is list:
        return f"list of {_type_name(typing.get_args(annotation)[0])}"
    return str(annotation)


def _convert(annotation: Any, value: Any, key: str, source: str) -> Any:
    """Check `value` against a type annotation; returns the value (dataclasses built, ints widened)."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            try:
                return _convert(arg, value, key, source)
            except ValueError:
                continue
    elif origin is Literal:
        if value in typing.get_args(annotation):
            return value
    elif origin is list:
        if isinstance(value, (list, tuple)):
            (item_type,) = typing.get_args(annotation)
            return [_convert(item_type, item, f"{key}.{i}", source) for i, item in enumerate(value)]
    elif dataclasses.is_dataclass(annotation):
        if value is None:  # an empty YAML section (`train:` with nothing under it)
            return annotation()
        if isinstance(value, dict):
            return _build_dataclass(annotation, value, prefix=key, source=source)
    elif annotation is type(None):
        if value is None:
            return None
    elif annotation is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif isinstance(annotation, type) and isinstance(value, annotation):
        return value
    got = f"{type(value).__name__} ({value!r})" if not isinstance(value, (dict, list)) else type(value).__name__
    raise ValueError(f"{source}: config key '{key}' expects {_type_name(annotation)}, got {got}")


def _build_dataclass(cls: type, raw: dict[str, Any], *, prefix: str, source: str) -> Any:
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    for key in raw:
        if key not in names:
            full = f"{prefix}.{key}" if prefix else str(key)
            where = f"under '{prefix}'" if prefix else "at the top level"
            close = difflib.get_close_matches(str(key), names, n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            raise ValueError(
                f"{source}: unknown config key '{full}'. Valid keys {where}: {', '.join(names)}.{hint}"
            )
    kwargs = {}
    for name in names:
        if name in raw:
            full = f"{prefix}.{name}" if prefix else name
            kwargs[name] = _convert(hints[name], raw[name], full, source)
    return cls(**kwargs)


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


def check_config_values(cfg: Config) -> None:
    """Range checks that types alone cannot express; raises ValueError naming the key."""
    t, o, s = cfg.train, cfg.optimizer, cfg.lr_schedule
    _require(t.epochs >= 1, f"train.epochs must be >= 1, got {t.epochs}")
    _require(t.max_steps is None or t.max_steps >= 1, f"train.max_steps must be >= 1 or null, got {t.max_steps}")
    _require(t.accumulate_steps >= 1, f"train.accumulate_steps must be >= 1, got {t.accumulate_steps}")
    _require(t.val_interval >= 1, f"train.val_interval must be >= 1, got {t.val_interval}")
    _require(t.save_interval >= 0, f"train.save_interval must be >= 0 (0 = off), got {t.save_interval}")
    _require(t.checkpoint_every_iters >= 0, f"train.checkpoint_every_iters must be >= 0, got {t.checkpoint_every_iters}")
    _require(t.log_interval >= 1, f"train.log_interval must be >= 1, got {t.log_interval}")
    _require(t.time_limit_minutes is None or t.time_limit_minutes > 0,
             f"train.time_limit_minutes must be > 0 or null, got {t.time_limit_minutes}")
    _require(t.precise_bn_batches >= 0, f"train.precise_bn_batches must be >= 0, got {t.precise_bn_batches}")
    _require(t.freeze_backbone_epochs >= 0,
             f"train.freeze_backbone_epochs must be >= 0 (0 = off), got {t.freeze_backbone_epochs}")
    _require(0.0 <= t.label_smoothing < 1.0, f"train.label_smoothing must be in [0, 1), got {t.label_smoothing}")
    _require(cfg.data.batch_size >= 1, f"data.batch_size must be >= 1, got {cfg.data.batch_size}")
    _require(o.weight_decay >= 0, f"optimizer.weight_decay must be >= 0, got {o.weight_decay}")
    _require(o.eps > 0, f"optimizer.eps must be > 0, got {o.eps}")
    _require(len(o.betas) == 2, f"optimizer.betas needs two values, got {o.betas}")
    _require(o.clip_grad_norm is None or o.clip_grad_norm > 0, f"optimizer.clip_grad_norm must be > 0 or null, got {o.clip_grad_norm}")
    _require(s.base_lr >= 0 and s.warmup_start_lr >= 0, "lr_schedule.base_lr and warmup_start_lr must be >= 0")
    _require(s.warmup >= 0, f"lr_schedule.warmup must be >= 0, got {s.warmup}")
    _require(s.total is None or s.total > 0, f"lr_schedule.total must be > 0 or null, got {s.total}")
    _require(cfg.test.stream_chunk >= 1, f"test.stream_chunk must be >= 1, got {cfg.test.stream_chunk}")
    _check_sizes(cfg)
    for i, member in enumerate(cfg.test.ensemble):
        _require(bool(member.weights), f"test.ensemble.{i}.weights is empty; give a weights file for every member")


def _check_sizes(cfg: Config) -> None:
    """Bounds on the values that size allocations (`movinet.limits`): a clip of 100,000 frames is
    refused here, not by the kernel's OOM killer."""
    d, sampling, transform = cfg.data, cfg.data.sampling, cfg.data.transform
    check_count(sampling.num_frames, "data.sampling.num_frames", MAX_FRAMES)
    check_count(sampling.temporal_stride, "data.sampling.temporal_stride", MAX_STRIDE)
    check_count(sampling.test_num_clips, "data.sampling.test_num_clips", MAX_VIEWS)
    check_count(transform.short_size, "data.transform.short_size", MAX_SIDE)
    check_count(transform.crop_size, "data.transform.crop_size", MAX_SIDE)
    for name in ("batch_size", "val_batch_size", "test_batch_size"):
        check_count(getattr(d, name), f"data.{name}", MAX_BATCH)
    if d.num_workers != "auto":
        check_count(d.num_workers, "data.num_workers", MAX_WORKERS, minimum=0)
    if cfg.model.num_classes is not None:
        check_count(cfg.model.num_classes, "model.num_classes", MAX_CLASSES)
    if cfg.test.num_frames is not None:
        check_count(cfg.test.num_frames, "test.num_frames", MAX_FRAMES)
    if cfg.test.temporal_stride is not None:
        check_count(cfg.test.temporal_stride, "test.temporal_stride", MAX_STRIDE)
    check_count(cfg.test.stream_chunk, "test.stream_chunk", MAX_FRAMES)
    for i, member in enumerate(cfg.test.ensemble):
        if member.num_frames is not None:
            check_count(member.num_frames, f"test.ensemble.{i}.num_frames", MAX_FRAMES)
        if member.temporal_stride is not None:
            check_count(member.temporal_stride, f"test.ensemble.{i}.temporal_stride", MAX_STRIDE)


def eval_data_config(cfg: Config) -> DataConfig:
    """`cfg.data` with the evaluation clip settings of `cfg.test` (num_frames, temporal_stride)."""
    sampling = evaluation_sampling(cfg.data.sampling, cfg.test.num_frames, cfg.test.temporal_stride)
    return dataclasses.replace(cfg.data, sampling=sampling)


def config_to_dict(cfg: Config) -> dict[str, Any]:
    """Plain nested dict of a config (what checkpoints and `config.yaml` store)."""
    return dataclasses.asdict(cfg)


def save_config(cfg: Config, run_dir: str | Path) -> tuple[Path, Path]:
    """Write the resolved config as `config.yaml` and `config.json` in `run_dir`; returns both paths."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    data = config_to_dict(cfg)
    yaml_path, json_path = run_dir / "config.yaml", run_dir / "config.json"
    atomic_write_text(yaml_path, "# Resolved config of this run (defaults and -o overrides applied).\n"
                      + yaml.safe_dump(data, sort_keys=False))
    atomic_write_text(json_path, json.dumps(data, indent=2) + "\n")
    return yaml_path, json_path
