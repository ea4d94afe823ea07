package org.pytorch.executorch;

public abstract class Tensor {
  public static Tensor fromBlob(float[] data, long[] shape) { throw new UnsupportedOperationException("stub"); }
  public static Tensor fromBlob(byte[] data, long[] shape) { throw new UnsupportedOperationException("stub"); }
  public static Tensor fromBlobUnsigned(byte[] data, long[] shape) { throw new UnsupportedOperationException("stub"); }
  public long[] shape() { throw new UnsupportedOperationException("stub"); }
  public abstract DType dtype();
  public float[] getDataAsFloatArray() { throw new UnsupportedOperationException("stub"); }
  public byte[] getDataAsByteArray() { throw new UnsupportedOperationException("stub"); }
  public byte[] getDataAsUnsignedByteArray() { throw new UnsupportedOperationException("stub"); }
}
