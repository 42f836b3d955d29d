"""The README's "Fine-tune on your own videos" section works as written: its commands, on a generated
folder of class videos (the demo's synthetic motion generator), give a fine-tuned, tested, exported,
predicted and served model; its Python snippet runs and prints.

The official Kinetics-600 release the section's command downloads is served from 127.0.0.1 through
`MOVINET_WEIGHTS_URL` (the mirror variable the README documents), as a release-style tarball of the
TF fixture checkpoint; nothing leaves the machine.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
import torch

import movinet
from movinet.data.synthetic import make_motion_video
from movinet.export.onnx import export_onnx
from movinet.weights import save_weights

README = Path(__file__).resolve().parents[1] / "README.md"
SECTION = "Fine-tune on your own videos"
REPO = Path(__file__).resolve().parents[1]
# Folder name in the README -> the synthetic motion each class's videos show.
CLASSES = {"clapping": "grow", "jumping": "move_up", "waving": "shrink"}


def readme_section(title: str) -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index(f"## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end != -1 else None]


def code_blocks(section: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", section, flags=re.S)


def make_my_videos(root: Path, per_class: int, *, frames: int = 24, size: int = 96) -> None:
    """`root/<class>/clipNN.mp4`, the README's layout and file names (clapping/clip01.mp4,
    jumping/clip03.mp4, waving/clip05.mp4, ...), each class's videos showing its synthetic motion."""
    for first, (folder, motion) in zip((1, 3, 5), CLASSES.items()):
        for number in range(first, first + per_class):
            make_motion_video(root / folder / f"clip{number:02d}.mp4", motion, num_frames=frames, size=size,
                              fps=25, seed=100 * first + number, style="squares")


def test_the_section_names_the_commands_and_files_the_test_uses():
    section = readme_section(SECTION)
    commands = code_blocks(section, "bash")[0].strip().splitlines()
    assert [line.split()[1] for line in commands] == ["finetune", "test", "export", "predict", "serve"]
    python = code_blocks(section, "python")[0]
    for path in re.findall(r'"(my_videos/[^"]+)"', python):
        assert path.split("/")[1] in CLASSES
    assert "FIGURES_PLACEHOLDER" not in section


def _snippet_files(root: Path) -> None:
    """What the snippet reads, as the section's commands leave it (a small random A0 stream)."""
    make_my_videos(root / "my_videos", 2, frames=12, size=64)
    torch.manual_seed(0)
    model = movinet.create_model("movinet_a0_stream", num_classes=3)
    save_weights(model, root / "runs/my_model/best.safetensors", model_name="movinet_a0_stream",
                 labels=sorted(CLASSES))
    export_onnx(model, root / "runs/my_model/export", model_name="movinet_a0_stream", labels=sorted(CLASSES),
                height=64, width=64, verify=False)


def test_the_python_snippet_runs_as_written_and_prints(tmp_path, monkeypatch, capsys):
    _snippet_files(tmp_path)
    monkeypatch.chdir(tmp_path)
    snippet = code_blocks(readme_section(SECTION), "python")[0]
    exec(compile(snippet, "README.md", "exec"), {"__name__": "__readme__"})  # noqa: S102 - the README's own code
    lines = capsys.readouterr().out.strip().splitlines()
    record = eval(lines[0])  # noqa: S307 - the dict the snippet printed
    assert record["file"] == "my_videos/clapping/clip01.mp4" and len(record["top_k"]) == 3  # all 3 classes
    assert [line.split()[0] for line in lines[1:]] == ["my_videos/clapping/clip01.mp4", "my_videos/waving/clip05.mp4"]
    assert all(line.split()[1] in CLASSES for line in lines[1:])


def _run(command: str, cwd: Path, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess:
    argv = shlex.split(command)
    assert argv[0] == "movinet"
    done = subprocess.run([sys.executable, "-m", "movinet", *argv[1:]], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)
    assert done.returncode == 0, f"{command}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def _serve_and_ask(command: str, cwd: Path, env: dict[str, str]) -> dict:
    """Start the section's serve command on a free port, read /health and /model, stop it by its pid."""
    argv = shlex.split(command)
    server = subprocess.Popen([sys.executable, "-m", "movinet", *argv[1:], "--port", "0"], cwd=cwd, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url = None
        for _ in range(50):
            line = server.stdout.readline()
            found = re.search(r"open (http://127\.0\.0\.1:\d+)/", line)
            if found:
                url = found.group(1)
                break
        assert url, "serve printed no address"
        with urllib.request.urlopen(f"{url}/health", timeout=30) as response:
            health = json.loads(response.read())
        with urllib.request.urlopen(f"{url}/model", timeout=30) as response:
            model = json.loads(response.read())
        return {"health": health, "model": model}
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.slow
def test_the_section_fine_tunes_exports_predicts_and_serves(tmp_path):
    from tests.test_hub import ReleaseServer, release_tarball

    make_my_videos(tmp_path / "my_videos", 4)
    releases = ReleaseServer()
    releases.files["movinet_a0_stream.tar.gz"] = release_tarball(tmp_path, "movinet_a0_stream").read_bytes()
    env = {**os.environ, "MOVINET_WEIGHTS_URL": releases.url, "MOVINET_HOME": str(tmp_path / "cache"),
           "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    section = readme_section(SECTION)
    finetune, test, export, predict, serve = code_blocks(section, "bash")[0].strip().splitlines()
    try:
        # The one change to the README's commands: two epochs and 8-frame clips, to fit a test's time.
        done = _run(finetune + " --epochs 2 -O data.sampling.num_frames=8", tmp_path, env, 1800)
    finally:
        releases.close()
    assert "movinet_a0_stream.tar.gz" in releases.requests
    run = tmp_path / "runs" / "my_model"
    assert {"best.safetensors", "config.yaml", "finetune.json", "training_curves.png"} <= {p.name for p in run.iterdir()}
    assert (run / "splits" / "val.txt").read_text().count("\n") == 3  # one of each class's four held out
    for command in (test, export, predict):
        assert command.split()[1] in done.stdout  # finetune printed what comes next, with these paths
    record = json.loads((run / "finetune.json").read_text())
    assert record["initial_weights"] == "kinetics600" and record["split"]["seed"] == 0

    tested = _run(test, tmp_path, env, 900)
    assert re.search(r"top-1 \d\.\d{4}  top-5 \d\.\d{4}  on 3 videos", tested.stdout)
    _run(export, tmp_path, env, 900)
    predicted = _run(predict, tmp_path, env, 900)
    assert predicted.stdout.count("Current video file: my_videos/") == 12
    assert re.search(r"\ttop-1 score: \d\.\d{4}\n", predicted.stdout)
    served = _serve_and_ask(serve, tmp_path, env)
    assert served["health"]["status"] == "ok" and served["model"]["labels"] == sorted(CLASSES)

    snippet = code_blocks(section, "python")[0]
    ran = subprocess.run([sys.executable, "-c", snippet], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=600)
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert len(ran.stdout.strip().splitlines()) == 3
