"""Official TF Model Garden weights -> movinet state dict (no TensorFlow needed).

Accepts the object-based TF2 checkpoint of the release tarballs (read by `tensorbundle`) and the
variable-name form (an `.npz` keyed by Keras variable names such as
`block1_layer0/bneck/feature/conv3d/kernel:0`). Handles the three TF conv layouts: '3d',
'3d_2plus1d' (training form of the stream models) and '2plus1d' (their export form).

Every TF variable must land on a model tensor of the same size and every model tensor must be
covered; anything else is an error that names the variables.
"""

from __future__ import annotations

import os
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from movinet.models.movinet import MoViNet
from movinet.convert.common import ConversionError, check_complete, expected_tensors, layer_paths
from movinet.models.registry import build_model, get_model_info
from movinet.models.specs import ARCH_SPECS
from movinet.weights import save_weights

BN_LEAVES = {"gamma": "weight", "beta": "bias", "moving_mean": "running_mean", "moving_variance": "running_var"}

_PREFIXES = [
    (re.compile(r"^stem/stem/"), lambda m: "stem"),
    (re.compile(r"^head/project/"), lambda m: "head.project"),
    (re.compile(r"^classifier_head/head/"), lambda m: "classifier.hidden"),
    (re.compile(r"^classifier_head/classifier/"), lambda m: "classifier.logits"),
    (re.compile(r"^block(\d+)_layer(\d+)/bneck/skip/skip_project/"), lambda m: f"blocks.{m[1]}.{m[2]}.skip.project"),
    (re.compile(r"^block(\d+)_layer(\d+)/bneck/se/se_(reduce|expand)/"), lambda m: f"blocks.{m[1]}.{m[2]}.se.{m[3]}"),
    (re.compile(r"^block(\d+)_layer(\d+)/bneck/(expansion|feature|projection)/"), lambda m: f"blocks.{m[1]}.{m[2]}.{m[3]}"),
]
_REZERO = re.compile(r"^block(\d+)_layer(\d+)/scale$")
# Object path of the positional-encoding scales, whose variable names ('scale') are not unique.
_POS_ENC_KEY = re.compile(r"^model/layer_with_weights-0/layer_with_weights-(\d+)/_attention/_pos_encoding/_rezero/scale/")


@dataclass
class TFVariable:
    name: str  # Keras variable name without ':0' (or the checkpoint key when names are ambiguous)
    value: np.ndarray


def _target(name: str) -> tuple[str, str] | None:
    """Map a TF variable name to (our tensor name, layout kind); None when it is not a model variable."""
    match = _REZERO.match(name)
    if match:
        return f"blocks.{match[1]}.{match[2]}.rezero", "scalar"
    for pattern, module in _PREFIXES:
        match = pattern.match(name)
        if not match:
            continue
        module_path, rest = module(match), name[match.end():]
        parts, leaf = rest.split("/")[:-1], rest.split("/")[-1]
        temporal = any("temporal" in part for part in parts)
        if leaf in BN_LEAVES:
            bn = "bn_t" if temporal else "bn"
            return f"{module_path}.{bn}.{BN_LEAVES[leaf]}", "vector"
        if ".se." in module_path or module_path.startswith("classifier"):
            prefix = module_path  # plain 1x1x1 convs, not conv blocks
        else:
            prefix = f"{module_path}.conv_t" if temporal else f"{module_path}.conv"
        if leaf == "bias":
            return f"{prefix}.bias", "vector"
        if leaf in ("kernel", "depthwise_kernel"):
            return f"{prefix}.weight", f"{leaf}:{'temporal' if temporal else 'spatial'}"
        return None
    return None


def _to_torch_layout(value: np.ndarray, kind: str) -> np.ndarray:
    """TF kernel layout -> PyTorch Conv3d (out, in/groups, kt, kh, kw)."""
    if kind in ("vector", "scalar"):
        return value.reshape(-1) if kind == "vector" else value.reshape(())
    if value.ndim == 5:  # Conv3D [kt, kh, kw, in, out] (depthwise: [kt, kh, kw, 1, C])
        return value.transpose(4, 3, 0, 1, 2)
    if value.ndim != 4:
        raise ConversionError(f"unexpected kernel rank {value.ndim} ({value.shape})")
    leaf, axis = kind.split(":")
    # Conv2D [a, b, in, out] -> [out, in, a, b]; DepthwiseConv2D [a, b, C, 1] -> [C, 1, a, b].
    value = value.transpose(2, 3, 0, 1) if leaf == "depthwise_kernel" else value.transpose(3, 2, 0, 1)
    # Temporal 2D kernels are (kt, 1) -> (kt, 1, 1); spatial ones (kh, kw) -> (1, kh, kw).
    return value[..., None] if axis == "temporal" else value[:, :, None]


def variables_from_checkpoint(path: str | os.PathLike) -> list[TFVariable]:
    """Model variables of a TF2 object-based checkpoint (dir, prefix, .index or release tarball)."""
    from movinet.convert.tensorbundle import read_tf_checkpoint

    checkpoint = read_tf_checkpoint(path)
    variables = []
    for key, value in checkpoint.tensors.items():
        if not key.startswith("model/") or "OPTIMIZER_SLOT" in key:
            continue  # training checkpoints also hold optimizer slots and a duplicate `backbone/` root
        match = _POS_ENC_KEY.match(key)
        if match:
            variables.append(TFVariable(f"pos_enc_layer_{match[1]}", value))
            continue
        name = checkpoint.full_names.get(key)
        if name is None:
            raise ConversionError(f"checkpoint key {key!r} has no variable name in the object graph")
        variables.append(TFVariable(name, value))
    return variables


