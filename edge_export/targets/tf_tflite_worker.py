"""Child side of the tf-tflite-fp32 target: transformers' TFSwiftFormer -> tf.lite.TFLiteConverter.

Runs through edge_export.child (`convert(request)`), loaded by file path so that no other part of this
package - nothing that imports ai_edge_litert - is imported beside TensorFlow: TF and ai_edge_litert's
protobufs clash in one process (shared/notes/environment.md). The parent sets transformers' USE_TF and
USE_TORCH to AUTO (this package defaults USE_TF off).

Request: {"hf_dir", "out", "image_size"}; result: {"load_seconds", "convert_seconds", "bytes", "tensorflow"}.
"""

from __future__ import annotations

import os
import time


def convert(request: dict) -> dict:
    import tensorflow as tf
    from transformers import TFSwiftFormerForImageClassification

    hf_dir, out_path, image_size = request["hf_dir"], request["out"], int(request["image_size"])
    start = time.perf_counter()
    # from_pt=True: the weights are the PyTorch ones saved by the parent (save_pretrained).
    model = TFSwiftFormerForImageClassification.from_pretrained(hf_dir, from_pt=True)
    load_seconds = time.perf_counter() - start

    @tf.function(input_signature=[tf.TensorSpec([1, 3, image_size, image_size], tf.float32, name="pixel_values")])
    def serve(pixel_values):
        return {"logits": model(pixel_values=pixel_values, training=False).logits}

    start = time.perf_counter()
    # The converter saves its trackable object as a SavedModel: the Keras model itself costs ~20 s of
    # serialising every layer's call functions for XS; a module holding only its variables gives the same
    # flatbuffer in a fraction of that (docs/measurements.md "Export cost").
    variables = tf.Module()
    variables.variables_ = list(model.variables)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([serve.get_concrete_function()], variables)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]  # no Flex ops: must run in plain LiteRT
    flatbuffer = converter.convert()
    convert_seconds = time.perf_counter() - start
    tmp = out_path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(flatbuffer)
    os.replace(tmp, out_path)
    return {"load_seconds": round(load_seconds, 2), "convert_seconds": round(convert_seconds, 2),
            "bytes": len(flatbuffer), "tensorflow": tf.__version__}
