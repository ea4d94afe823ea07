package com.google.ai.edge.litert;

public class TensorBuffer implements AutoCloseable {
  public void writeFloat(float[] data) throws LiteRtException { throw new UnsupportedOperationException("stub"); }
  public void writeInt8(byte[] data) throws LiteRtException { throw new UnsupportedOperationException("stub"); }
  public float[] readFloat() throws LiteRtException { throw new UnsupportedOperationException("stub"); }
  public byte[] readInt8() throws LiteRtException { throw new UnsupportedOperationException("stub"); }
  @Override public final void close() { throw new UnsupportedOperationException("stub"); }
}
