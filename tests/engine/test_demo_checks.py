"""`movinet demo` checks everything it needs before it does any work; `--data_only` stops after the data."""

from __future__ import annotations

from pathlib import Path

import pytest

from movinet.cli import main
from movinet.engine import demo


class WorkStarted(Exception):
    """Raised by the patched data generator: the demo began working before its checks failed."""


@pytest.fixture
def no_work(monkeypatch):
    def refuse(*args, **kwargs):
        raise WorkStarted("the demo started generating data")

    monkeypatch.setattr("movinet.data.synthetic.make_motion_dataset", refuse)


def test_missing_packaged_config_fails_before_any_work(tmp_path, monkeypatch, no_work):
    def missing(name):
        raise FileNotFoundError(f"no packaged config named {name!r}")

    monkeypatch.setattr("movinet.configs.packaged_config", missing)
    with pytest.raises((FileNotFoundError, ValueError), match="reinstall movinet"):
        demo.run_demo(str(tmp_path / "work"), max_minutes=1)
    assert not (tmp_path / "work" / "data").exists()


def test_work_dir_with_other_files_is_refused_before_any_work(tmp_path, no_work):
    work = tmp_path / "work"
    work.mkdir()
    (work / "thesis.tex").write_text("mine")
    with pytest.raises(ValueError, match="holds other files.*thesis.tex"):
        demo.run_demo(str(work), max_minutes=1)
    assert sorted(p.name for p in work.iterdir()) == ["thesis.tex"]


def test_work_dir_that_is_a_file_is_one_cli_error(tmp_path, capsys, no_work):
    work = tmp_path / "work"
    work.write_text("not a directory")
    assert main(["demo", "--work_dir", str(work)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "is a file" in err


def test_data_only_generates_the_data_and_stops(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(demo, "VIDEOS_PER_CLASS", 1)
    monkeypatch.setattr(demo, "VAL_VIDEOS_PER_CLASS", 1)
    monkeypatch.setattr(demo, "TEST_VIDEOS_PER_CLASS", 1)
    work = tmp_path / "work"
    assert main(["demo", "--work_dir", str(work), "--data_only"]) == 0
    assert "demo data in" in capsys.readouterr().out
    assert len(list((work / "data").rglob("*.mp4"))) == 2 * demo.NUM_CLASSES
    assert (work / "held_out" / f"{demo.HELD_OUT_CLASS}.mp4").is_file()
    assert not (work / "run").exists()
    # A directory holding only a previous demo's outputs is reused.
    assert main(["demo", "--work_dir", str(work), "--data_only"]) == 0
    assert sorted(p.name for p in Path(work).iterdir()) == ["data", "held_out", "test_data"]
