package com.google.ai.edge.litert;

public class LiteRtException extends Exception {
  private static final long serialVersionUID = 1L;
}
