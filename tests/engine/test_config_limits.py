"""Configs are small regular files: an alias bomb is refused before it expands, a FIFO or a device is
"not a regular file", and each is one line from the command line."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from movinet.cli import main
from movinet.engine.config import config_from_dict, load_config


def alias_bomb(levels: int, width: int = 10) -> str:
    lines = ["a0: &a0 [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]"]
    for level in range(1, levels):
        lines.append(f"a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * width) + "]")
    lines.append(f"model:\n  name: movinet_a0_base\ntrain:\n  output_dir: *a{levels - 1}")
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_is_refused_before_it_expands(tmp_path):
    config = tmp_path / "bomb.yaml"
    config.write_text(alias_bomb(6))  # 10^6 values once expanded (the 10^9 one runs in a capped child below)
    with pytest.raises(ValueError, match=r"with its YAML aliases \(\*name\) expanded it would hold [\d,]{9} values, more than the 100,000"):
        load_config(config)


def test_an_alias_bomb_stays_small_in_memory(tmp_path):
    """In a child process capped at 1 GB of address space: expanding the bomb would need ~30 GB."""
    config = tmp_path / "bomb.yaml"
    config.write_text(alias_bomb(9))
    code = ("import resource, sys; resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30)); "
            "from movinet.cli import main; sys.exit(main(['test', '-c', sys.argv[1], '-w', 'x']))")
    done = subprocess.run([sys.executable, "-c", code, str(config)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr[-2000:]
    assert len(done.stderr.strip().splitlines()) == 1 and "YAML aliases" in done.stderr


def test_shared_values_in_a_mapping_are_counted_as_copies():
    from movinet.engine.config import MAX_CONFIG_VALUES, expanded_size

    shared = list(range(1000))
    raw = {"model": {"name": "movinet_a0_base"}, "x": [shared] * 200}
    assert expanded_size(raw) > MAX_CONFIG_VALUES
    with pytest.raises(ValueError, match="holds 200,"):
        config_from_dict(raw)


@pytest.mark.parametrize("special", ["fifo", "/dev/zero"])
def test_a_special_file_is_not_a_regular_file(special, tmp_path, capsys):
    path = special
    if special == "fifo":
        path = str(tmp_path / "config.yaml")
        os.mkfifo(path)
    assert main(["test", "-c", path, "-w", "x"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"config {path} is not a regular file" in err


def test_a_huge_config_is_refused_unread(tmp_path):
    config = tmp_path / "big.yaml"
    config.write_text("# " + "x" * (2 << 20) + "\n")
    with pytest.raises(ValueError, match="larger than 1 MiB"):
        load_config(config)
