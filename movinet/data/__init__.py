"""Data pipeline: decoding (PyAV), frame sampling, clip transforms, datasets, preparation tools."""

from movinet.data.config import DataConfig, SamplingConfig, TransformConfig
from movinet.data.datasets import (
    Sample,
    SkippedSampleWarning,
    VideoClipDataset,
    build_dataset,
    read_labels_file,
    read_list_file,
    scan_class_folders,
)
from movinet.data.prepare import ExtractionSummary, extract_frames, write_video_list
from movinet.data.sampling import clip_indices, segment_indices
from movinet.data.synthetic import (
    FLIP_INVARIANT_CLASSES,
    MOTION_CLASSES,
    make_motion_dataset,
    make_motion_video,
    render_motion_clip,
)
from movinet.data.preprocessing import Preprocessing, PreprocessingError
from movinet.data.transforms import build_transform, normalize
from movinet.data.video import (
    VideoDecodeError,
    VideoNotFoundError,
    VideoReader,
    iter_frames,
    open_video,
    read_frame_folder,
    write_video,
)

__all__ = [
    "DataConfig",
    "SamplingConfig",
    "TransformConfig",
    "Sample",
    "SkippedSampleWarning",
    "VideoClipDataset",
    "build_dataset",
    "read_labels_file",
    "read_list_file",
    "scan_class_folders",
    "ExtractionSummary",
    "extract_frames",
    "write_video_list",
    "clip_indices",
    "segment_indices",
    "FLIP_INVARIANT_CLASSES",
    "MOTION_CLASSES",
    "make_motion_dataset",
    "make_motion_video",
    "render_motion_clip",
    "build_transform",
    "normalize",
    "Preprocessing",
    "PreprocessingError",
    "VideoDecodeError",
    "VideoNotFoundError",
    "VideoReader",
    "iter_frames",
    "open_video",
    "read_frame_folder",
    "write_video",
]
