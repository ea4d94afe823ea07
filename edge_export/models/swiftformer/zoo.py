"""SwiftFormer in the zoo: four paper variants (+ a tiny `test` config), in both attention forms.

Ids (for each variant V in xs, s, l1, l3, test):
- `swiftformer-V-normalize`: the current original repository / timm function (F.normalize in the attention);
  our module with the original parameter names. Loads original `.pth` files directly, transformers
  folders through the inverse of transformers' key map.
- `swiftformer-V-softmax`: the transformers port (`SwiftFormerForImageClassification`, softmax over a
  size-1 axis). Loads transformers folders, and original `.pth` files through transformers' key map.
- `swiftformer-V`: normalize form from config; with --checkpoint, the form that checkpoint's format implies
  (original `.pth` -> normalize, transformers folder/keys -> softmax). See README "Attention forms".
"""

from __future__ import annotations

import torch

from edge_export.artifacts import Preprocessing
from edge_export.errors import EdgeExportError
from edge_export.models.checkpoints import (
    hf_folder_weights,
    labels_from_hf_config,
    load_strict,
    read_hf_config,
    read_state_dict,
)
from edge_export.models.swiftformer.checkpoints import (
    detect_format,
    hf_to_original_key,
    original_to_hf_key,
    timm_to_original_key,
)
from edge_export.models.loaded import LoadedModel
from edge_export.models.registry import ModelRequest, register_model, source_spec
from edge_export.models.swiftformer.original import SwiftFormerOriginal
from edge_export.models.swiftformer.spec import SWIFTFORMER_VARIANTS, SwiftFormerSpec


def _variant_name(depths, dims) -> str | None:
    for name, spec in SWIFTFORMER_VARIANTS.items():
        if tuple(depths) == spec.depths and tuple(dims) == spec.embed_dims:
            return name
    return None


def _shape_of_original(sd: dict[str, torch.Tensor]) -> tuple[tuple[int, ...], tuple[int, ...], int]:
    """(depths, embed_dims, num_classes) read off an original-format state_dict."""
    depths, dims = [], []
    i = 0
    while any(k.startswith(f"network.{i}.") for k in sd):
        blocks = {int(k.split(".")[2]) for k in sd if k.startswith(f"network.{i}.") and k.split(".")[2].isdigit()}
        if blocks:
            depths.append(max(blocks) + 1)
            w = sd.get(f"network.{i}.0.dwconv.weight", sd.get(f"network.{i}.0.local_representation.dwconv.weight"))
            dims.append(int(w.shape[0]) if w is not None else -1)
        i += 1
    num_classes = int(sd["head.weight"].shape[0]) if "head.weight" in sd else -1
    return tuple(depths), tuple(dims), num_classes


def _check_variant(variant: str, depths, dims, where: str) -> None:
    spec = SWIFTFORMER_VARIANTS[variant]
    if (tuple(depths), tuple(dims)) == (spec.depths, spec.embed_dims):
        return
    actual = _variant_name(depths, dims)
    fix = f"use swiftformer-{actual}" if actual else "no registered variant has this shape"
    raise EdgeExportError(
        f"{where} is a SwiftFormer with depths {list(depths)} and dims {list(dims)}, not swiftformer-{variant}: {fix}"
    )


def _build_original(spec: SwiftFormerSpec, form: str, seed: int) -> SwiftFormerOriginal:
    torch.manual_seed(seed)
    return SwiftFormerOriginal(spec, attention_form=form)


def _build_hf(spec: SwiftFormerSpec, seed: int, hf_config: dict | None = None):
    from transformers import SwiftFormerConfig, SwiftFormerForImageClassification

    if hf_config is not None:
        config = SwiftFormerConfig.from_dict(hf_config)
    else:
        config = SwiftFormerConfig(
            depths=list(spec.depths),
            embed_dims=list(spec.embed_dims),
            mlp_ratio=spec.mlp_ratio,
            layer_scale_init_value=spec.layer_scale_init_value,
            num_labels=spec.num_classes,
            image_size=spec.image_size,
        )
    torch.manual_seed(seed)
    return SwiftFormerForImageClassification(config)


