"""`movinet test -w FILE` evaluates an exported .onnx / .tflite in its own runtime, with the same
predictions as the weights it was exported from."""

from __future__ import annotations

import pytest

from movinet.data.synthetic import make_motion_dataset
from movinet.engine.config import load_config
from movinet.engine.demo import demo_config_path
from movinet.engine.evaluate import test as run_test


@pytest.fixture(scope="module")
def test_data(tmp_path_factory):
    """6 videos of 8 frames at 64 px in a `path label` list (no labels file: the fixture model has 600 classes)."""
    root = tmp_path_factory.mktemp("exported-test")
    return make_motion_dataset(root / "data", num_classes=3, videos_per_class=0, val_videos_per_class=2,
                               num_frames=8, size=64, layout="videos", seed=0)


def config(data, out_dir):
    return load_config(demo_config_path(), [
        f"data.root={data['root']}", "data.format=videos", f"data.train_list={data['val_list']}",
        f"data.val_list={data['val_list']}", f"data.test_list={data['val_list']}", "data.labels_file=''",
        "data.sampling.temporal_stride=1", "model.name=movinet_a0_stream", f"train.output_dir={out_dir}",
        "train.progress=false"])


@pytest.mark.parametrize("kind", ["onnx", "tflite"])
def test_an_exported_file_is_tested_like_its_weights(kind, request, stream_weights, test_data, tmp_path):
    exported = request.getfixturevalue(f"stream_{kind}")
    ref = run_test(config(test_data, tmp_path / "weights"), str(stream_weights))
    ours = run_test(config(test_data, tmp_path / kind), str(exported))
    assert ours["num_samples"] == ref["num_samples"] == 6
    assert ours["confusion_matrix"] == ref["confusion_matrix"]
    assert ours["top5"] == ref["top5"] and ours["weights"] == [str(exported)]
