"""OS errors on output paths and foreign inputs are one line and exit code 2, never a traceback."""

from __future__ import annotations

import builtins
import pathlib

import numpy as np
import pytest

from movinet.cli import main
from movinet.data.synthetic import make_motion_video


@pytest.fixture
def tree(tmp_path):
    """A folder-per-class tree for `movinet prepare videolist` (quick: no model involved)."""
    for name in ("grow", "shrink"):
        make_motion_video(tmp_path / "videos" / name / f"{name}.mp4", name, num_frames=4, size=16, seed=0)
    return tmp_path / "videos"


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


def test_a_directory_where_a_file_should_be(tree, tmp_path, capsys):
    (tmp_path / "out.txt").mkdir()
    assert main(["prepare", "videolist", str(tree), "--list", str(tmp_path / "out.txt")]) == 2
    err = one_line_error(capsys)
    assert str(tmp_path / "out.txt") in err and "is a directory where a file is needed" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt", "videos"]  # no temp file left


def test_a_file_where_a_directory_should_be(tree, tmp_path, capsys):
    (tmp_path / "lists").write_text("a file")
    assert main(["prepare", "videolist", str(tree), "--list", str(tmp_path / "lists" / "train.txt")]) == 2
    err = one_line_error(capsys)
    assert str(tmp_path / "lists") in err and "a file stands where a directory is needed" in err


def test_a_read_only_directory(tree, tmp_path, monkeypatch, capsys):
    read_only = tmp_path / "read_only"
    read_only.mkdir()
    read_only.chmod(0o555)
    real_open = builtins.open

    def deny(file, mode="r", *args, **kwargs):  # root ignores file modes: deny the write explicitly
        if read_only in pathlib.Path(file).parents and "w" in mode:
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", deny)
    assert main(["prepare", "videolist", str(tree), "--list", str(read_only / "train.txt")]) == 2
    err = one_line_error(capsys)
    assert f"permission denied on {read_only};" in err


def test_a_fresh_train_into_a_file(tmp_path, capsys):
    (tmp_path / "run").write_text("a file")
    config = tmp_path / "cfg.yaml"
    config.write_text(f"train:\n  output_dir: {tmp_path / 'run'}\n")
    assert main(["train", "-c", str(config)]) == 2
    assert "train.output_dir" in one_line_error(capsys)


def test_an_npz_that_is_not_a_weight_archive(tmp_path, capsys):
    np.savez(tmp_path / "objects.npz", meta=np.array([{"not": "weights"}], dtype=object))
    (tmp_path / "text.npz").write_text("hello")
    for name in ("objects.npz", "text.npz"):
        assert main(["convert", "tf", str(tmp_path / name), "--model", "movinet_a0_base",
                     "-o", str(tmp_path / "x.safetensors")]) == 2
        err = one_line_error(capsys)
        assert "is not a weight archive" in err and "allow_pickle" not in err
