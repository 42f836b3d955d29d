"""The packaged configs: shipped in the wheel, named bare, listed and printed by `movinet configs`."""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from movinet.cli import main
from movinet.configs import list_configs, packaged_config, resolve_config
from movinet.engine.config import load_config

REPO = Path(__file__).resolve().parents[1]
CHECKOUT_CONFIGS = sorted(path.name for path in (REPO / "configs").glob("*.yaml"))


def test_every_checkout_config_is_packaged():
    assert CHECKOUT_CONFIGS and list_configs() == CHECKOUT_CONFIGS
    package_dir = Path(__import__("movinet").__file__).resolve().parent
    for name in CHECKOUT_CONFIGS:
        assert packaged_config(name).resolve().parent == package_dir / "configs"
        assert load_config(name).model.name  # every packaged recipe loads by its bare name


def test_wheel_ships_every_config(tmp_path):
    """Build a wheel from a clean copy of the tracked files and look inside it."""
    source = tmp_path / "src"
    files = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout.split(b"\0")
    for name in filter(None, (f.decode() for f in files)):
        target = source / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if (REPO / name).is_symlink():
            target.symlink_to((REPO / name).readlink())
        elif (REPO / name).is_file():
            shutil.copy2(REPO / name, target)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp_path / "dist"), str(source)], check=True, capture_output=True)
    (wheel,) = (tmp_path / "dist").glob("movinet-*.whl")
    shipped = {Path(name).name for name in zipfile.ZipFile(wheel).namelist() if name.startswith("movinet/configs/")}
    assert set(CHECKOUT_CONFIGS) <= shipped


def test_bare_name_prefers_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert resolve_config("movinet_k400_frame.yaml") == packaged_config("movinet_k400_frame.yaml")
    assert load_config("movinet_k400_frame.yaml").train.epochs == 160
    assert load_config("movinet_k400_frame").train.epochs == 160  # the extension may be left out
    (tmp_path / "movinet_k400_frame.yaml").write_text("train:\n  epochs: 3\n")
    assert load_config("movinet_k400_frame.yaml").train.epochs == 3


def test_missing_path_with_a_packaged_name_falls_back_with_a_warning(tmp_path, monkeypatch, caplog):
    monkeypatch.chdir(tmp_path)
    seed_path = "configs/recognition/movinet/movinet_k400_frame.yaml"  # the seed's command line
    with caplog.at_level(logging.WARNING, logger="movinet.config"):
        cfg = load_config(seed_path)
    assert cfg.model.name == "movinet_a0_paddle"
    assert seed_path in caplog.text and "packaged movinet_k400_frame.yaml" in caplog.text


def test_unknown_config_lists_the_packaged_ones(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match="movinet_k400_frame.yaml") as info:
        load_config("no_such_recipe.yaml")
    assert "no_such_recipe.yaml not found" in str(info.value)


def test_a_paddlevideo_config_points_at_the_port(tmp_path):
    path = tmp_path / "movinet_k400_frame.yaml"
    path.write_text("MODEL:\n  framework: MoViNetRecognizerFrame\nDATASET:\n  batch_size: 32\nmodel_name: MoViNet\n")
    with pytest.raises(ValueError, match="PaddleVideo config") as info:
        load_config(path)
    assert "-c movinet_k400_frame.yaml" in str(info.value)


def test_cli_lists_and_prints_configs(capsys):
    assert main(["configs"]) == 0
    listing = capsys.readouterr().out
    for name in CHECKOUT_CONFIGS:
        assert name in listing
    assert "66.62" in listing  # the summary says which published recipe a config reproduces
    assert main(["configs", "movinet_k400_frame.yaml"]) == 0
    assert capsys.readouterr().out == packaged_config("movinet_k400_frame.yaml").read_text()
    assert main(["configs", "nope.yaml"]) == 2
    assert "demo.yaml" in capsys.readouterr().err
