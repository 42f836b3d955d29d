"""Frame samplers against hand-computed PaddleVideo and TF Model Garden cases."""

from __future__ import annotations

import numpy as np
import pytest

from movinet.data.sampling import clip_indices, segment_indices


@pytest.mark.parametrize(
    ("num_frames", "num_seg", "expected"),
    [
        (100, 10, [4, 14, 24, 34, 44, 54, 64, 74, 84, 94]),  # avg 10: i*10 + (10-1)//2
        (57, 5, [5, 16, 27, 38, 49]),  # avg 11: i*11 + 5, frames 55-56 unused
        (20, 10, [0, 2, 4, 6, 8, 10, 12, 14, 16, 18]),  # avg 2: (2-1)//2 = 0
        (10, 10, list(range(10))),  # avg 1
    ],
)
def test_segment_test_mode_is_paddle_centre(num_frames: int, num_seg: int, expected: list[int]) -> None:
    assert segment_indices(num_frames, num_seg, train=False).tolist() == expected


def test_segment_train_mode_is_paddle_randint_per_segment() -> None:
    # Paddle: idx = i*avg + randint(0, avg-1), a fresh draw per segment; avg = 103 // 10 = 10.
    indices = segment_indices(103, 10, train=True, rng=np.random.default_rng(7))
    offsets = np.random.default_rng(7).integers(0, 10, size=10)
    assert indices.tolist() == (np.arange(10) * 10 + offsets).tolist()


def test_segment_train_offsets_cover_whole_segment_and_no_more() -> None:
    rng = np.random.default_rng(0)
    draws = np.stack([segment_indices(30, 10, train=True, rng=rng) for _ in range(300)])
    offsets = draws - np.arange(10) * 3
    assert set(np.unique(offsets).tolist()) == {0, 1, 2}


@pytest.mark.parametrize("train", [True, False])
def test_segment_short_video_spreads_over_existing_frames(train: bool) -> None:
    # Fewer frames than segments: Paddle would ask for frames 3..7 that do not exist.
    indices = segment_indices(3, 8, train=train, rng=np.random.default_rng(0))
    assert indices.tolist() == [0, 0, 0, 1, 1, 1, 2, 2]


def test_clip_test_single_clip_is_centred() -> None:
    # TF sample_sequence(random=False): offset (100 - 10*2) // 2 = 40.
    assert clip_indices(100, 10, 2, train=False).tolist() == [list(range(40, 60, 2))]


def test_clip_test_multi_clip_linspace_starts() -> None:
    # TF sample_linspace_sequence: offsets int(linspace(0, 100 - 20, 3)) = 0, 40, 80.
    clips = clip_indices(100, 10, 2, train=False, num_clips=3)
    assert clips.shape == (3, 10)
    assert clips[:, 0].tolist() == [0, 40, 80]
    assert clips[2].tolist() == list(range(80, 100, 2))


def test_clip_short_video_loops() -> None:
    assert clip_indices(5, 8, 1, train=False).tolist() == [[0, 1, 2, 3, 4, 0, 1, 2]]
    assert clip_indices(5, 4, 2, train=False).tolist() == [[0, 2, 4, 1]]


def test_clip_train_start_range_matches_tf() -> None:
    # max offset = 100 - (10 - 1) * 2 = 82 (exclusive) -> starts 0..81, the clip never loops.
    rng = np.random.default_rng(0)
    starts = np.concatenate([clip_indices(100, 10, 2, train=True, rng=rng, num_clips=4)[:, 0] for _ in range(500)])
    assert starts.min() == 0 and starts.max() == 81


def test_clip_train_on_short_video_starts_anywhere_and_loops() -> None:
    rng = np.random.default_rng(1)
    clips = np.concatenate([clip_indices(6, 8, 1, train=True, rng=rng) for _ in range(200)])
    assert set(clips[:, 0].tolist()) == set(range(6))
    assert np.all(clips < 6)


def test_samplers_are_deterministic_given_a_seed() -> None:
    first = clip_indices(300, 16, 3, train=True, num_clips=2, rng=np.random.default_rng(3))
    second = clip_indices(300, 16, 3, train=True, num_clips=2, rng=np.random.default_rng(3))
    assert np.array_equal(first, second)


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError, match="num_frames"):
        segment_indices(0, 8, train=False)
    with pytest.raises(ValueError, match="rng"):
        segment_indices(100, 8, train=True)
    with pytest.raises(ValueError, match="stride"):
        clip_indices(100, 8, 0, train=False)
