"""The Hugging Face Hub: weights loaded by name (`hf://ORG/NAME`) and runs pushed with a model card.

    model, meta = movinet.load_model("hf://my-org/kitchen-actions")        # downloaded once, cached
    push_to_hub("runs/kitchen", "my-org/kitchen-actions")                  # `movinet push runs/kitchen --repo ...`

A repository made by `movinet push` holds `model.safetensors` (our weights file: the tensors and the
metadata record in its header), `model.json` (the same record for people and JSON-only runtimes) and
`README.md`, a model card generated from the run: model, classes, preprocessing, the test report's
top-1/top-5 and the command that made it.

References: `hf://ORG/NAME`, `hf://ORG/NAME@REVISION`, `hf://ORG/NAME/FILE.safetensors` or timm's
`hf-hub:ORG/NAME`. Files are downloaded by `huggingface_hub` into its cache (`HF_HOME`,
`HF_HUB_CACHE`), from `HF_ENDPOINT` when set (a mirror, or a local server in the tests), read at
each call. After the download the file is checked against the Hub's hash of it (the sha256 of an
LFS file, the git blob id of a small one), then read like any of our files (`movinet.load_model`
checks the metadata and the model), so a corrupt download is deleted and reported, never loaded.

`huggingface_hub` is an optional dependency: `pip install "movinet[hub]"`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from movinet.weights import WeightsError, metadata_path, read_weights

PREFIXES = ("hf://", "hf-hub:")
WEIGHTS_FILE = "model.safetensors"
CARD_FILE = "README.md"
ENDPOINT_ENV = "HF_ENDPOINT"
RUN_WEIGHTS = ("best.safetensors", "final.safetensors")  # what `movinet push RUN_DIR` uploads, first found
_HASH = {64: "sha256", 40: "git-sha1"}
_CHUNK = 1 << 20


class HubError(ValueError):
    """The Hub cannot be reached, refuses a request, or sent a file that does not match its hash."""


@dataclass(frozen=True)
class HubReference:
    """What an `hf://` reference names: a repository, a revision and a file in it."""

    repo_id: str
    revision: str | None = None
    filename: str = WEIGHTS_FILE

    def __str__(self) -> str:
        return f"hf://{self.repo_id}" + (f"@{self.revision}" if self.revision else "") + (
            f"/{self.filename}" if self.filename != WEIGHTS_FILE else "")


def is_hub_reference(source: object) -> bool:
    """Whether `source` is an `hf://` (or `hf-hub:`) reference rather than a path."""
    return isinstance(source, str) and source.startswith(PREFIXES)


def parse_reference(source: str) -> HubReference:
    """`hf://ORG/NAME[@REVISION][/FILE]` (or `hf-hub:...`) -> `HubReference`.

    Raises:
        HubError: not of that form.
    """
    rest = next((source[len(prefix):] for prefix in PREFIXES if source.startswith(prefix)), None)
    parts = rest.split("/") if rest else []
    if len(parts) < 2 or not all(parts[:2]):
        raise HubError(f"{source!r} is not a Hub reference; write hf://ORG/NAME (optionally hf://ORG/NAME@REVISION "
                       "or hf://ORG/NAME/FILE.safetensors)")
    name, _, revision = parts[1].partition("@")
    filename = "/".join(parts[2:]) or WEIGHTS_FILE
    return HubReference(f"{parts[0]}/{name}", revision or None, filename)


def hub_endpoint() -> str | None:
    """`HF_ENDPOINT` as set now (huggingface_hub itself reads it once, at import)."""
    return os.environ.get(ENDPOINT_ENV) or None


def hub_cache_dir() -> str | None:
    """huggingface_hub's cache as the environment says now (`HF_HUB_CACHE`, else `HF_HOME/hub`);
    None leaves huggingface_hub's default (`~/.cache/huggingface/hub`)."""
    if os.environ.get("HF_HUB_CACHE"):
        return os.environ["HF_HUB_CACHE"]
    return os.path.join(os.environ["HF_HOME"], "hub") if os.environ.get("HF_HOME") else None


def _huggingface_hub() -> Any:
    try:
        import huggingface_hub
    except ImportError:
        raise HubError("the Hugging Face Hub needs the huggingface_hub package: pip install \"movinet[hub]\"") from None
    return huggingface_hub


def _hub_failure(action: str, error: BaseException) -> HubError:
    reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    where = hub_endpoint() or "https://huggingface.co"
    return HubError(f"cannot {action} ({where}): {reason}")


# -- download ------------------------------------------------------------------------------------------


