"""A cached release cut short (a full disk, a killed copy) is named, deleted and fetched again instead
of failing every later run with "convert foreign checkpoints first"."""

from __future__ import annotations

import logging
import os

import movinet
from movinet.hub import fetch_pretrained
from tests.test_hub import server, tarball  # noqa: F401 - the local release server of the hub tests


def test_a_truncated_cached_release_is_fetched_again(server, tmp_path, caplog):  # noqa: F811
    path = fetch_pretrained("movinet_a0_base", progress=False)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    with caplog.at_level(logging.WARNING, logger="movinet.loading"):
        model, meta = movinet.load_model("kinetics600", model_name="movinet_a0_base")
    assert meta.name == "movinet_a0_base" and path.read_bytes() == data
    warning = " ".join(record.getMessage() for record in caplog.records)
    assert f"the cached release {path} is damaged" in warning and "fetching it again" in warning


def test_a_killed_conversion_leaves_nothing_behind_the_next_fetch(server, tmp_path, monkeypatch):  # noqa: F811
    import subprocess
    import sys

    from movinet import hub

    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait(timeout=30)
    weights = tmp_path / "cache" / "weights"
    left = weights / f".movinet_a0_base_kinetics600.safetensors.tmp-{process.pid}"  # a fetch killed mid-conversion
    left.mkdir(parents=True)
    (left / "movinet_a0_base_kinetics600.safetensors").write_bytes(b"half converted")
    used = []
    convert = hub._convert
    monkeypatch.setattr(hub, "_convert", lambda release, src, name, out: used.append(out.parent) or
                        convert(release, src, name, out))
    path = fetch_pretrained("movinet_a0_base", progress=False)
    assert sorted(p.name for p in weights.iterdir()) == ["movinet_a0_base_kinetics600.json", path.name]
    assert used[0].name == f".{path.name}.tmp-{os.getpid()}"  # the one temporary naming, swept by pid
