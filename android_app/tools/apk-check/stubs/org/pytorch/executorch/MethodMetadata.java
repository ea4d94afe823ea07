package org.pytorch.executorch;

public class MethodMetadata {
  public String getName() { throw new UnsupportedOperationException("stub"); }
  public String[] getBackends() { throw new UnsupportedOperationException("stub"); }
}
