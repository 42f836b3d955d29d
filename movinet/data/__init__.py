"""Data pipeline: decoding (PyAV), frame sampling, clip transforms, datasets, preparation tools.

Names are imported on first use (PEP 562): the inference path (decoding, the preprocessing
record) does not pull in the torch datasets.
"""

from __future__ import annotations

from movinet._lazy import lazy_exports

_EXPORTS = {
    "DataConfig": "movinet.data.config",
    "SamplingConfig": "movinet.data.config",
    "TransformConfig": "movinet.data.config",
    "Sample": "movinet.data.datasets",
    "SkippedSampleWarning": "movinet.data.datasets",
    "TrainingClips": "movinet.data.datasets",
    "VideoClipDataset": "movinet.data.datasets",
    "build_dataset": "movinet.data.datasets",
    "read_labels_file": "movinet.data.datasets",
    "read_list_file": "movinet.data.datasets",
    "scan_class_folders": "movinet.data.datasets",
    "ExtractionSummary": "movinet.data.prepare",
    "extract_frames": "movinet.data.prepare",
    "write_video_list": "movinet.data.prepare",
    "clip_indices": "movinet.data.sampling",
    "segment_indices": "movinet.data.sampling",
    "FLIP_INVARIANT_CLASSES": "movinet.data.synthetic",
    "MOTION_CLASSES": "movinet.data.synthetic",
    "make_motion_dataset": "movinet.data.synthetic",
    "make_motion_video": "movinet.data.synthetic",
    "render_motion_clip": "movinet.data.synthetic",
    "build_train_transform": "movinet.data.transforms",
    "normalize": "movinet.data.transforms",
    "EvaluationViews": "movinet.data.preprocessing",
    "Preprocessing": "movinet.data.preprocessing",
    "PreprocessingError": "movinet.data.preprocessing",
    "VideoDecodeError": "movinet.data.video",
    "VideoNotFoundError": "movinet.data.video",
    "VideoReader": "movinet.data.video",
    "iter_frames": "movinet.data.video",
    "open_video": "movinet.data.video",
    "read_frame_folder": "movinet.data.video",
    "write_video": "movinet.data.video",
}

__all__ = list(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
