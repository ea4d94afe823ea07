package org.pytorch.executorch;

public class Module implements java.io.Closeable {
  public static final int LOAD_MODE_FILE = 0;
  public static final int LOAD_MODE_MMAP = 1;
  public static Module load(String modelPath, int loadMode, int numThreads) { throw new UnsupportedOperationException("stub"); }
  public EValue[] forward(EValue... inputs) { throw new UnsupportedOperationException("stub"); }
  public void loadMethod(String methodName) { throw new UnsupportedOperationException("stub"); }
  public MethodMetadata getMethodMetadata(String name) { throw new UnsupportedOperationException("stub"); }
  public boolean etdump(String outputPath) { throw new UnsupportedOperationException("stub"); }
  public void destroy() { throw new UnsupportedOperationException("stub"); }
  @Override public void close() { throw new UnsupportedOperationException("stub"); }
}
