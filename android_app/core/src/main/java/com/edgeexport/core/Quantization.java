package com.edgeexport.core;

/**
 * Affine int8 / uint8 quantization with the same arithmetic as {@code edge_export.runtimes.base}:
 * {@code clip(round_half_even(x / scale) + zero_point, dtype.min, dtype.max)} in float32 (numpy 2
 * keeps a float32 array float32 when divided by a Python float), and {@code (q - zp) * scale} back.
 */
public final class Quantization {
  private Quantization() {}

  public static int minOf(String dtype) {
    if ("int8".equals(dtype)) return -128;
    if ("uint8".equals(dtype)) return 0;
    throw new ArtifactException("quantized tensors must be int8 or uint8, not " + dtype);
  }

  public static int maxOf(String dtype) {
    if ("int8".equals(dtype)) return 127;
    if ("uint8".equals(dtype)) return 255;
    throw new ArtifactException("quantized tensors must be int8 or uint8, not " + dtype);
  }

  public static byte[] quantize(float[] x, Manifest.QuantParams q, String dtype) {
    int lo = minOf(dtype);
    int hi = maxOf(dtype);
    float scale = (float) q.scale;
    float zp = (float) q.zeroPoint;
    byte[] out = new byte[x.length];
    for (int i = 0; i < x.length; i++) {
      float v = (float) Math.rint(x[i] / scale) + zp; // float32 division, round half to even
      if (Float.isNaN(v)) v = zp;
      if (v < lo) v = lo;
      if (v > hi) v = hi;
      out[i] = (byte) (int) v;
    }
    return out;
  }

  public static float[] dequantize(TensorData t, Manifest.QuantParams q) {
    float scale = (float) q.scale;
    float zp = (float) q.zeroPoint;
    float[] out = new float[t.size()];
    for (int i = 0; i < out.length; i++) out[i] = ((float) t.intAt(i) - zp) * scale;
    return out;
  }

  /** Float logits from a program output as the manifest describes it (dequantized if quantized). */
  public static float[] toFloat(TensorData t, Manifest.TensorSpec spec) {
    if (spec.quantization != null) {
      if (t.isFloat()) {
        throw new ArtifactException("output '" + spec.name + "' is quantized in the manifest but the runtime returned float32");
      }
      return dequantize(t, spec.quantization);
    }
    if (!t.isFloat()) {
      float[] out = new float[t.size()];
      for (int i = 0; i < out.length; i++) out[i] = t.intAt(i);
      return out;
    }
    return t.floats;
  }
}
