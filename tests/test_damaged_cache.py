"""A cached release cut short (a full disk, a killed copy) is named, deleted and fetched again instead
of failing every later run with "convert foreign checkpoints first"."""

from __future__ import annotations

import logging

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
