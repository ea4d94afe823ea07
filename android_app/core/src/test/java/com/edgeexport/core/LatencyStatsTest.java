package com.edgeexport.core;

import static org.junit.jupiter.api.Assertions.*;

import org.junit.jupiter.api.Test;

/** Expected values are numpy's (np.percentile / np.median / np.mean), compared exactly. */
class LatencyStatsTest {
  @Test
  void oneToTen() {
    LatencyStats s = LatencyStats.of(new double[] {10, 9, 8, 7, 6, 5, 4, 3, 2, 1});
    assertEquals(10, s.n);
    assertEquals(1.0, s.min);
    assertEquals(1.9, s.p10);
    assertEquals(5.5, s.median);
    assertEquals(9.1, s.p90);
    assertEquals(10.0, s.max);
    assertEquals(5.5, s.mean);
  }

  @Test
  void floatingPointDetailsFollowNumpy() {
    // numpy: percentile 10 -> 0.16000000000000003, 90 -> 0.64, median 0.4, mean 0.39999999999999997
    LatencyStats s = LatencyStats.of(new double[] {0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7});
    assertEquals(0.16000000000000003, s.p10);
    assertEquals(0.64, s.p90);
    assertEquals(0.4, s.median);
    assertEquals(0.39999999999999997, s.mean);
  }

  @Test
  void singleValueAndEvenCount() {
    LatencyStats one = LatencyStats.of(new double[] {3.25});
    assertEquals(3.25, one.p10);
    assertEquals(3.25, one.p90);
    assertEquals(3.25, one.median);
    LatencyStats two = LatencyStats.of(new double[] {3, 1});
    assertEquals(2.0, two.median);
    assertEquals(1.2, two.p10, 1e-15);
  }

  @Test
  void pairwiseSumBlocks() {
    double[] a = new double[1000];
    for (int i = 0; i < a.length; i++) a[i] = 0.1 * (i % 17);
    double naive = 0;
    for (double v : a) naive += v;
    assertEquals(naive, LatencyStats.pairwiseSum(a, 0, a.length), 1e-9);
  }

  @Test
  void refusesEmptyAndNonFinite() {
    assertThrows(IllegalArgumentException.class, () -> LatencyStats.of(new double[0]));
    assertThrows(IllegalArgumentException.class, () -> LatencyStats.of(new double[] {1, Double.NaN}));
    assertThrows(IllegalArgumentException.class, () -> LatencyStats.of(new double[] {Double.POSITIVE_INFINITY}));
  }

  @Test
  void jsonHasSchemaKeysInOrder() {
    assertEquals("[n, min, p10, median, p90, max, mean]", LatencyStats.of(new double[] {1}).toJson().keySet().toString());
  }
}