def _load(request: ModelRequest, variant: str, form: str | None) -> LoadedModel:
    """form None = pick the form the checkpoint's format implies (normalize without a checkpoint)."""
    spec = SWIFTFORMER_VARIANTS[variant]
    ckpt = request.checkpoint
    fmt, sd, hf_cfg = None, None, None
    timm_file = False
    if ckpt is not None:
        fmt, sd = detect_format(ckpt)
        if fmt == "hf-folder":
            hf_cfg = read_hf_config(ckpt)
            _check_variant(variant, hf_cfg.get("depths", []), hf_cfg.get("embed_dims", []), str(ckpt))
            sd = read_state_dict(hf_folder_weights(ckpt))
        elif fmt == "timm":  # timm's port computes the original (normalize) function under other names
            sd, fmt = {timm_to_original_key(k): v for k, v in sd.items()}, "original"
            timm_file = True
        original_sd = sd if fmt == "original" else {hf_to_original_key(k): v for k, v in sd.items()}
        depths, dims, num_classes = _shape_of_original(original_sd)
        _check_variant(variant, depths, dims, str(ckpt))
        request.options.setdefault("num_classes", num_classes)
        if form is None:
            form = "normalize" if fmt == "original" else "softmax"
    form = form or "normalize"
    spec = spec.with_options(request.options)
    model_id = f"swiftformer-{variant}-{form}"

    labels = labels_from_hf_config(hf_cfg) if hf_cfg else None
    if form == "normalize":
        module = _build_original(spec, form, request.seed)
        family = "swiftformer-original"
        if sd is not None:
            state = sd if fmt == "original" else {hf_to_original_key(k): v for k, v in sd.items()}
            load_strict(module, state, model_id)
    else:
        if hf_cfg is not None:
            hf_cfg = {**hf_cfg, "num_labels": spec.num_classes}
        module = _build_hf(spec, request.seed, hf_cfg)
        family = "swiftformer-hf"
        if sd is not None:
            stage_indices = set(range(0, 2 * len(spec.depths), 2))
            state = sd if fmt != "original" else {original_to_hf_key(k, stage_indices): v for k, v in sd.items()}
            load_strict(module, state, model_id)

    kind = "config" if ckpt is None else ("hf-folder" if fmt == "hf-folder" else "timm-checkpoint" if timm_file
                                          else "original-pth")
    source = source_spec(request, kind, attention_form=form)
    preprocessing = Preprocessing(image_size=spec.image_size, crop_pct=0.9, interpolation="bicubic")
    notes = [f"attention form: {form} ({'original repository / timm' if form == 'normalize' else 'transformers port'})"]
    return LoadedModel(module.eval(), family, source, preprocessing, spec.num_classes, labels, notes)


def _register(variant: str) -> None:
    spec = SWIFTFORMER_VARIANTS[variant]
    shape = f"depths {list(spec.depths)}, dims {list(spec.embed_dims)}"
    listed = variant != "test"
    register_model(
        f"swiftformer-{variant}",
        description=f"normalize form from config; --checkpoint picks the form its format implies ({shape})",
        variant=variant,
        listed=listed,
    )(lambda r: _load(r, variant, None))
    register_model(
        f"swiftformer-{variant}-normalize",
        description="original repository / timm attention (F.normalize)",
        variant=variant,
        listed=listed,
    )(lambda r: _load(r, variant, "normalize"))
    register_model(
        f"swiftformer-{variant}-softmax",
        description="transformers port attention (softmax over a size-1 axis)",
        variant=variant,
        listed=listed,
    )(lambda r: _load(r, variant, "softmax"))


for _v in SWIFTFORMER_VARIANTS:
    _register(_v)
