"""`module:<python.path>:<callable>` - any image classifier a Python callable builds.

The callable is called with the `--opt` options as keyword arguments and returns an `nn.Module`
(optionally with a `preprocessing` dict attribute: image_size, crop_pct, interpolation, mean, std).
"""

from __future__ import annotations

import importlib

import torch

from edge_export.artifacts import Preprocessing
from edge_export.errors import EdgeExportError
from edge_export.models.checkpoints import load_strict, read_state_dict
from edge_export.models.loaded import LoadedModel, logits_of
from edge_export.models.registry import ModelRequest, register_prefix, source_spec


def _resolve(spec: str):
    parts = spec.split(":")
    if len(parts) != 3 or not parts[1] or not parts[2]:
        raise EdgeExportError(f"bad model {spec!r}: write module:<python.path>:<callable>, e.g. module:mypkg.nets:build")
    _, mod_name, attr = parts
    try:
        mod = importlib.import_module(mod_name)
    except ImportError as e:
        raise EdgeExportError(f"cannot import {mod_name!r} ({e}): check the module path and PYTHONPATH") from None
    fn = getattr(mod, attr, None)
    if not callable(fn):
        raise EdgeExportError(f"{mod_name} has no callable {attr!r}: name a function or class that returns an nn.Module")
    return fn


@register_prefix("module:", usage="module:<python.path>:<callable>")
def load_python_module(request: ModelRequest) -> LoadedModel:
    fn = _resolve(request.model_id)
    torch.manual_seed(request.seed)
    module = fn(**request.options)
    if not isinstance(module, torch.nn.Module):
        raise EdgeExportError(f"{request.model_id} returned {type(module).__name__}, not a torch.nn.Module")
    if request.checkpoint is not None:
        load_strict(module, read_state_dict(request.checkpoint), request.model_id)
    pre = Preprocessing(**getattr(module, "preprocessing", None) or {"image_size": 224})
    module.eval()
    with torch.no_grad():
        out = logits_of(module(torch.zeros(1, 3, pre.image_size, pre.image_size)))
    if out.ndim != 2:
        raise EdgeExportError(f"{request.model_id} returns shape {list(out.shape)}: expected [batch, classes] logits")
    source = source_spec(request, "module")
    labels = getattr(module, "labels", None)
    return LoadedModel(module, "generic", source, pre, int(out.shape[1]), list(labels) if labels else None)
