"""movinet: MoViNet (Mobile Video Networks, arXiv 2103.11511) for PyTorch.

    import movinet
    model = movinet.create_model("movinet_a0_stream", weights=None)
    logits = model(video)                                   # (B, 3, T, H, W) -> (B, classes)
    state = model.init_state(batch_size=1, height=172, width=172)
    logits, state = model.stream_step(clip, state)          # frame by frame
"""

from movinet.models import MODELS, ModelInfo, MoViNet, create_model, get_model_info, list_models
from movinet.models.layers import State

__version__ = "0.1.0"
__all__ = ["MODELS", "ModelInfo", "MoViNet", "State", "create_model", "get_model_info", "list_models", "__version__"]
