"""The synthetic motion dataset: classes differ in motion, not in any single frame."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from movinet.data import synthetic
from movinet.data.datasets import read_labels_file, read_list_file, scan_class_folders
from movinet.data.synthetic import FLIP_INVARIANT_CLASSES, MOTION_CLASSES, make_motion_dataset, make_motion_video, render_motion_clip
from movinet.data.video import open_video

CLIPS_PER_CLASS = 24


@pytest.fixture(scope="module")
def clips() -> dict[str, np.ndarray]:
    """CLIPS_PER_CLASS rendered clips (16 x 64 x 64) of every class."""
    return {
        name: np.stack(
            [render_motion_clip(name, np.random.default_rng([label, index])) for index in range(CLIPS_PER_CLASS)]
        )
        for label, name in enumerate(MOTION_CLASSES)
    }


def _edges(clip: np.ndarray) -> np.ndarray:
    """(T, H-3, W-3) bool: strong gradients of the 3x3-blurred grey frames (the bar's outline and
    stripes; the blur keeps the background's pixel noise out)."""
    grey = clip.astype(np.float32).mean(-1)
    height, width = grey.shape[1:]
    blurred = sum(grey[:, i : height - 2 + i, j : width - 2 + j] for i in range(3) for j in range(3)) / 9
    return (np.abs(np.diff(blurred, axis=2))[:, :-1] + np.abs(np.diff(blurred, axis=1))[:, :, :-1]) > 12


def _circular_centroid(weights: np.ndarray, axis: int) -> np.ndarray:
    """Per-frame centroid, as an angle, along x (axis=1) or y (axis=2) of a (T, H, W) map on a torus."""
    profile = weights.sum(axis=axis)
    phase = np.exp(2j * np.pi * np.arange(profile.shape[-1]) / profile.shape[-1])
    return np.angle((profile * phase).sum(-1))


@pytest.mark.parametrize("seed", range(3))
def test_first_frame_is_the_same_for_every_class(seed: int) -> None:
    # All random draws happen in the same order for every class; only the motion differs.
    first_frames = [render_motion_clip(name, np.random.default_rng(seed), num_frames=4)[0] for name in MOTION_CLASSES]
    for frame in first_frames[1:]:
        assert np.array_equal(frame, first_frames[0])


def _uniformity_gap(values: np.ndarray) -> float:
    """Kolmogorov-Smirnov distance between the sample (in [0, 1)) and the uniform distribution."""
    ordered = np.sort(values)
    ranks = np.arange(1, len(ordered) + 1) / len(ordered)
    return float(max(np.max(ranks - ordered), np.max(ordered - (ranks - 1 / len(ordered)))))


@pytest.mark.parametrize("name", MOTION_CLASSES)
def test_every_frame_state_is_uniform_for_every_class(name: str) -> None:
    # Frames are drawn from (position, log-size, angle, aspect) plus appearance draws shared by all
    # classes (previous test); so if those states are uniform at every time, no single frame
    # tells the class. A trajectory that does not wrap (a bar moving left ends on the left,
    # a growing bar ends large) fails here.
    size, num_frames, draws = 64, 16, 2000
    rng = np.random.default_rng(0)
    paths = [synthetic._trajectory(name, rng, num_frames, size) for _ in range(draws)]
    low, high = np.log(synthetic._MIN_HALF_LENGTH * size), np.log(synthetic._MAX_HALF_LENGTH * size)
    max_aspect = 2 * np.log(synthetic._MAX_STRETCH)
    for frame in (0, num_frames // 2, num_frames - 1):
        states = {
            "x": [path["x"][frame] / size for path in paths],
            "y": [path["y"][frame] / size for path in paths],
            "log_size": [(path["log_size"][frame] - low) / (high - low) for path in paths],
            "angle": [path["angle"][frame] % (2 * np.pi) / (2 * np.pi) for path in paths],
            "log_aspect": [(path["log_aspect"][frame] + max_aspect) / (2 * max_aspect) for path in paths],
        }
        for key, values in states.items():
            assert _uniformity_gap(np.asarray(values)) < 0.05, (key, frame)


def _median_step(clip: np.ndarray) -> tuple[float, float]:
    """Median per-frame (dx, dy) of the moving object, found against the temporal-median background."""
    frames = clip.astype(np.float32)
    moving = np.abs(frames - np.median(frames, axis=0)).sum(-1) > 60
    steps = []
    for axis in (1, 2):
        angle = _circular_centroid(moving, axis)
        steps.append(float(np.median(np.angle(np.exp(1j * np.diff(angle))))))
    return steps[0], steps[1]


@pytest.mark.parametrize(
    ("name", "axis", "sign"),
    [("move_left", 0, -1), ("move_right", 0, 1), ("move_up", 1, -1), ("move_down", 1, 1)],
)
def test_translation_classes_move_their_way(clips: dict[str, np.ndarray], name: str, axis: int, sign: int) -> None:
    steps = np.array([_median_step(clip) for clip in clips[name]])
    assert np.mean(np.sign(steps[:, axis]) == sign) >= 0.9


@pytest.mark.parametrize(("name", "sign"), [("grow", 1), ("shrink", -1)])
def test_zoom_classes_change_size_their_way(clips: dict[str, np.ndarray], name: str, sign: int) -> None:
    trends = [np.median(np.diff(np.log1p(_edges(clip).sum((1, 2))))) for clip in clips[name]]
    assert np.mean(np.sign(trends) == sign) >= 0.75


def _log_spread_ratio(edges: np.ndarray) -> np.ndarray:
    """Per frame, log of (spread along x / spread along y) of an edge map (bar not wrapping)."""
    _, ys, xs = np.indices(edges.shape)
    weights = edges.sum((1, 2)) + 1e-6

    def spread(coordinates: np.ndarray) -> np.ndarray:
        mean = (coordinates * edges).sum((1, 2)) / weights
        return np.sqrt(((coordinates - mean[:, None, None]) ** 2 * edges).sum((1, 2)) / weights)

    return np.log(spread(xs) + 1e-6) - np.log(spread(ys) + 1e-6)


@pytest.mark.parametrize(("name", "sign"), [("widen", 1), ("narrow", -1)])
def test_stretch_classes_change_aspect_their_way(clips: dict[str, np.ndarray], name: str, sign: int) -> None:
    trends = [np.median(np.diff(_log_spread_ratio(_edges(clip)))) for clip in clips[name]]
    assert np.mean(np.sign(trends) == sign) >= 0.75


def test_flip_invariant_classes_keep_their_motion_when_mirrored(clips: dict[str, np.ndarray]) -> None:
    assert FLIP_INVARIANT_CLASSES == ("move_up", "move_down", "grow", "shrink", "widen", "narrow")
    mirrored = [clip[:, :, ::-1] for clip in clips["move_down"][:8]]
    assert all(_median_step(clip)[1] > 0 for clip in mirrored)
    assert all(_median_step(clip)[0] > 0 for clip in clips["move_left"][:8, :, :, ::-1])  # left -> right


def test_time_reversed_clip_of_a_translation_moves_the_other_way(clips: dict[str, np.ndarray]) -> None:
    forward = np.array([_median_step(clip)[0] for clip in clips["move_right"][:8]])
    backward = np.array([_median_step(clip[::-1])[0] for clip in clips["move_right"][:8]])
    assert np.all(forward > 0) and np.all(backward < 0)


def test_make_motion_dataset_videos_layout(tmp_path: Path) -> None:
    info = make_motion_dataset(tmp_path, num_classes=3, videos_per_class=2, val_videos_per_class=1, layout="videos")
    assert info["class_names"] == ["grow", "move_down", "move_up"] and info["num_videos"] == 9
    samples = read_list_file(tmp_path / info["train_list"], "videos", tmp_path, num_classes=3)
    assert [sample.label for sample in samples] == [0, 0, 1, 1, 2, 2]
    assert read_labels_file(tmp_path / info["labels_file"]) == info["class_names"]
    with open_video(samples[0].path) as video:
        assert (video.num_frames, video.height, video.width) == (16, 64, 64)
        assert video.read_frames([15]).shape == (1, 64, 64, 3)


def test_make_motion_dataset_folders_layout_is_reproducible(tmp_path: Path) -> None:
    first = make_motion_dataset(tmp_path / "a", num_classes=2, videos_per_class=1, val_videos_per_class=1, num_frames=8)
    make_motion_dataset(tmp_path / "b", num_classes=2, videos_per_class=1, val_videos_per_class=1, num_frames=8)
    samples, names = scan_class_folders(tmp_path / "a" / first["train_list"])
    assert names == ["move_down", "move_up"] and len(samples) == 2
    for sample in samples:
        twin = tmp_path / "b" / sample.path.relative_to(tmp_path / "a")
        assert twin.read_bytes() == sample.path.read_bytes()


def test_make_motion_video_and_bad_class(tmp_path: Path) -> None:
    path = make_motion_video(tmp_path / "demo" / "held_out.mp4", "shrink", num_frames=10, seed=5)
    with open_video(path) as video:
        assert video.num_frames == 10
    with pytest.raises(ValueError, match="unknown motion class"):
        make_motion_video(tmp_path / "x.mp4", "jump")
    with pytest.raises(ValueError, match="num_classes"):
        make_motion_dataset(tmp_path / "y", num_classes=9)
