"""Every path on a GPU: the `cuda` tests (skipped with the reason where there is no CUDA) and their
device-agnostic checks, parametrized over devices so the CPU variant runs everywhere.

Tolerances, and why:
  * fp32 with TF32 off (the `fp32_on_cuda` fixture): CUDA logits within 1e-4 (relative norm) of
    the CPU's, for base models and for stream models frame by frame with the state;
  * `--use_gpu` prediction runs with PyTorch's defaults, i.e. cuDNN convolutions in TF32 (10-bit
    mantissa): logits within 1e-2 (relative norm) of the CPU's, the same top-1 class;
  * bf16 autocast training: the validation top-1 of the CPU's fp32 run, within one sample.
"""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

import movinet
from tests.conftest import DEVICES, random_model, relative_error

SIZE, FRAMES = 64, 6


def clip(seed: int = 0, batch: int = 2) -> torch.Tensor:
    return torch.rand(batch, 3, FRAMES, SIZE, SIZE, generator=torch.Generator().manual_seed(seed))


def on(device: str, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {key: value.to(device) for key, value in state.items()}


@pytest.mark.cuda
@pytest.mark.parametrize("inference_form", [False, True], ids=["training-form", "inference-form"])
@pytest.mark.parametrize("name", ["movinet_a0_base", "movinet_a0_stream"])
def test_cuda_logits_equal_cpu_in_fp32(name, inference_form, fp32_on_cuda):
    model = random_model(name, num_classes=5)
    if inference_form:
        model = movinet.optimize_for_inference(model)
    video = clip()
    with torch.no_grad():
        expected = model(video)
        got = model.to("cuda")(video.cuda()).cpu()
    assert relative_error(got.numpy(), expected.numpy()) <= 1e-4


@pytest.mark.cuda
def test_cuda_stream_steps_equal_cpu_frame_by_frame(fp32_on_cuda):
    cpu_model = random_model("movinet_a0_stream", num_classes=5)
    gpu_model = copy.deepcopy(cpu_model).cuda()
    video = clip()
    cpu_state = cpu_model.init_state(2, SIZE, SIZE)
    gpu_state = gpu_model.init_state(2, SIZE, SIZE)
    assert all(value.is_cuda for value in gpu_state.values()), "the state lives on the model's device"
    with torch.no_grad():
        for frame in video.split(1, dim=2):
            expected, cpu_state = cpu_model.stream_step(frame, cpu_state)
            got, gpu_state = gpu_model.stream_step(frame.cuda(), gpu_state)
            assert relative_error(got.cpu().numpy(), expected.numpy()) <= 1e-4
    for key, value in cpu_state.items():
        assert gpu_state[key].is_cuda, key
        if value.dtype == torch.int64:
            assert torch.equal(gpu_state[key].cpu(), value), key
        elif value.abs().sum() > 0:
            assert relative_error(gpu_state[key].cpu().numpy(), value.numpy()) <= 1e-4, key


@pytest.mark.parametrize("device", DEVICES)
def test_batched_stream_step_on_the_device_equals_each_stream_alone(device):
    from movinet.data.preprocessing import Preprocessing
    from movinet.inference import TorchPredictor
    from movinet.serve.model import ServedModel

    model = random_model("movinet_a0_stream", seed=5, num_classes=5)
    predictor = TorchPredictor.from_model(model, "movinet_a0_stream", device=device,
                                          preprocessing=Preprocessing(frames=8, height=48, width=48, resize=56))
    prep = predictor.preprocessing
    served = ServedModel(predictor, fps=5.0)
    rng = np.random.default_rng(0)

    def frame() -> np.ndarray:
        return rng.random((3, 1, prep.height, prep.width), dtype=np.float32)

    states = [served.new_state() for _ in range(3)]
    for age, state in enumerate(states):  # streams of ages 0, 1, 2
        for _ in range(age):
            _, (states[age],) = served.step_batch([frame()], [states[age]])
    clips = [frame() for _ in states]
    logits, batched = served.step_batch(clips, states)
    for index, (one_clip, state) in enumerate(zip(clips, states)):
        alone, (alone_state,) = served.step_batch([one_clip], [state])
        assert relative_error(logits[index], alone[0]) <= 1e-5
        for key, value in alone_state.items():
            assert batched[index][key].device.type == device, f"{key} left the model's device"
            assert torch.allclose(batched[index][key], value, rtol=1e-5, atol=1e-6), key
        assert batched[index]["head.pool.count"].tolist() == [index + 1]


@pytest.mark.cuda
def test_use_gpu_predict_equals_cpu_predict(tmp_path):
    from movinet.inference import load_predictor, predict_files
    from movinet.weights import save_weights
    from tests.inference.assets import noise_video

    weights = save_weights(random_model("movinet_a0_base", num_classes=5), tmp_path / "a0.safetensors",
                           model_name="movinet_a0_base", labels=[f"c{i}" for i in range(5)])
    video = noise_video(tmp_path / "clip.mp4", frames=20)
    cpu, gpu = load_predictor(weights), load_predictor(weights, use_gpu=True)
    assert gpu.device.type == "cuda" and all(value.is_cuda for value in gpu.model.state_dict().values())
    batch = clip(batch=1).numpy()
    assert relative_error(gpu.predict_clips(batch), cpu.predict_clips(batch)) <= 1e-2
    (on_cpu,), (on_gpu,) = predict_files(video, cpu, progress=False), predict_files(video, gpu, progress=False)
    assert on_gpu.error is None and on_gpu.classes[0] == on_cpu.classes[0]
    assert abs(on_gpu.scores[0] - on_cpu.scores[0]) <= 1e-2


@pytest.mark.cuda
def test_onnx_runtime_cuda_provider_equals_cpu(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        pytest.skip("onnxruntime has no CUDAExecutionProvider (install onnxruntime-gpu)")
    from movinet.data.preprocessing import Preprocessing
    from movinet.export.onnx import export_onnx
    from movinet.inference import load_predictor

    model = random_model("movinet_a0_stream", num_classes=5)
    prep = Preprocessing(frames=FRAMES, height=SIZE, width=SIZE, resize=SIZE)
    path = export_onnx(model, tmp_path, model_name="movinet_a0_stream", preprocessing=prep, stream_steps=2).onnx_path
    cpu, gpu = load_predictor(path), load_predictor(path, use_gpu=True)
    frame = clip(batch=1)[:, :, :1].numpy()
    cpu_logits, _ = cpu.step(frame, cpu.init_state(1))
    gpu_logits, _ = gpu.step(frame, gpu.init_state(1))
    assert relative_error(gpu_logits, cpu_logits) <= 1e-2


def _fit(output: Path, device: str, resume: Path | None = None, **train: object) -> dict:
    from movinet.engine.train import fit
    from tests.engine.engine_helpers import RandomVideoDataset, tiny_config

    cfg = tiny_config(output, train={"device": device, "epochs": 3, **train})
    return fit(cfg, validate=True, resume=str(resume) if resume else None,
               datasets={"train": RandomVideoDataset(12), "val": RandomVideoDataset(6, views=1)})


@pytest.mark.cuda
def test_bf16_training_on_cuda_reaches_the_cpu_accuracy_and_exports(tmp_path):
    from movinet.export.onnx import export_onnx

    cpu = _fit(tmp_path / "cpu", "cpu", amp="none")
    gpu = _fit(tmp_path / "gpu", "cuda", amp="bf16", channels_last=True)
    log = (tmp_path / "gpu" / "train.log").read_text()
    assert "precision bfloat16, channels_last True" in log
    assert gpu["best_top1"] >= cpu["best_top1"] - 1 / 6  # six validation clips: one may differ
    model, _ = movinet.load_model(gpu["final_weights"])  # CUDA-trained weights export like any others
    assert export_onnx(model, tmp_path / "export", model_name="movinet_a0_base").onnx_path.is_file()


@pytest.mark.cuda
def test_resume_on_cuda_is_exact(tmp_path):
    from movinet.engine.checkpoint import load_checkpoint

    settings = {"deterministic": True, "save_interval": 1, "amp": "bf16", "channels_last": True}
    straight = _fit(tmp_path / "straight", "cuda", **settings)
    resumed_dir = tmp_path / "resumed"
    resumed_dir.mkdir()
    shutil.copy(tmp_path / "straight" / "epoch_00001.pt", resumed_dir / "last.pt")
    _fit(resumed_dir, "cuda", resume=resumed_dir / "last.pt", **settings)
    a, b = load_checkpoint(straight["last_checkpoint"]), load_checkpoint(resumed_dir / "last.pt")
    assert a["global_step"] == b["global_step"] > 0
    for key, value in a["model"].items():
        assert torch.equal(value, b["model"][key]), f"{key} differs after a resume on CUDA"
