package com.edgeexport.core.tools;

import com.edgeexport.core.Engine;
import com.edgeexport.core.Manifest;
import com.edgeexport.core.Quantization;
import com.edgeexport.core.TensorData;
import java.io.File;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A stand-in runtime for host tests: "loading" and each "inference" advance a {@link FakeClock} by
 * given durations, and the output is a deterministic function of the input, returned in the
 * manifest's output dtype (quantized when the manifest says so). It exercises everything in a
 * benchmark session except a real runtime.
 */
public final class FakeEngine implements Engine {
  private final String runtime;
  private final FakeClock clock;
  private final long loadNanos;
  private final long[] runNanos;
  private final Manifest.TensorSpec outputSpec;
  private final int failAtRun; // 1-based timed+warmup call index that throws, or 0
  private TensorData input;
  private int calls;
  private boolean loaded;
  public int threadsSeen = -1;
  public boolean closed;

  public FakeEngine(String runtime, FakeClock clock, long loadNanos, long[] runNanos, Manifest.TensorSpec outputSpec, int failAtRun) {
    if (runNanos.length == 0) throw new IllegalArgumentException("need at least one run duration");
    this.runtime = runtime;
    this.clock = clock;
    this.loadNanos = loadNanos;
    this.runNanos = runNanos.clone();
    this.outputSpec = outputSpec;
    this.failAtRun = failAtRun;
  }

  @Override
  public String runtime() {
    return runtime;
  }

  @Override
  public String runtimeVersion() {
    return "fake-1";
  }

  @Override
  public void load(File program, int threads) {
    if (!program.isFile()) throw new IllegalStateException("program file missing: " + program);
    threadsSeen = threads;
    clock.advance(loadNanos);
    loaded = true;
  }

  @Override
  public void setInput(TensorData in) {
    if (!loaded) throw new IllegalStateException("setInput before load");
    input = in;
  }

  @Override
  public void run() {
    if (input == null) throw new IllegalStateException("run before setInput");
    calls++;
    if (failAtRun > 0 && calls == failAtRun) throw new IllegalStateException("fake failure at call " + calls);
    clock.advance(runNanos[(calls - 1) % runNanos.length]);
  }

  public int calls() {
    return calls;
  }

  /** logits[i] = sin(0.37 i + mean(input)): depends on the input, distinct per class. */
  public static float[] logits(TensorData in, int classes) {
    double sum = 0;
    for (int i = 0; i < in.size(); i++) sum += in.isFloat() ? in.floats[i] : in.intAt(i);
    double mean = sum / in.size();
    float[] out = new float[classes];
    for (int i = 0; i < classes; i++) out[i] = (float) (4.0 * Math.sin(0.37 * i + mean));
    return out;
  }

  @Override
  public TensorData output() {
    if (calls == 0) throw new IllegalStateException("output before run");
    long classes = outputSpec.shape[outputSpec.shape.length - 1];
    float[] l = logits(input, (int) classes);
    if (outputSpec.quantization != null) {
      return TensorData.ofBytes(outputSpec.shape, outputSpec.dtype, outputSpec.layout, Quantization.quantize(l, outputSpec.quantization, outputSpec.dtype));
    }
    return TensorData.ofFloats(outputSpec.shape, outputSpec.layout, l);
  }

  @Override
  public Map<String, String> options() {
    Map<String, String> m = new LinkedHashMap<String, String>();
    m.put("engine", "fake");
    return m;
  }

  @Override
  public Trace writeTrace(File dir) {
    return new Trace(null, "fake engine: no per-op trace");
  }

  @Override
  public void close() {
    closed = true;
  }
}
