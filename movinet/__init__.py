"""movinet: MoViNet (Mobile Video Networks, arXiv 2103.11511) for PyTorch.

    import movinet
    model = movinet.create_model("movinet_a0_stream", weights=None)
    logits = model(video)                                   # (B, 3, T, H, W) -> (B, classes)
    state = model.init_state(batch_size=1, height=172, width=172)
    logits, state = model.stream_step(clip, state)          # frame by frame
    model, meta = movinet.load_model("best.safetensors")    # meta.name, meta.labels, meta.preprocessing
    fast = movinet.optimize_for_inference(model)            # same calls and answers, faster
    movinet.classify("clip.mp4", "best.safetensors")        # = `movinet predict --json`; also .onnx, hf://ORG/NAME
    classifier = movinet.Classifier("model.onnx")           # keeps the model loaded: classifier(path_or_frames)

`import movinet` is light: the names below are imported on first use (PEP 562), so the command
line and the registry work without importing torch.
"""

from __future__ import annotations

from movinet._lazy import lazy_exports

__version__ = "0.1.0"

# public name -> the module that defines it
_EXPORTS = {
    "MODELS": "movinet.models.registry",
    "ModelInfo": "movinet.models.registry",
    "get_model_info": "movinet.models.registry",
    "list_models": "movinet.models.registry",
    "MoViNet": "movinet.models.movinet",
    "optimize_for_inference": "movinet.models.optimize",
    "State": "movinet.models.layers",
    "Preprocessing": "movinet.data.preprocessing",
    "ModelMetadata": "movinet.weights",
    "create_model": "movinet.loading",
    "load_model": "movinet.loading",
    "save_weights": "movinet.weights",
    "classify": "movinet.inference.classify",
    "Classifier": "movinet.inference.classify",
}

__all__ = [*_EXPORTS, "__version__"]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, ("__version__",))
