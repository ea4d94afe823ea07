package com.edgeexport.core;

/** An artifact (manifest, program file, image) cannot be used as it is; the message says what to do. */
public class ArtifactException extends RuntimeException {
  public ArtifactException(String message) {
    super(message);
  }

  public ArtifactException(String message, Throwable cause) {
    super(message, cause);
  }
}