def variables_from_npz(path: str | os.PathLike) -> list[TFVariable]:
    """Variables of an .npz keyed by Keras variable names (':0' optional).

    Raises:
        ConversionError: the file is not an archive of numeric arrays (damaged, not an .npz, or
            holding pickled objects, which are never loaded).
    """
    expected = ("an .npz of numeric arrays keyed by Keras variable names (e.g. "
                "'stem/stem/conv3d/kernel'); for an official release convert its checkpoint "
                "directory or .tar.gz instead")
    if not zipfile.is_zipfile(path):
        raise ConversionError(f"{path} is not a weight archive (not an .npz zip file); movinet reads {expected}")
    try:
        with np.load(path, allow_pickle=False) as data:
            variables = [TFVariable(key[:-2] if key.endswith(":0") else key, data[key]) for key in data.files]
    except ValueError:  # numpy refuses object arrays; they are pickles and are never loaded
        raise ConversionError(f"{path} is not a weight archive (it holds Python objects, not arrays); movinet "
                              f"reads {expected}") from None
    except (OSError, EOFError, zipfile.BadZipFile) as error:
        raise ConversionError(f"{path} is not a weight archive (damaged: {error}); movinet reads {expected}") from None
    bad = [v.name for v in variables if v.value.dtype.kind not in "fiub"]
    if not variables or bad:
        raise ConversionError(f"{path} is not a weight archive ({'no arrays' if not variables else f'non-numeric {bad[:3]}'}); "
                              f"movinet reads {expected}")
    return variables


def read_tf_variables(path: str | os.PathLike) -> list[TFVariable]:
    """Dispatch on the input form: .npz of named variables, or a TF checkpoint."""
    path = Path(path).expanduser()
    if not path.exists() and not Path(str(path) + ".index").exists():
        raise FileNotFoundError(f"{str(path)!r} does not exist; pass a checkpoint directory, a ckpt prefix, "
                                "a release .tar.gz or a weights .npz")
    if path.suffix == ".npz":
        return variables_from_npz(path)
    return variables_from_checkpoint(path)


def tf_to_state_dict(variables: list[TFVariable], model_name: str) -> tuple[MoViNet, dict[str, torch.Tensor]]:
    """Build `model_name` sized after the variables and map every variable onto it.

    SE hidden widths and the class count are read from the variable shapes, so checkpoints of
    older code revisions and Kinetics-400 heads load too.

    Returns:
        (model with random weights, state dict to load into it).
    """
    info = get_model_info(model_name)
    if info.family != "official":
        raise ConversionError(f"{model_name} is not an official TF model; use `movinet convert paddle` for it")
    named = {}
    unmatched = []
    pos_enc = {}
    for var in variables:
        if var.name.startswith("pos_enc_layer_"):
            pos_enc[int(var.name.rsplit("_", 1)[1])] = var.value
            continue
        target = _target(var.name)
        if target is None:
            unmatched.append(var.name)
            continue
        named[target[0]] = (var, target[1])
    if unmatched:
        raise ConversionError(f"{len(unmatched)} TF variables match no {model_name} tensor: {unmatched[:10]}")
    classes_key = "classifier.logits.weight"
    if classes_key not in named:
        raise ConversionError(f"no classifier kernel (classifier_head/classifier/...) among the variables; "
                              f"is this a {model_name} checkpoint?")
    num_classes = int(named[classes_key][0].value.shape[-1])
    se_hidden = []
    layers = layer_paths(ARCH_SPECS[info.arch])
    for layer in layers:
        reduce = named.get(f"{layer}.se.reduce.weight")
        if reduce is None:
            raise ConversionError(f"missing SE weights for {layer} (TF block{layer.split('.')[1]}_layer"
                                  f"{layer.split('.')[2]}/bneck/se); is this a {model_name} checkpoint?")
        se_hidden.append(int(reduce[0].value.shape[-1]))
    model = build_model(info, num_classes=num_classes, se_hidden_channels=se_hidden)
    expected = expected_tensors(model)
    state: dict[str, torch.Tensor] = {}
    problems = []
    for key, (var, kind) in named.items():
        if key not in expected:
            problems.append(f"{var.name} -> {key}: no such tensor in {model_name}")
            continue
        value = _to_torch_layout(np.asarray(var.value, dtype=np.float32), kind)
        if tuple(value.shape) != tuple(expected[key].shape):
            problems.append(f"{var.name}: shape {tuple(var.value.shape)} -> {tuple(value.shape)}, "
                            f"{model_name} needs {tuple(expected[key].shape)}")
            continue
        state[key] = torch.from_numpy(np.ascontiguousarray(value))
    for index, value in pos_enc.items():
        key = f"{layers[index - 1]}.se.pos_enc.scale"
        if key not in expected:
            problems.append(f"positional-encoding scale of layer {index}: {model_name} has no positional encoding")
            continue
        state[key] = torch.from_numpy(np.asarray(value, dtype=np.float32).reshape(()))
    check_complete(model_name, "TF variable", expected, state, problems)
    return model, state


def convert_tf(src: str | os.PathLike, model_name: str, out: str | os.PathLike, *,
               labels: list[str] | None = None) -> Path:
    """Convert an official checkpoint (or named-variable .npz) to a movinet .safetensors file."""
    from movinet.labels import load_labels

    model, state = tf_to_state_dict(read_tf_variables(src), model_name)
    model.load_state_dict(state, strict=False)
    if labels is None and model.num_classes in (400, 600):
        labels = load_labels(f"kinetics{model.num_classes}")
    return save_weights(model, out, model_name=model_name, labels=labels, source=f"TF checkpoint {src}")
