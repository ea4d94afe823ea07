package com.edgeexport.core;

import java.util.Arrays;

/**
 * Warm-up then timed runs of one step (one inference), each timed on its own with an injectable
 * clock. A failing timed run stops the loop and marks the result incomplete, keeping the runs that
 * finished; a failing warm-up run is an error (nothing was measured).
 */
public final class Benchmark {
  private Benchmark() {}

  /** One inference. */
  public interface Step {
    void run() throws Exception;
  }

  public static final class Result {
    /** Wall time of the very first run (warm-up or timed), in ms: includes lazy init in most runtimes. */
    public final double firstRunMs;
    /** One entry per finished timed run, in ms, in run order. */
    public final double[] latenciesMs;
    public final int requestedRuns;
    public final boolean complete;
    /** Why the loop stopped early, or null. */
    public final String error;

    Result(double firstRunMs, double[] latenciesMs, int requestedRuns, boolean complete, String error) {
      this.firstRunMs = firstRunMs;
      this.latenciesMs = latenciesMs;
      this.requestedRuns = requestedRuns;
      this.complete = complete;
      this.error = error;
    }

    public LatencyStats stats() {
      return LatencyStats.of(latenciesMs);
    }
  }

  public static double ms(long nanos) {
    return nanos / 1e6;
  }

  /** Time one call of {@code step} in ms. */
  public static double time(Clock clock, Step step) throws Exception {
    long t0 = clock.nanoTime();
    step.run();
    return ms(clock.nanoTime() - t0);
  }

  public static Result run(Clock clock, int warmup, int runs, Step step) throws Exception {
    if (warmup < 0) throw new IllegalArgumentException("warmup must be >= 0, got " + warmup);
    if (runs < 1) throw new IllegalArgumentException("runs must be >= 1, got " + runs);
    double first = Double.NaN;
    for (int i = 0; i < warmup; i++) {
      double t = time(clock, step);
      if (i == 0) first = t;
    }
    double[] lat = new double[runs];
    int done = 0;
    String error = null;
    for (; done < runs; done++) {
      double t;
      try {
        t = time(clock, step);
      } catch (Exception e) {
        error = "run " + (done + 1) + " of " + runs + " failed: " + e;
        if (done == 0) throw e;
        break;
      }
      lat[done] = t;
      if (warmup == 0 && done == 0) first = t;
    }
    return new Result(first, Arrays.copyOf(lat, done), runs, done == runs, error);
  }
}