def file_hash(path: Path, kind: str) -> str:
    """The Hub's id of a file's content: "sha256" (LFS files) or "git-sha1" (a git blob id)."""
    digest = hashlib.sha256() if kind == "sha256" else hashlib.sha1()  # noqa: S324 - git's blob id, not security
    if kind == "git-sha1":
        digest.update(f"blob {path.stat().st_size}\0".encode())
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_cached_file(path: Path) -> None:
    """Check a file of the huggingface_hub cache against the hash its blob is named by.

    The cache keeps each file as `blobs/<etag>` (the Hub's sha256 or git blob id) behind a
    `snapshots/<commit>/<file>` link; a copy without the link (platforms without symlinks) is not
    checked here.

    Raises:
        HubError: the content does not match; the blob and its link are deleted.
    """
    blob = path.resolve()
    kind = _HASH.get(len(blob.name)) if re.fullmatch(r"[0-9a-f]+", blob.name) else None
    if kind is None or blob == path.absolute():
        return
    actual = file_hash(blob, kind)
    if actual != blob.name:
        blob.unlink(missing_ok=True)
        path.unlink(missing_ok=True)
        raise HubError(f"the downloaded {path.name} does not match the Hub's {kind} {blob.name} (got {actual}): the "
                       "transfer was corrupt; it was deleted, run again to download it anew")


def download_weights(reference: str | HubReference, *, cache_dir: str | os.PathLike | None = None) -> Path:
    """The local path of a Hub repository's weights file, downloaded once into the huggingface_hub cache.

    Raises:
        HubError: a bad reference, huggingface_hub missing, the Hub unreachable or refusing
            (no such repository, revision or file), or a corrupt download.
    """
    ref = parse_reference(reference) if isinstance(reference, str) else reference
    hub = _huggingface_hub()
    from movinet import __version__

    try:
        path = hub.hf_hub_download(ref.repo_id, ref.filename, revision=ref.revision,
                                   cache_dir=cache_dir if cache_dir is not None else hub_cache_dir(),
                                   endpoint=hub_endpoint(), library_name="movinet", library_version=__version__)
    except (OSError, ValueError, ConnectionError, hub.errors.EntryNotFoundError) as error:
        raise _hub_failure(f"download {ref}", error) from None
    verify_cached_file(Path(path))
    return Path(path)


# -- push ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunFiles:
    """What `push_to_hub` uploads from a run: the weights and what describes them."""

    weights: Path
    metadata: dict[str, Any]
    report: dict[str, Any] | None
    config: dict[str, Any] | None
    record: dict[str, Any] | None


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def collect_run(source: str | os.PathLike) -> RunFiles:
    """The weights of a run directory (best.safetensors, else final.safetensors) or a weights file,
    with the run's test report (`test/test_report.json`), config and `finetune.json` when present.

    Raises:
        FileNotFoundError: no such path, or a directory without weights.
        WeightsError: the weights file is not one of ours.
    """
    path = Path(source).expanduser()
    if path.is_dir():
        found = [path / name for name in RUN_WEIGHTS if (path / name).is_file()]
        if not found:
            raise FileNotFoundError(f"{path} holds no {' or '.join(RUN_WEIGHTS)}; give a training run's directory "
                                    "or a .safetensors file")
        weights, run_dir = found[0], path
    elif path.is_file():
        weights, run_dir = path, path.parent
    else:
        raise FileNotFoundError(f"{path} does not exist; give a training run's directory or a .safetensors file")
    if weights.suffix != ".safetensors":
        raise WeightsError(f"{weights} is not a .safetensors file; push the weights a run wrote "
                           "(best.safetensors), or convert it with `movinet convert`")
    _, metadata = read_weights(weights)
    config = None
    if (run_dir / "config.json").is_file():
        config = _read_json(run_dir / "config.json")
    return RunFiles(weights, metadata, _read_json(run_dir / "test" / "test_report.json"), config,
                    _read_json(run_dir / "finetune.json"))


def _report_covers(report: dict[str, Any], weights: Path) -> bool:
    tested = report.get("weights") or []
    return len(tested) == 1 and Path(str(tested[0])).name == weights.name


def _results_section(run: RunFiles) -> list[str]:
    report = run.report
    if report is None:
        return ["No test report was found beside the weights (`movinet test` writes `test/test_report.json` in the "
                "run directory); run it before pushing to publish the model's accuracy here."]
    if not _report_covers(report, run.weights):
        return [f"The run's test report is for {', '.join(map(str, report.get('weights') or []))}, not for the "
                f"pushed {run.weights.name}; no accuracy is claimed for these weights."]
    return [f"| split | videos | top-1 | top-5 |", "|---|---|---|---|",
            f"| {report.get('split', 'test')} | {report.get('num_samples')} | {report['top1']:.4f} | "
            f"{report['top5']:.4f} |", "",
            f"Measured by `movinet test` on `{run.weights.name}` (the run's `test/test_report.json`)."]


