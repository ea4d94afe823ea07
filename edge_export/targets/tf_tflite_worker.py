"""Child process of the tf-tflite-fp32 target: transformers' TFSwiftFormer -> tf.lite.TFLiteConverter.

Run as `python path/to/tf_tflite_worker.py HF_DIR OUT.tflite IMAGE_SIZE` (by file path, not `-m`, so the
edge_export package - which switches USE_TF off - is never imported here). It lives in its own process
because TensorFlow must be imported with USE_TF enabled, and because TF and ai_edge_litert's protobufs
clash in one process (shared/notes/environment.md).

Prints one JSON line on stdout: {"ok": true, "load_seconds": .., "convert_seconds": .., "bytes": ..}
or {"ok": false, "error": "..."}; exit code 0 / 1.
"""

from __future__ import annotations

import json
import os
import sys
import time

# Run as a script, Python puts this file's directory first on sys.path, where litert.py would shadow any
# top-level module named `litert` that TensorFlow or transformers look for. Drop it before importing them.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]


def convert(hf_dir: str, out_path: str, image_size: int) -> dict:
    import tensorflow as tf
    from transformers import TFSwiftFormerForImageClassification

    start = time.perf_counter()
    # from_pt=True: the weights are the PyTorch ones saved by the parent (save_pretrained).
    model = TFSwiftFormerForImageClassification.from_pretrained(hf_dir, from_pt=True)
    load_seconds = time.perf_counter() - start

    @tf.function(input_signature=[tf.TensorSpec([1, 3, image_size, image_size], tf.float32, name="pixel_values")])
    def serve(pixel_values):
        return {"logits": model(pixel_values=pixel_values, training=False).logits}

    start = time.perf_counter()
    converter = tf.lite.TFLiteConverter.from_concrete_functions([serve.get_concrete_function()], model)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]  # no Flex ops: must run in plain LiteRT
    flatbuffer = converter.convert()
    convert_seconds = time.perf_counter() - start
    tmp = out_path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(flatbuffer)
    os.replace(tmp, out_path)
    return {"ok": True, "load_seconds": round(load_seconds, 2), "convert_seconds": round(convert_seconds, 2),
            "bytes": len(flatbuffer), "tensorflow": tf.__version__}


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(json.dumps({"ok": False, "error": "usage: tf_tflite_worker HF_DIR OUT.tflite IMAGE_SIZE"}))
        return 2
    try:
        result = convert(argv[0], argv[1], int(argv[2]))
    except Exception as e:  # reported to the parent as one line; it raises ExportFailed
        first = (str(e).strip().splitlines() or [""])[0][:300]
        print(json.dumps({"ok": False, "error": f"{type(e).__name__}: {first}"}))
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
