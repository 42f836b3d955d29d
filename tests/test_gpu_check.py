"""benchmarks/gpu_check.py, the one prepared GPU check, in its smoke mode (CPU, tiny sizes): every
measurement and the report run here, so the script cannot rot before a GPU session uses it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_gpu_check_smoke_measures_every_section_and_writes_the_table(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--smoke", "--out", str(tmp_path)]
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    assert report["smoke"] is True and report["device"].startswith("CPU")
    rows = report["rows"]
    assert rows[0]["section"] == "cuda tests" and rows[0]["value"] == 0.0, rows[0]
    measured = {row["section"] for row in rows[1:] if row["value"] and row["value"] > 0}
    assert measured == {"training", "inference", "stream", "loader"}, rows
    assert all(not row["note"] for row in rows[1:]), [row for row in rows if row["note"]]
    table = (tmp_path / "gpu_check.md").read_text()
    assert "SMOKE" in table and "| stream |" in table and report["loader_verdict"] in table
    assert "tests collected" in (tmp_path / "cuda_tests.txt").read_text()
