"""A release tarball gives up only its checkpoint files, within a size cap: a small archive that
expands to gigabytes writes nothing of the rest (the probe's 14.7 MB archive wrote 3 GiB)."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

import movinet.convert.tensorbundle as tensorbundle
from movinet.convert.tensorbundle import CheckpointError, _safe_extract, read_tf_checkpoint


class Zeros(io.RawIOBase):
    """`size` zero bytes, read lazily (gzip makes them a few KB per MB)."""

    def __init__(self, size: int) -> None:
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        count = min(len(buffer), self.left)
        buffer[:count] = bytes(count)
        self.left -= count
        return count


def release_with_extra(fixtures_dir: Path, path: Path, extra_name: str, extra_size: int) -> Path:
    with tarfile.open(path, "w:gz", compresslevel=1) as tar:
        tar.add(fixtures_dir / "tf_a0_base" / "ckpt", arcname="movinet_a0_base")
        member = tarfile.TarInfo(extra_name)
        member.size = extra_size
        tar.addfile(member, Zeros(extra_size))
    return path


def test_only_the_checkpoint_files_are_extracted(fixtures_dir: Path, tmp_path: Path):
    tarball = release_with_extra(fixtures_dir, tmp_path / "release.tar.gz", "movinet_a0_base/saved_model.pb", 64 << 20)
    dest = tmp_path / "out"
    _safe_extract(tarball, dest)
    written = sorted(p.name for p in dest.rglob("*") if p.is_file())
    assert "saved_model.pb" not in written and any(name.endswith(".index") for name in written)
    assert sum(p.stat().st_size for p in dest.rglob("*") if p.is_file()) < 32 << 20
    assert len(read_tf_checkpoint(tarball).tensors) == 334


def test_checkpoint_files_past_the_cap_are_refused_before_writing(fixtures_dir: Path, tmp_path: Path, monkeypatch):
    tarball = release_with_extra(fixtures_dir, tmp_path / "bomb.tar.gz",
                                 "movinet_a0_base/ckpt-1.data-00001-of-00002", 64 << 20)
    dest = tmp_path / "out"
    with pytest.raises(CheckpointError, match="checkpoint files hold more than 32 MiB"):
        _safe_extract(tarball, dest, max_bytes=32 << 20)
    assert not (dest / "movinet_a0_base" / "ckpt-1.data-00001-of-00002").exists()
    monkeypatch.setattr(tensorbundle, "MAX_EXTRACT_BYTES", 32 << 20)
    with pytest.raises(CheckpointError, match="refusing to extract"):
        read_tf_checkpoint(tarball)
