"""`timm:<name>` - a timm model, with a local checkpoint if given. Needs timm in the environment.

timm is not part of the pinned set: on the pinned torch 2.13.0 CPU wheel, PyPI's torchvision (which timm
imports) fails to load, and `pip install timm` drags torch to another build. This source is for users'
own environments; here it reports that clearly.
"""

from __future__ import annotations

from edge_export.artifacts import Preprocessing
from edge_export.errors import EdgeExportError
from edge_export.models.loaded import LoadedModel
from edge_export.models.registry import ModelRequest, register_prefix, source_spec


def _import_timm():
    try:
        import timm  # noqa: PLC0415
    except Exception as e:  # ImportError, or torchvision's operator registration RuntimeError
        raise EdgeExportError(
            f"timm is not usable in this environment ({type(e).__name__}: {str(e)[:80]}): "
            "install timm with a matching torchvision, or use module:<path>:<callable>"
        ) from None
    return timm


@register_prefix("timm:", usage="timm:<name>")
def load_timm(request: ModelRequest) -> LoadedModel:
    timm = _import_timm()
    name = request.model_id.removeprefix("timm:")
    if name not in timm.list_models():
        raise EdgeExportError(f"timm has no model {name!r}: see timm.list_models()")
    kwargs = dict(request.options)
    if request.checkpoint is not None:
        kwargs["checkpoint_path"] = str(request.checkpoint)
    import torch

    torch.manual_seed(request.seed)
    module = timm.create_model(name, pretrained=False, **kwargs)
    cfg = timm.data.resolve_data_config({}, model=module)
    size = int(cfg["input_size"][-1])
    pre = Preprocessing(
        image_size=size,
        crop_pct=float(cfg.get("crop_pct", 0.875)),
        interpolation=cfg.get("interpolation", "bicubic"),
        mean=list(cfg["mean"]),
        std=list(cfg["std"]),
    )
    source = source_spec(request, "timm")
    return LoadedModel(module.eval(), "generic", source, pre, int(module.num_classes))