def _training_lines(run: RunFiles) -> list[str]:
    lines = []
    if run.record and run.record.get("command"):
        lines += ["```bash", run.record["command"], "```"]
        if run.record.get("train_command"):
            lines += ["", "which is the packaged recipe spelled out as:", "", "```bash", run.record["train_command"],
                      "```"]
    cfg = run.config or {}
    train, optimizer, schedule, data = (cfg.get(key) or {} for key in ("train", "optimizer", "lr_schedule", "data"))
    if train:
        lines += ["", f"Recipe: {train.get('epochs')} epochs (the classifier alone for the first "
                  f"{min(train.get('freeze_backbone_epochs', 0), train.get('epochs', 0))}), batch "
                  f"{data.get('batch_size')}, {optimizer.get('name')} with {schedule.get('name')} learning rate from "
                  f"{schedule.get('base_lr')}, label smoothing {train.get('label_smoothing')}; starting weights "
                  f"{(cfg.get('model') or {}).get('weights') or 'random initialisation'}."]
    return lines or ["The command that made these weights was not recorded (`movinet finetune` records it)."]


def model_card(run: RunFiles, repo_id: str) -> str:
    """The README.md of a pushed model: YAML metadata, then model, classes, results, preprocessing,
    usage and the command that made it."""
    meta = run.metadata
    labels = meta.get("labels") or [str(i) for i in range(int(meta.get("num_classes", 0)))]
    prep = meta.get("preprocessing") or {}
    kind = "stream (causal: frame by frame)" if meta.get("causal") else "base (whole clips)"
    stream = f", fed at {prep.get('stream_fps'):g} fps when streaming" if prep.get("stream_fps") else ""
    lines = [
        "---", "library_name: movinet", "pipeline_tag: video-classification", "tags:", "- video-classification",
        "- movinet", f"- {meta.get('model_name')}", "---", "",
        f"# {repo_id.split('/')[-1]}", "",
        f"A MoViNet video classifier: `{meta.get('model_name')}`, {kind}, {len(labels)} classes, made with "
        "[movinet](https://pypi.org/project/movinet/).", "",
        "## Classes", "", "| class | label |", "|---|---|", *(f"| {i} | {label} |" for i, label in enumerate(labels)),
        "", "## Results", "", *_results_section(run), "",
        "## Preprocessing", "",
        f"{prep.get('frames')} frames ({prep.get('sampling')} sampling, stride {prep.get('temporal_stride')}), shorter "
        f"side resized to {prep.get('resize')} px, centre crop {prep.get('height')}x{prep.get('width')}, RGB "
        f"{'in [0, 1]' if prep.get('normalize') == 'unit' else 'with ImageNet mean/std'}{stream}. The weights' "
        "metadata (`model.json`, and the safetensors header) carries this record; movinet applies it.", "",
        "## Use", "", "```python", "import movinet", "",
        f'print(movinet.classify("clip.mp4", "hf://{repo_id}"))   # the record `movinet predict --json` prints',
        "```", "", "```bash", f"movinet predict -i clip.mp4 -w hf://{repo_id}",
        f"movinet export -w hf://{repo_id} -o export/     # ONNX, for predict/stream/serve without torch", "```", "",
        "## How it was made", "", *_training_lines(run), "",
    ]
    return "\n".join(lines)


@dataclass(frozen=True)
class PushResult:
    """A finished `push_to_hub`: the repository, its address, the files committed, the commit."""

    repo_id: str
    url: str
    files: list[str]
    commit: str | None


def push_to_hub(source: str | os.PathLike, repo_id: str, *, private: bool = False, revision: str | None = None,
                token: str | None = None, commit_message: str | None = None) -> PushResult:
    """Upload a run's weights, their metadata sidecar and a generated model card to a Hub repository
    (created if missing). The token is `token`, else huggingface_hub's (`HF_TOKEN`, `hf auth login`).

    Raises:
        FileNotFoundError / WeightsError: nothing to push at `source` (`collect_run`).
        HubError: a bad repository name, huggingface_hub missing, or the Hub refusing the upload.
    """
    if not re.fullmatch(r"[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*", repo_id):
        raise HubError(f"--repo {repo_id!r} is not a Hub repository name; write ORG/NAME (letters, digits, '-', "
                       "'_', '.')")
    run = collect_run(source)
    hub = _huggingface_hub()
    from movinet import __version__

    api = hub.HfApi(endpoint=hub_endpoint(), token=token, library_name="movinet", library_version=__version__)
    files = {WEIGHTS_FILE: run.weights,
             metadata_path(WEIGHTS_FILE).name: (json.dumps(run.metadata, indent=2) + "\n").encode(),
             CARD_FILE: model_card(run, repo_id).encode()}
    operations = [hub.CommitOperationAdd(path_in_repo=name, path_or_fileobj=content if isinstance(content, bytes)
                                         else str(content)) for name, content in files.items()]
    try:
        url = api.create_repo(repo_id, private=private, exist_ok=True)
        commit = api.create_commit(repo_id, operations, revision=revision,
                                   commit_message=commit_message or f"movinet push of {run.weights.name}")
    except (OSError, ValueError, ConnectionError) as error:
        raise _hub_failure(f"push to {repo_id}", error) from None
    return PushResult(repo_id, str(url), list(files), getattr(commit, "oid", None))
