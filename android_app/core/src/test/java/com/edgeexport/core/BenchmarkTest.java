package com.edgeexport.core;

import static org.junit.jupiter.api.Assertions.*;

import com.edgeexport.core.tools.FakeClock;
import org.junit.jupiter.api.Test;

class BenchmarkTest {
  /** A step that takes durations[i] ns on the fake clock, failing at call `failAt` (1-based). */
  private static Benchmark.Step step(final FakeClock clock, final long[] durations, final int failAt, final int[] calls) {
    return new Benchmark.Step() {
      @Override
      public void run() {
        calls[0]++;
        if (calls[0] == failAt) throw new IllegalStateException("boom");
        clock.advance(durations[(calls[0] - 1) % durations.length]);
      }
    };
  }

  @Test
  void warmupIsNotTimedButFirstRunIsRecorded() throws Exception {
    FakeClock c = new FakeClock(0);
    int[] calls = {0};
    Benchmark.Result r = Benchmark.run(c, 2, 4, step(c, new long[] {90_000_000L, 1_000_000L, 2_000_000L, 3_000_000L, 4_000_000L, 5_000_000L}, 0, calls));
    assertEquals(6, calls[0]);
    assertEquals(90.0, r.firstRunMs);
    assertArrayEquals(new double[] {2.0, 3.0, 4.0, 5.0}, r.latenciesMs);
    assertTrue(r.complete);
    assertNull(r.error);
    assertEquals(3.5, r.stats().median);
  }

  @Test
  void withoutWarmupTheFirstTimedRunIsTheFirstRun() throws Exception {
    FakeClock c = new FakeClock(5);
    Benchmark.Result r = Benchmark.run(c, 0, 3, step(c, new long[] {7_500_000L, 1_250_000L}, 0, new int[1]));
    assertEquals(7.5, r.firstRunMs);
    assertArrayEquals(new double[] {7.5, 1.25, 7.5}, r.latenciesMs);
  }

  @Test
  void failureMidwayKeepsFinishedRunsAndMarksIncomplete() throws Exception {
    FakeClock c = new FakeClock(0);
    Benchmark.Result r = Benchmark.run(c, 1, 5, step(c, new long[] {1_000_000L}, 4, new int[1]));
    assertFalse(r.complete);
    assertEquals(2, r.latenciesMs.length);
    assertEquals(5, r.requestedRuns);
    assertTrue(r.error.contains("run 3 of 5") && r.error.contains("boom"), r.error);
  }

  @Test
  void failureBeforeAnyMeasurementThrows() {
    FakeClock c = new FakeClock(0);
    assertThrows(IllegalStateException.class, () -> Benchmark.run(c, 1, 5, step(c, new long[] {1L}, 1, new int[1])));
    assertThrows(IllegalStateException.class, () -> Benchmark.run(c, 0, 5, step(c, new long[] {1L}, 1, new int[1])));
  }

  @Test
  void validatesCounts() {
    FakeClock c = new FakeClock(0);
    assertThrows(IllegalArgumentException.class, () -> Benchmark.run(c, 0, 0, step(c, new long[] {1L}, 0, new int[1])));
    assertThrows(IllegalArgumentException.class, () -> Benchmark.run(c, -1, 1, step(c, new long[] {1L}, 0, new int[1])));
  }

  @Test
  void systemClockIsMonotonic() throws Exception {
    long a = Clock.SYSTEM.nanoTime();
    long b = Clock.SYSTEM.nanoTime();
    assertTrue(b >= a);
    double t = Benchmark.time(Clock.SYSTEM, () -> Thread.sleep(2));
    assertTrue(t >= 1.5, "slept 2 ms, measured " + t);
  }
}
