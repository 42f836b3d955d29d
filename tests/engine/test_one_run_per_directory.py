"""One run per directory (a lock with the pid inside, stale when the pid is dead), files movinet did not
write are never overwritten, and what happens before the log opens still reaches it."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from engine_helpers import RandomVideoDataset, tiny_config
from movinet.engine.train import fit
from movinet.files import remove_stale_temp_files, remove_temp_files


LOCK_NAME = ".movinet-run.lock"  # movinet.engine.rundir.LOCK_NAME


def data() -> dict:
    return {"train": RandomVideoDataset(4, 3), "val": RandomVideoDataset(2, 3, views=1)}


@pytest.fixture
def live_pid():
    """The pid of a process that runs while the test does."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    yield process.pid
    process.kill()
    process.wait(timeout=30)


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait(timeout=30)
    return process.pid


def hold_lock(run_dir, pid: int) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / LOCK_NAME).write_text(json.dumps({"pid": pid, "host": socket.gethostname(), "started": 0}))


def test_a_second_run_into_a_directory_in_use_is_refused(tmp_path, live_pid):
    run = tmp_path / "run"
    hold_lock(run, live_pid)  # another `movinet train` is writing here
    with pytest.raises(ValueError, match=rf"already holds a run \(process {live_pid} is training in it now"):
        fit(tiny_config(run), datasets=data())
    assert sorted(p.name for p in run.iterdir()) == [LOCK_NAME]  # nothing of the second run was written


def test_a_resume_into_a_directory_in_use_is_refused(tmp_path, live_pid):
    run = tmp_path / "run"
    fit(tiny_config(run), datasets=data())
    before = (run / "last.pt").read_bytes()
    hold_lock(run, live_pid)
    with pytest.raises(ValueError, match="already holds a run"):
        fit(tiny_config(run, train={"epochs": 2}), resume=str(run / "last.pt"), datasets=data())
    assert (run / "last.pt").read_bytes() == before


def test_a_stale_lock_is_taken_over_and_a_finished_run_leaves_none(tmp_path):
    run = tmp_path / "run"
    hold_lock(run, dead_pid())  # a run killed with SIGKILL leaves its lock behind
    result = fit(tiny_config(run), datasets=data())
    assert result["epochs"] == 1 and not (run / LOCK_NAME).exists()
    assert "took over" in (run / "train.log").read_text()


def test_a_fresh_run_refuses_files_movinet_did_not_write(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("my own config\n")
    (run / "train.log").write_text("my notes\n")
    with pytest.raises(ValueError, match=r"holds files movinet did not write \(config\.yaml, train\.log\)"):
        fit(tiny_config(run), datasets=data())
    assert (run / "config.yaml").read_text() == "my own config\n" and (run / "train.log").read_text() == "my notes\n"
    fit(tiny_config(run), datasets=data(), overwrite=True)
    said = capsys.readouterr().out
    assert "--overwrite: removed 2 files" in said and "config.yaml, train.log" in said  # on the console ...
    assert "--overwrite: removed 2 files" in (run / "train.log").read_text()  # ... and in the new log


def test_a_directory_of_an_earlier_run_without_checkpoints_is_reused(tmp_path):
    run = tmp_path / "run"
    fit(tiny_config(run), datasets=data())
    for name in ("last.pt", "final.safetensors", "final.json"):
        (run / name).unlink()  # a run stopped before its first checkpoint: config.yaml and train.log are movinet's
    assert fit(tiny_config(run), datasets=data())["epochs"] == 1


def test_resume_removes_only_the_temp_files_of_dead_processes(tmp_path, live_pid):
    run = tmp_path / "run"
    fit(tiny_config(run), datasets=data())
    dead, live = run / f".last.pt.tmp-{dead_pid()}", run / f".best.safetensors.tmp-{live_pid}"
    dead.write_bytes(b"half a checkpoint")
    live.write_bytes(b"a write in progress")
    fit(tiny_config(run, train={"epochs": 2}), resume=str(run / "last.pt"), datasets=data())
    assert not dead.exists() and live.exists()
    log = (run / "train.log").read_text()
    assert f"removed {dead}, left by an interrupted checkpoint write" in log  # logged before the log existed


def test_temp_sweeps_keep_the_writes_of_live_processes(tmp_path, live_pid):
    target = tmp_path / "w.safetensors"
    mine, dead, live = (tmp_path / f".w.safetensors.tmp-{pid}" for pid in (os.getpid(), dead_pid(), live_pid))
    for path in (mine, dead, live):
        path.write_bytes(b"x")
    assert sorted(remove_stale_temp_files(target)) == sorted([mine, dead])
    assert live.exists()
    other = tmp_path / f".other.tmp-{dead_pid()}"
    other.write_bytes(b"x")
    assert remove_temp_files(tmp_path) == [other] and live.exists()
