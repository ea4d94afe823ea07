package com.edgeexport.core;

import java.io.Closeable;
import java.io.File;
import java.util.Map;

/**
 * One runtime (ExecuTorch, LiteRT) behind the benchmark session. The Android app implements it with
 * the real runtime AARs; tests implement it with fakes. Calls come from one thread, in the order
 * load, setInput, run..., output, writeTrace, close.
 */
public interface Engine extends Closeable {
  /** "executorch" or "litert": must equal the manifest's runtime. */
  String runtime();

  /** The runtime library version the app was built against, e.g. "1.5.1". */
  String runtimeVersion();

  void load(File program, int threads) throws Exception;

  void setInput(TensorData input) throws Exception;

  /** One inference on the current input. */
  void run() throws Exception;

  /** First output of the last run, raw (float32 or int8/uint8). */
  TensorData output() throws Exception;

  /** How the engine ran the program (load mode, accelerator...), recorded in provenance.options. */
  Map<String, String> options();

  /**
   * Write the runtime's per-operator trace (ExecuTorch ETDump) into {@code dir}, if this runtime
   * build can. Never throws: the result says what happened.
   */
  Trace writeTrace(File dir);

  final class Trace {
    /** File written, or null. */
    public final File file;
    /** What happened, for the profile's notes. */
    public final String note;

    public Trace(File file, String note) {
      this.file = file;
      this.note = note;
    }
  }
}
