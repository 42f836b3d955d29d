"""Peak memory of `movinet predict` against the source's resolution: memory must follow the model's
input, not the video's size (issue 16: frames are scaled as they are decoded).

Generates 60-frame H.264 clips with PyAV (640x272, 3840x2160 "4K" and 7680x4320 "8K"; nothing is
committed), exports a random-weight A0 base to ONNX, and runs `movinet predict` on each clip in a
fresh process, reading that process's peak resident set size (`VmHWM` of /proc/self/status at exit:
`ru_maxrss` would count the parent's pages the child had before its `exec`). Target: the 4K clip
peaks at most 2x the 640x272 one. Each row is the median of `--runs` processes; the load average
is printed beside it (on a shared machine other jobs move the timings, not the memory).

    python benchmarks/bench_memory.py [--runs 3] [--skip-8k] [--source DIR] [--json out.json]

`--source DIR` runs `predict` from another checkout (e.g. a `git worktree` of an older commit) with
`PYTHONPATH=DIR`, to compare before and after on the same clips. Not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CLIPS = {"640x272": (272, 640), "4K": (2160, 3840), "8K": (4320, 7680)}
FRAMES, FPS = 60, 25.0
TARGET_RATIO = 2.0


def write_clip(path: Path, height: int, width: int) -> Path:
    """60 frames of smooth moving blobs, H.264 (ultrafast: encoding 8K on two cores takes minutes otherwise)."""
    import av

    rng = np.random.default_rng(0)
    tiles = rng.integers(0, 256, (FRAMES + 8, height // 64 + 2, width // 64 + 2, 3), dtype=np.uint8)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=int(FPS))
        stream.height, stream.width, stream.pix_fmt = height, width, "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "23"}
        for index in range(FRAMES):
            image = tiles[index].repeat(64, axis=0).repeat(64, axis=1)[:height, :width]
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def export_model(folder: Path) -> Path:
    import movinet
    from movinet.export.onnx import export_onnx

    model = movinet.create_model("movinet_a0_base").eval()
    return export_onnx(model, folder, model_name="movinet_a0_base", verify=False).onnx_path


# Runs `movinet` as `python -m movinet` does, then prints the process's peak RSS (kB) as its last line.
_MEASURED = """
import sys
from movinet.cli import main
code = main(sys.argv[1:])
with open("/proc/self/status") as status:
    peak = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
print(f"VmHWM {peak}", file=sys.stderr)
sys.exit(code)
"""


def peak_rss_mib(arguments: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """(peak RSS in MiB, wall seconds) of one `movinet ARGUMENTS` process, run in `cwd` (not a
    checkout: Python puts the working directory first on the import path)."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _MEASURED, *arguments], env=env, cwd=cwd, capture_output=True,
                          text=True, check=False)
    seconds = time.perf_counter() - start
    last = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ""
    if done.returncode != 0 or not last.startswith("VmHWM "):
        raise RuntimeError(f"movinet {' '.join(arguments)} failed ({done.returncode}): {done.stderr[-800:]}")
    return int(last.split()[1]) / 1024.0, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="processes per clip (median)")
    parser.add_argument("--skip-8k", action="store_true", help="leave out the 8K clip (slow to encode)")
    parser.add_argument("--source", default=None, help="run predict from this checkout (PYTHONPATH)")
    parser.add_argument("--json", default=None, help="also write the rows to this file")
    args = parser.parse_args()

    env = dict(os.environ)
    if args.source:
        env["PYTHONPATH"] = str(Path(args.source).resolve())
    rows = []
    with tempfile.TemporaryDirectory(prefix="movinet-bench-memory-") as tmp:
        folder = Path(tmp)
        model = export_model(folder)
        clips = {name: size for name, size in CLIPS.items() if not (args.skip_8k and name == "8K")}
        for name, (height, width) in clips.items():
            clip = write_clip(folder / f"{name}.mp4", height, width)
            command = ["predict", "--input_file", str(clip), "--model_file", str(model), "--cpu_threads", "1"]
            samples = [peak_rss_mib(command, env, folder) for _ in range(args.runs)]
            rows.append({"clip": name, "size": f"{width}x{height}", "file_mb": clip.stat().st_size / 1e6,
                         "peak_rss_mib": statistics.median(rss for rss, _ in samples),
                         "seconds": statistics.median(seconds for _, seconds in samples),
                         "load": os.getloadavg()[0]})
    base = rows[0]["peak_rss_mib"]
    print(f"movinet predict, A0 base ONNX (random weights), {FRAMES}-frame H.264 clips, 1 model thread"
          + (f", source {args.source}" if args.source else ""))
    print(f"{'clip':<8} {'size':>10} {'file MB':>8} {'peak RSS MiB':>13} {'x 640x272':>10} {'s':>6} {'load':>5}")
    for row in rows:
        ratio = row["peak_rss_mib"] / base
        mark = "" if row["clip"] == "640x272" else ("  (target <= 2x: met)" if ratio <= TARGET_RATIO else
                                                   "  (target <= 2x: NOT met)")
        row["ratio"] = ratio
        print(f"{row['clip']:<8} {row['size']:>10} {row['file_mb']:>8.1f} {row['peak_rss_mib']:>13.0f} "
              f"{ratio:>10.2f} {row['seconds']:>6.1f} {row['load']:>5.1f}{mark if row['clip'] == '4K' else ''}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
