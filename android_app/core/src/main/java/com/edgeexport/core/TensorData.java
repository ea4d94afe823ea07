package com.edgeexport.core;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * A dense tensor as the runtimes take it: float32 values or 8-bit integers (int8 / uint8), with
 * shape, dtype name and layout as the manifest spells them.
 */
public final class TensorData {
  public final long[] shape;
  public final String dtype; // "float32" | "int8" | "uint8"
  public final String layout; // may be null
  public final float[] floats; // set when dtype is float32
  public final byte[] bytes; // set when dtype is int8 / uint8 (two's complement bytes)

  private TensorData(long[] shape, String dtype, String layout, float[] floats, byte[] bytes) {
    this.shape = shape.clone();
    this.dtype = dtype;
    this.layout = layout;
    this.floats = floats;
    this.bytes = bytes;
    long n = numel(shape);
    int have = floats != null ? floats.length : bytes.length;
    if (n != have) {
      throw new IllegalArgumentException("shape " + Arrays.toString(shape) + " needs " + n + " values, got " + have);
    }
  }

  public static TensorData ofFloats(long[] shape, String layout, float[] values) {
    return new TensorData(shape, "float32", layout, values, null);
  }

  public static TensorData ofBytes(long[] shape, String dtype, String layout, byte[] values) {
    if (!"int8".equals(dtype) && !"uint8".equals(dtype)) {
      throw new IllegalArgumentException("byte tensors are int8 or uint8, not " + dtype);
    }
    return new TensorData(shape, dtype, layout, null, values);
  }

  public boolean isFloat() {
    return floats != null;
  }

  public boolean isUnsigned() {
    return "uint8".equals(dtype);
  }

  public int size() {
    return floats != null ? floats.length : bytes.length;
  }

  /** Integer value of element i of a byte tensor (sign- or zero-extended by dtype). */
  public int intAt(int i) {
    return isUnsigned() ? (bytes[i] & 0xff) : bytes[i];
  }

  /** Little-endian raw bytes (float32 or int8/uint8), as numpy's tobytes() on the host writes them. */
  public byte[] toLittleEndianBytes() {
    if (bytes != null) return bytes.clone();
    ByteBuffer b = ByteBuffer.allocate(floats.length * 4).order(ByteOrder.LITTLE_ENDIAN);
    b.asFloatBuffer().put(floats);
    return b.array();
  }

  public static long numel(long[] shape) {
    long n = 1;
    for (long d : shape) n *= d;
    return n;
  }
}
