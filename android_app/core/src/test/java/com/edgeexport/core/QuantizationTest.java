package com.edgeexport.core;

import static org.junit.jupiter.api.Assertions.*;

import org.junit.jupiter.api.Test;

class QuantizationTest {
  @Test
  void matchesNumpyRoundHalfEvenAndClip() {
    float[] x = {-1.0f, -0.5f, 0.5f, 1.5f, 2.5f, 0.26f, 100.0f, -100.0f};
    Manifest.QuantParams q = new Manifest.QuantParams(0.5, 3);
    // numpy: np.clip(np.round(x / 0.5) + 3, lo, hi).astype(dtype)
    assertArrayEquals(new byte[] {1, 2, 4, 6, 8, 4, 127, -128}, Quantization.quantize(x, q, "int8"));
    byte[] u = Quantization.quantize(x, q, "uint8");
    int[] got = new int[u.length];
    for (int i = 0; i < u.length; i++) got[i] = u[i] & 0xff;
    assertArrayEquals(new int[] {1, 2, 4, 6, 8, 4, 203, 0}, got);
  }

  @Test
  void exactHalvesGoToEven() {
    float[] x = {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -2.5f};
    assertArrayEquals(new byte[] {0, 2, 2, 0, -2, -2}, Quantization.quantize(x, new Manifest.QuantParams(1.0, 0), "int8"));
  }

  @Test
  void dequantizeAndToFloat() {
    Manifest.QuantParams q = new Manifest.QuantParams(0.25, -2);
    TensorData t = TensorData.ofBytes(new long[] {1, 3}, "int8", "NC", new byte[] {-2, 2, 127});
    assertArrayEquals(new float[] {0f, 1f, 32.25f}, Quantization.dequantize(t, q));
    Manifest.TensorSpec spec = new Manifest.TensorSpec("y", new long[] {1, 3}, "int8", "NC", q);
    assertArrayEquals(new float[] {0f, 1f, 32.25f}, Quantization.toFloat(t, spec));
    TensorData u = TensorData.ofBytes(new long[] {1, 1}, "uint8", "NC", new byte[] {(byte) 250});
    assertArrayEquals(new float[] {63f}, Quantization.dequantize(u, q));
    TensorData f = TensorData.ofFloats(new long[] {1, 2}, "NC", new float[] {1f, 2f});
    assertThrows(ArtifactException.class, () -> Quantization.toFloat(f, spec));
  }

  @Test
  void onlyEightBitTypes() {
    assertThrows(ArtifactException.class, () -> Quantization.quantize(new float[1], new Manifest.QuantParams(1, 0), "int16"));
    assertThrows(IllegalArgumentException.class, () -> TensorData.ofBytes(new long[] {1}, "float32", null, new byte[1]));
    assertThrows(IllegalArgumentException.class, () -> TensorData.ofFloats(new long[] {1, 3}, null, new float[2]));
  }
}
