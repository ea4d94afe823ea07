package com.google.ai.edge.litert;

public class Environment implements AutoCloseable {
  @Override public final void close() { throw new UnsupportedOperationException("stub"); }
}
