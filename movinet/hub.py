"""Pretrained weights: download an official release once, convert it, cache the `.safetensors`.

    path = fetch_pretrained("movinet_a0_stream", "kinetics600")   # ~/.cache/movinet/weights/...
    model = movinet.create_model("movinet_a0_stream", weights="kinetics600")  # the same, via the registry

Releases (public files, see `RELEASES`): TF Model Garden checkpoints on the `tf_model_garden` GCS
bucket (`movinet_a{0..5}_{base,stream}.tar.gz` trained on Kinetics-600,
`movinet_a{0..5}_base_k400.tar.gz` on Kinetics-400) and PaddleVideo's `MoViNetA0_k400.pdparams`.

Cache layout (`MOVINET_HOME`, else `$XDG_CACHE_HOME/movinet`, else `~/.cache/movinet`):

    downloads/<release file>                 the file as downloaded
    weights/<model>_<tag>.safetensors(.json) converted weights: what `fetch_pretrained` returns
    manifest.json                            url, size and sha256 of every download

Downloads go to a temporary file in `downloads/` and are renamed into place only when complete
(size from Content-Length, sha256 recorded); the converted file is written the same way, so an
interrupted run never leaves a file that a later run would trust. A download is reused only if its
sha256 still matches the manifest. `MOVINET_WEIGHTS_URL` replaces every release's base address
(a mirror, or a local server in tests).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from movinet.files import atomic_write_text, remove_stale_temp_files, temp_path

TF_BASE_URL = "https://storage.googleapis.com/tf_model_garden/vision/movinet/"
PADDLE_BASE_URL = "https://videotag.bj.bcebos.com/PaddleVideo-release2.3/"
URL_ENV = "MOVINET_WEIGHTS_URL"
HOME_ENV = "MOVINET_HOME"
TIMEOUT_S = 30.0
_CHUNK = 1 << 20


class DownloadError(ValueError):
    """A release cannot be downloaded (offline, server error, interrupted or corrupt transfer)."""


@dataclass(frozen=True)
class Release:
    """One public weight file.

    Attributes:
        filename: the file name on the server (and in the download cache).
        base_url: the folder it is published in.
        source: "tf" (TF checkpoint tarball) or "paddle" (.pdparams).
        sha256: the expected hash, when known (the publishers list none; see the manifest).
    """

    filename: str
    base_url: str
    source: str
    sha256: str | None = None

    @property
    def url(self) -> str:
        return _join_url(os.environ.get(URL_ENV) or self.base_url, self.filename)


def _join_url(base: str, filename: str) -> str:
    return base if base.endswith(filename) else base.rstrip("/") + "/" + filename


def _official_releases() -> dict[tuple[str, str], Release]:
    releases = {}
    for arch in ("a0", "a1", "a2", "a3", "a4", "a5"):
        for kind in ("base", "stream"):
            name = f"movinet_{arch}_{kind}"
            releases[(name, "kinetics600")] = Release(f"{name}.tar.gz", TF_BASE_URL, "tf")
        k400 = Release(f"movinet_{arch}_base_k400.tar.gz", TF_BASE_URL, "tf")
        releases[(f"movinet_{arch}_base", "kinetics400")] = k400
    return releases


RELEASES: dict[tuple[str, str], Release] = {
    **_official_releases(),
    ("movinet_a0_paddle", "kinetics400"): Release("MoViNetA0_k400.pdparams", PADDLE_BASE_URL, "paddle"),
}


def available_pretrained(model_name: str | None = None) -> list[tuple[str, str]]:
    """(model, tag) pairs with a release, optionally for one model."""
    return sorted(key for key in RELEASES if model_name is None or key[0] == model_name)


def default_release(model_name: str) -> str | None:
    """The release a model name stands for when no tag is given: "kinetics600" for the official
    models, PaddleVideo A0's "kinetics400"; None for a model with no published weights."""
    tags = [tag for _, tag in available_pretrained(model_name)]
    return "kinetics600" if "kinetics600" in tags else (tags[0] if tags else None)


def get_release(model_name: str, tag: str) -> Release:
    """The release of (model, tag); a ValueError lists the tags the model has."""
    release = RELEASES.get((model_name, tag))
    if release is None:
        tags = [t for name, t in available_pretrained(model_name)]
        hint = f"; {model_name} has {', '.join(tags)}" if tags else f"; {model_name} has no published weights"
        raise ValueError(f"no pretrained {tag!r} weights for {model_name!r}{hint}")
    return release


