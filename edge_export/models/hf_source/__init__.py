"""`hf:<folder>` and `hf:<model_type>`: any transformers image classifier.

- `hf:<folder>`: a folder as `save_pretrained` writes it (config.json + model.safetensors or
  pytorch_model.bin, optionally preprocessor_config.json); weights loaded strictly, labels from id2label.
  A SwiftFormer folder is handed to the SwiftFormer family (the same function as
  `swiftformer-<variant> --checkpoint <folder>`).
- `hf:<model_type>` (`hf:deit`, `hf:mobilevitv2`, ...): that architecture from its default config,
  `--opt field=value` overriding config fields, seeded random init made meaningful (`init.py`).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from edge_export.errors import EdgeExportError
from edge_export.models.checkpoints import hf_folder_weights, labels_from_hf_config, read_hf_config
from edge_export.models.hf_source import config as hf_config
from edge_export.models.hf_source import export_form as _export_form  # noqa: F401  (the family registers)
from edge_export.models.hf_source.init import RULE, meaningful_init
from edge_export.models.hf_source.preprocessing import config_image_size, from_folder
from edge_export.models.loaded import LoadedModel
from edge_export.models.registry import ModelRequest, load_model, register_prefix, source_spec

FAMILY = "transformers"


@register_prefix("hf:", usage="hf:<folder> or hf:<model_type>")
def load_hf(request: ModelRequest) -> LoadedModel:
    what = request.model_id.removeprefix("hf:")
    if not what:
        raise EdgeExportError("bad model 'hf:': write hf:<folder saved with save_pretrained> or hf:<model_type>, e.g. hf:deit")
    folder = Path(what).expanduser()
    if folder.is_dir():
        return _from_folder(request, folder)
    if "/" in what or what.startswith("."):
        raise EdgeExportError(f"{folder} is not a folder: give a folder written by save_pretrained(), or hf:<model_type>")
    if request.checkpoint is not None:
        raise EdgeExportError(f"hf:{what} builds from a config: for weights, give the folder itself as hf:<folder>")
    return _from_config(request, what)


def _from_config(request: ModelRequest, model_type: str) -> LoadedModel:
    config = hf_config.default_config(model_type)
    applied = hf_config.apply_options(config, request.options, f"hf:{model_type}")
    cls = hf_config.classifier_class(config, f"hf:{model_type}")
    torch.manual_seed(request.seed)
    model = cls(config).eval()
    meaningful_init(model, request.seed, config_image_size(config))
    pre, pre_note = from_folder(None, config)
    source = source_spec(dataclasses.replace(request, options=applied), "config")
    notes = [f"{cls.__name__} from the default {model_type} config" + (f" with {applied}" if applied else ""), RULE,
             pre_note]
    return LoadedModel(model, FAMILY, source, pre, int(config.num_labels), None, notes)


def _from_folder(request: ModelRequest, folder: Path) -> LoadedModel:
    folder = folder.resolve()
    if not (folder / "config.json").is_file():
        raise EdgeExportError(f"{folder} has no config.json: save the model with save_pretrained()")
    raw = read_hf_config(folder)
    if raw.get("model_type") == "swiftformer":
        return _swiftformer(request, folder, raw)
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(folder, local_files_only=True)
    except (ValueError, KeyError, OSError) as e:
        raise EdgeExportError(f"{folder}/config.json is not a transformers config ({str(e).splitlines()[0][:100]})") from None
    applied = hf_config.apply_options(config, request.options, str(folder))
    cls = hf_config.classifier_class(config, str(folder))
    hf_folder_weights(folder)  # a clear error when the weights are missing
    model, info = cls.from_pretrained(folder, config=config, local_files_only=True, output_loading_info=True)
    problems = [f"{len(v)} {k.replace('_keys', '')} (first: {', '.join(map(str, v[:3]))})"
                for k, v in info.items() if k in ("missing_keys", "unexpected_keys", "mismatched_keys") and v]
    if problems:
        raise EdgeExportError(f"the weights in {folder} do not fit its {cls.__name__}: {'; '.join(problems)}")
    pre, pre_note = from_folder(folder, config)
    req = dataclasses.replace(request, model_id=f"hf:{folder}", checkpoint=folder, options=applied)
    source = source_spec(req, "hf-folder")
    labels = labels_from_hf_config(config.to_dict())
    notes = [f"{cls.__name__} from {folder}", pre_note]
    return LoadedModel(model.eval(), FAMILY, source, pre, int(config.num_labels), labels, notes)


def _swiftformer(request: ModelRequest, folder: Path, raw: dict) -> LoadedModel:
    from edge_export.models.swiftformer.spec import SWIFTFORMER_VARIANTS

    shape = (tuple(raw.get("depths", ())), tuple(raw.get("embed_dims", ())))
    variant = next((v for v, s in SWIFTFORMER_VARIANTS.items() if (s.depths, s.embed_dims) == shape), None)
    if variant is None:
        raise EdgeExportError(
            f"{folder} is a SwiftFormer with depths {list(shape[0])} and dims {list(shape[1])}, which no registered "
            "variant has: export it with module:<path>:<callable>"
        )
    return load_model(f"swiftformer-{variant}", folder, request.seed, request.options)
