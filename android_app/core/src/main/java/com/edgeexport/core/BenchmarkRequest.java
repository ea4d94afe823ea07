package com.edgeexport.core;

/**
 * What a benchmark-mode start asks for ({@code am start ... --es model DIR --ei runs N --ei threads N
 * --ei warmup N [--es image FILE] [--es run_id ID] [--es out DIR]}), validated with messages that say
 * which extra to fix.
 */
public final class BenchmarkRequest {
  public static final int DEFAULT_RUNS = 50;
  public static final int DEFAULT_WARMUP = 5;
  public static final int DEFAULT_THREADS = 4;

  public final String model;
  public final int runs;
  public final int warmup;
  public final int threads;
  public final String image; // null: the bundled sample image
  public final String runId; // echoed in the result line; may be null
  public final boolean verifySha256;

  public BenchmarkRequest(String model, int runs, int warmup, int threads, String image, String runId, boolean verifySha256) {
    if (model == null || model.trim().isEmpty()) {
      throw new IllegalArgumentException("missing extra 'model': pass --es model <artifact dir or name>");
    }
    if (runs < 1 || runs > 100000) throw new IllegalArgumentException("extra 'runs' must be 1..100000, got " + runs);
    if (warmup < 0 || warmup > 10000) throw new IllegalArgumentException("extra 'warmup' must be 0..10000, got " + warmup);
    if (threads < 0 || threads > 64) {
      throw new IllegalArgumentException("extra 'threads' must be 0..64 (0 = runtime default), got " + threads);
    }
    if (runId != null && !runId.matches("[A-Za-z0-9._:-]{1,64}")) {
      throw new IllegalArgumentException("extra 'run_id' must be 1-64 characters of [A-Za-z0-9._:-]");
    }
    this.model = model.trim();
    this.runs = runs;
    this.warmup = warmup;
    this.threads = threads;
    this.image = image;
    this.runId = runId;
    this.verifySha256 = verifySha256;
  }
}
