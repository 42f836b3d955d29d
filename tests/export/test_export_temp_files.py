"""Exports write under movinet's one temporary naming (`.NAME.tmp-PID`): what a killed export left is
removed by the next one, a running one's is kept, and the sidecar's size must be one the graph takes."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

import movinet
from movinet.export.onnx import export_onnx
from movinet.inference.backends import load_predictor
from movinet.inference.backends.sidecar import SidecarError


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait(timeout=30)
    return process.pid


def test_a_killed_exports_temp_file_goes_with_the_next_export(tmp_path):
    left = tmp_path / f".movinet_t0_base.onnx.tmp-{dead_pid()}"
    left.write_bytes(b"half a graph")  # what SIGKILL during an export leaves
    model = movinet.create_model("movinet_t0_base", num_classes=3).eval()
    export_onnx(model, tmp_path, model_name="movinet_t0_base", frames=2, height=32, width=32, verify=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["movinet_t0_base.json", "movinet_t0_base.onnx"]


def test_a_sidecar_size_the_graph_refuses_is_one_line(base_onnx, tmp_path):
    for suffix in (".onnx", ".json"):
        shutil.copy(base_onnx.with_suffix(suffix), tmp_path / f"model{suffix}")
    sidecar = json.loads((tmp_path / "model.json").read_text())
    sidecar["preprocessing"].update(height=96, width=96, resize=108)
    (tmp_path / "model.json").write_text(json.dumps(sidecar))
    with pytest.raises(SidecarError, match=r"preprocessing\.height is 96, but the graph model\.onnx takes frames of 64 px"):
        load_predictor(tmp_path / "model.onnx")
