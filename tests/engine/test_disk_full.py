"""A checkpoint save that runs out of space raises the OS error (not torch's RuntimeError), says the
previous checkpoint is intact, and leaves it and nothing else behind."""

from __future__ import annotations

import errno
import io
import subprocess
import sys

import pytest
import torch

import movinet.files
from movinet.cli import os_error_message
from movinet.engine.checkpoint import atomic_torch_save, load_checkpoint


def test_a_file_size_limit_during_a_save_is_the_os_error(tmp_path):
    """A real write failure (RLIMIT_FSIZE: EFBIG, the way a full disk fails with ENOSPC) through torch.save."""
    code = """
import resource, signal, sys, torch
from movinet.engine.checkpoint import atomic_torch_save
atomic_torch_save({"w": torch.zeros(10)}, sys.argv[1])
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))
try:
    atomic_torch_save({"w": torch.zeros(1 << 20)}, sys.argv[1])
except OSError as error:
    print(error.errno, error.strerror)
"""
    path = tmp_path / "last.pt"
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    number, _, message = done.stdout.strip().partition(" ")
    assert int(number) == errno.EFBIG
    assert f"while writing {path}; the previous last.pt is intact: free some space" in message
    assert torch.equal(torch.load(path, weights_only=True)["w"], torch.zeros(10))
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


class FullDisk(io.RawIOBase):
    """A file that takes 1000 bytes, then fails as a full disk does."""

    def __init__(self, path, mode="rb", *args, **kwargs) -> None:
        self.real = open(path, mode)  # noqa: SIM115 - closed in close()
        self.written = 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self.written += len(data)
        if self.written > 1000:
            raise OSError(errno.ENOSPC, "No space left on device")
        return self.real.write(data)

    def fileno(self) -> int:
        return self.real.fileno()

    def close(self) -> None:
        self.real.close()
        super().close()


def test_no_space_left_is_one_line_saying_the_checkpoint_is_intact(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    atomic_torch_save({"format": "movinet-train-checkpoint", "model": {}, "optimizer": {}, "epoch": 1,
                       "step_in_epoch": 0, "global_step": 2, "config": {}}, path)
    monkeypatch.setattr(movinet.files, "open", FullDisk, raising=False)
    with pytest.raises(OSError) as caught:
        atomic_torch_save({"w": torch.zeros(1 << 16)}, path)
    assert caught.value.errno == errno.ENOSPC and not isinstance(caught.value, RuntimeError)
    line = os_error_message(caught.value)
    assert "\n" not in line and line.startswith("No space left on device while writing")
    assert "the previous last.pt is intact" in line
    monkeypatch.undo()
    assert load_checkpoint(path)["global_step"] == 2
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]
