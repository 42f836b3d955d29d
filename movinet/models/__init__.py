"""MoViNet models: architecture tables, layers, the network, the registry and weight files."""

from movinet.models.movinet import MoViNet
from movinet.models.registry import MODELS, ModelInfo, create_model, get_model_info, list_models

__all__ = ["MODELS", "ModelInfo", "MoViNet", "create_model", "get_model_info", "list_models"]
