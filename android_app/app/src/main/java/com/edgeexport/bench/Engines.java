package com.edgeexport.bench;

import com.edgeexport.core.ArtifactException;
import com.edgeexport.core.Engine;
import com.edgeexport.core.Manifest;

/** The runtime an artifact asks for. */
final class Engines {
  private Engines() {}

  static Engine forManifest(Manifest m) {
    if ("executorch".equals(m.runtime)) return new ExecuTorchEngine(m);
    if ("litert".equals(m.runtime)) return new LiteRtEngine(m);
    throw new ArtifactException("no engine for runtime " + m.runtime);
  }
}
