package com.google.ai.edge.litert;

import java.util.List;

public class CompiledModel implements AutoCloseable {
  public static final class CpuOptions {
    public CpuOptions(Integer numThreads, Integer xnnPackFlags, String xnnPackWeightCachePath) {}
  }

  public static final class Options {
    public Options(Accelerator... accelerators) {}
    public CpuOptions getCpuOptions() { throw new UnsupportedOperationException("stub"); }
    public void setCpuOptions(CpuOptions o) { throw new UnsupportedOperationException("stub"); }
  }

  public static CompiledModel create(String filePath, Options options, Environment optionalEnv) throws LiteRtException {
    throw new UnsupportedOperationException("stub");
  }
  public List<TensorBuffer> createInputBuffers() throws LiteRtException { throw new UnsupportedOperationException("stub"); }
  public List<TensorBuffer> createOutputBuffers() throws LiteRtException { throw new UnsupportedOperationException("stub"); }
  public void run(List<TensorBuffer> inputs, List<TensorBuffer> outputs) throws LiteRtException { throw new UnsupportedOperationException("stub"); }
  @Override public final void close() { throw new UnsupportedOperationException("stub"); }
}
