"""xnnpack-int8 calibration: activation observer choice (minmax vs histogram), cost and quality.

    python benchmarks/observers.py [--calib 32] [--images 16] [--json artifacts/bench/observers.json]

Replicates the xnnpack-int8 recipe (XNNPACKQuantizer, symmetric per-channel weights, per-tensor static
activations, additive attention kept float, the same export form and calibration photographs) and, for
each observer, times prepare / calibration / convert and measures the quantized PyTorch model (PT2E
reference: the .pte agrees with it to cos >= 0.997, see the ExecuTorch notes) against fp32 eager:
- SwiftFormer-XS, random weights with layer scale 1.0: cosine / top-1 / top-5 overlap on real photographs;
- swiftformer-test trained on scikit-learn's digits (tests/digits.py): accuracy on its held-out digits,
  and agreement with the fp32 model.
Lowering is left out: it is the same for both observers.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))


def quantize(module, sample, calib, observer: str, float_types) -> tuple[torch.nn.Module, dict]:
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
        XNNPACKQuantizer,
        get_symmetric_quantization_config,
    )
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    from edge_export.quantization import with_activation_observer

    config = with_activation_observer(get_symmetric_quantization_config(is_per_channel=True), observer)
    q = XNNPACKQuantizer().set_global(config)
    for t in float_types:
        q.set_module_type(t, None)
    t0 = time.perf_counter()
    graph = torch.export.export(module, (sample,), strict=False).module()
    prepared = prepare_pt2e(graph, q)
    t1 = time.perf_counter()
    with torch.no_grad():
        for b in calib:
            prepared(b)
    t2 = time.perf_counter()
    converted = convert_pt2e(prepared, fold_quantize=True)
    t3 = time.perf_counter()
    return converted, {"prepare_s": round(t1 - t0, 2), "calibrate_s": round(t2 - t1, 2), "convert_s": round(t3 - t2, 2),
                       "per_image_ms": round(1e3 * (t2 - t1) / max(len(calib), 1), 1)}


def compare(ref: np.ndarray, got: np.ndarray) -> dict:
    from edge_export.validate import compare_logits

    return {k: round(v, 5) for k, v in compare_logits(ref, got).items()}


def study_xs(observers, n_calib, n_images) -> dict:
    from edge_export.images import calibration_batches, validation_batch
    from edge_export.models import load_model
    from edge_export.models.export_form import export_form, float_module_types

    loaded = load_model("swiftformer-xs", options={"layer_scale_init_value": 1.0})
    module, _ = export_form(loaded)
    sample = torch.zeros(loaded.input_shape())
    calib = calibration_batches(loaded.preprocessing, n_calib, 0)
    _, val = validation_batch(loaded.preprocessing, n_images)
    with torch.no_grad():
        ref = loaded.logits(val).numpy()
    out = {"model": "swiftformer-xs (random weights, layer_scale_init_value=1.0)", "calibration_images": n_calib,
           "validation_images": n_images}
    for obs in observers:
        converted, times = quantize(module, sample, calib, obs, float_module_types(loaded))
        with torch.no_grad():
            got = torch.cat([converted(val[i : i + 1]) for i in range(len(val))]).numpy()
        out[obs] = {**times, **compare(ref, got)}
        print(f"XS {obs}: {out[obs]}", file=sys.stderr, flush=True)
    return out


def study_digits(observers, n_calib) -> dict:
    from digits import train_digits_swiftformer

    from edge_export.images import preprocess
    from edge_export.models.export_form import export_form, float_module_types

    loaded, images, labels, acc = train_digits_swiftformer()
    module, _ = export_form(loaded)
    x = torch.cat([preprocess(im, loaded.preprocessing) for im in images])
    # calibrate on training digits (images are the held-out ones): first n of the training split
    from digits import digit_images

    train_imgs, _ = digit_images()
    calib = [preprocess(im, loaded.preprocessing) for im in train_imgs[:n_calib]]
    with torch.no_grad():
        ref = loaded.logits(x).numpy()
    out = {"model": "swiftformer-test trained on digits (32 px)", "fp32_accuracy": round(acc, 4),
           "calibration_images": n_calib, "test_images": int(len(images))}
    for obs in observers:
        converted, times = quantize(module, torch.zeros(1, *x.shape[1:]), calib, obs, float_module_types(loaded))
        with torch.no_grad():
            got = torch.cat([converted(x[i : i + 1]) for i in range(len(x))]).numpy()
        acc8 = float((got.argmax(1) == labels).mean())
        out[obs] = {**times, "int8_accuracy": round(acc8, 4), **compare(ref, got)}
        print(f"digits {obs}: {out[obs]}", file=sys.stderr, flush=True)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calib", type=int, default=32)
    ap.add_argument("--images", type=int, default=16)
    ap.add_argument("--observers", default="minmax,histogram")
    ap.add_argument("--skip-xs", action="store_true")
    ap.add_argument("--json", type=Path, default=Path("artifacts/bench/observers.json"))
    args = ap.parse_args(argv)
    torch.set_num_threads(2)
    observers = [o for o in args.observers.split(",") if o]
    result = {"torch_threads": torch.get_num_threads()}
    if not args.skip_xs:
        result["xs"] = study_xs(observers, args.calib, args.images)
    result["digits"] = study_digits(observers, args.calib)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