def default_cache_dir() -> Path:
    """`MOVINET_HOME`, else `$XDG_CACHE_HOME/movinet`, else `~/.cache/movinet`."""
    if os.environ.get(HOME_ENV):
        return Path(os.environ[HOME_ENV]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "movinet"


# ------------------------------------------------------------------------------------------------
# manifest


def _read_manifest(cache: Path) -> dict[str, Any]:
    path = cache / "manifest.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_manifest(cache: Path, manifest: dict[str, Any]) -> None:
    atomic_write_text(cache / "manifest.json", json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


# ------------------------------------------------------------------------------------------------
# download


def _offline_hint(model_name: str, release: Release) -> str:
    return (f"download {release.url} by hand, convert it with `movinet convert {release.source} FILE --model "
            f"{model_name} -o {model_name}.safetensors`, and pass weights=PATH (Python) or --weights PATH "
            "(command line)")


def _network_error(error: BaseException, url: str, model_name: str, release: Release) -> DownloadError:
    reason = getattr(error, "reason", error)
    if isinstance(error, urllib.error.HTTPError):
        what = f"the server answered HTTP {error.code} {error.reason}"
    elif isinstance(reason, (socket.timeout, TimeoutError)):
        what = f"no answer within {TIMEOUT_S:g} s"
    elif isinstance(reason, socket.gaierror):
        what = f"the host name cannot be resolved ({reason}); are you offline?"
    elif isinstance(reason, ConnectionRefusedError):
        what = "the connection was refused; are you offline or behind a proxy?"
    else:
        what = str(reason) or type(reason).__name__
    return DownloadError(f"cannot download {url}: {what}. Alternatively, {_offline_hint(model_name, release)}")


def _stream_to(response: Any, handle: Any, expected: int | None, progress: bool, desc: str) -> tuple[int, str]:
    from tqdm import tqdm

    digest, received = hashlib.sha256(), 0
    with tqdm(total=expected, unit="B", unit_scale=True, unit_divisor=1024, desc=desc, disable=not progress,
              leave=False) as bar:
        for block in iter(lambda: response.read(_CHUNK), b""):
            handle.write(block)
            digest.update(block)
            received += len(block)
            bar.update(len(block))
    return received, digest.hexdigest()


def download(url: str, dest: Path, *, model_name: str, release: Release, progress: bool = True) -> dict[str, Any]:
    """Download `url` to `dest` atomically; returns its manifest entry (url, size, sha256).

    Raises:
        DownloadError: offline, HTTP error, timeout, a short or interrupted transfer, a sha256
            different from the release table's. `dest` is then untouched.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temp_files(dest)  # what a killed download left
    tmp = temp_path(dest)
    try:
        with open(tmp, "wb") as handle:
            try:
                with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
                    length = response.headers.get("Content-Length")
                    expected = int(length) if length and length.isdigit() else None
                    received, digest = _stream_to(response, handle, expected, progress, dest.name)
            except (urllib.error.URLError, OSError) as error:
                raise _network_error(error, url, model_name, release) from None
            except Exception as error:  # noqa: BLE001 - http.client.IncompleteRead and friends mid-stream
                raise DownloadError(f"download of {url} was interrupted ({type(error).__name__}: {error}); "
                                    "run again to retry") from None
        if expected is not None and received != expected:
            raise DownloadError(f"download of {url} was interrupted: received {received} of {expected} bytes; "
                                "run again to retry")
        if release.sha256 is not None and digest != release.sha256:
            raise DownloadError(f"{url} has sha256 {digest}, expected {release.sha256}: the file is corrupt or "
                                "was replaced; run again, or " + _offline_hint(model_name, release))
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return {"url": url, "size": received, "sha256": digest}


def _cached_download(cache: Path, release: Release, model_name: str, progress: bool) -> Path:
    """The release file in `downloads/`, fetched unless a copy with the recorded sha256 is there."""
    dest = cache / "downloads" / release.filename
    manifest = _read_manifest(cache)
    entry = manifest.get(release.filename)
    if dest.is_file() and entry and entry.get("size") == dest.stat().st_size and _sha256(dest) == entry.get("sha256"):
        return dest
    entry = download(release.url, dest, model_name=model_name, release=release, progress=progress)
    manifest = _read_manifest(cache)  # another process may have written meanwhile
    manifest[release.filename] = entry
    _write_manifest(cache, manifest)
    return dest


def _forget_download(cache: Path, release: Release) -> None:
    (cache / "downloads" / release.filename).unlink(missing_ok=True)
    manifest = _read_manifest(cache)
    if manifest.pop(release.filename, None) is not None:
        _write_manifest(cache, manifest)


def _convert(release: Release, src: Path, model_name: str, out: Path) -> Path:
    if release.source == "tf":
        from movinet.convert.tf import convert_tf

        return convert_tf(src, model_name, out)
    from movinet.convert.paddle import convert_paddle

    return convert_paddle(src, model_name, out)


def _convert_atomically(release: Release, src: Path, model_name: str, target: Path) -> None:
    from movinet.weights import metadata_path

    remove_stale_temp_files(target)  # what a killed conversion left
    work = temp_path(target)  # a folder: the weights and their sidecar are written there, then moved
    work.mkdir()
    try:
        written = _convert(release, src, model_name, work / target.name)
        sidecar = metadata_path(written)
        if sidecar.is_file():
            os.replace(sidecar, metadata_path(target))
        # The weights go last: their presence is what marks the cache entry complete.
        os.replace(written, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def fetch_pretrained(model_name: str, tag: str = "kinetics600", *, cache_dir: str | os.PathLike | None = None,
                     progress: bool = True) -> Path:
    """The converted `.safetensors` of a published release, downloading and converting it once.

    Args:
        model_name: registry name, e.g. "movinet_a0_stream".
        tag: "kinetics600" or "kinetics400" (see `available_pretrained`).
        cache_dir: cache root (default `default_cache_dir()`).
        progress: show a download progress bar.

    Returns:
        Path of the cached `.safetensors` (with its `.json` sidecar). An existing one is returned
        without any network access.

    Raises:
        ValueError: no release for (model_name, tag).
        DownloadError: offline, interrupted, or the file does not hold the model's weights.
    """
    release = get_release(model_name, tag)
    cache = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    target = cache / "weights" / f"{model_name}_{tag}.safetensors"
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    src = _cached_download(cache, release, model_name, progress)
    try:
        _convert_atomically(release, src, model_name, target)
    except (ValueError, OSError) as error:
        # A complete transfer that does not convert is a bad file: never reuse it.
        _forget_download(cache, release)
        raise DownloadError(f"{release.url} was downloaded but does not hold {model_name} weights ({error}); "
                            f"it was deleted, run again to retry, or {_offline_hint(model_name, release)}") from None
    return target
