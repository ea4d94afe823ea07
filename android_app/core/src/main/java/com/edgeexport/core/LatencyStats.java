package com.edgeexport.core;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Latency summary with the definitions of {@code edge_export.profile.schema.Stats.of} (numpy): min, max,
 * p10 / p90 by numpy's default "linear" percentile, median, and mean by numpy's pairwise summation,
 * reproduced operation for operation so both sides give the same doubles for the same runs.
 */
public final class LatencyStats {
  public final int n;
  public final double min;
  public final double p10;
  public final double median;
  public final double p90;
  public final double max;
  public final double mean;

  private LatencyStats(int n, double min, double p10, double median, double p90, double max, double mean) {
    this.n = n;
    this.min = min;
    this.p10 = p10;
    this.median = median;
    this.p90 = p90;
    this.max = max;
    this.mean = mean;
  }

  public static LatencyStats of(double[] valuesMs) {
    if (valuesMs.length == 0) throw new IllegalArgumentException("no measurements");
    for (double v : valuesMs) {
      if (Double.isNaN(v) || Double.isInfinite(v)) throw new IllegalArgumentException("non-finite measurement " + v);
    }
    double[] s = valuesMs.clone();
    Arrays.sort(s);
    int n = s.length;
    return new LatencyStats(
        n, s[0], percentileSorted(s, 10), medianSorted(s), percentileSorted(s, 90), s[n - 1], mean(valuesMs));
  }

  /** numpy.percentile(a, q) with method="linear" on sorted data. */
  public static double percentileSorted(double[] sorted, double q) {
    int n = sorted.length;
    double quantile = q / 100.0;
    double virtual = (n - 1) * quantile;
    int prev;
    int next;
    if (virtual >= n - 1) {
      prev = n - 1;
      next = n - 1;
    } else if (virtual < 0) {
      prev = 0;
      next = 0;
    } else {
      prev = (int) Math.floor(virtual);
      next = prev + 1;
    }
    // at the ends prev == next, so lerp returns that value exactly whatever the weight
    return lerp(sorted[prev], sorted[next], virtual - Math.floor(virtual));
  }

  /** numpy's _lerp: a + (b-a)*t, or b - (b-a)*(1-t) when t >= 0.5. */
  static double lerp(double a, double b, double t) {
    double diff = b - a;
    if (t >= 0.5) return b - diff * (1 - t);
    return a + diff * t;
  }

  /** numpy.median: the middle value, or the mean of the two middle values. */
  public static double medianSorted(double[] sorted) {
    int n = sorted.length;
    if (n % 2 == 1) return sorted[n / 2];
    double a = sorted[n / 2 - 1];
    double b = sorted[n / 2];
    return ((-0.0 + a) + b) / 2.0; // np.mean of two values: pairwise sum (starts at -0.0) / 2
  }

  /** numpy.mean of a float64 vector: pairwise summation (blocks of 8, 128) divided by n. */
  public static double mean(double[] a) {
    return pairwiseSum(a, 0, a.length) / a.length;
  }

  static double pairwiseSum(double[] a, int lo, int n) {
    if (n < 8) {
      double res = -0.0;
      for (int i = 0; i < n; i++) res += a[lo + i];
      return res;
    } else if (n <= 128) {
      double[] r = new double[8];
      for (int j = 0; j < 8; j++) r[j] = a[lo + j];
      int i;
      for (i = 8; i < n - (n % 8); i += 8) {
        for (int j = 0; j < 8; j++) r[j] += a[lo + i + j];
      }
      double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
      for (; i < n; i++) res += a[lo + i];
      return res;
    } else {
      int n2 = n / 2;
      n2 -= n2 % 8;
      return pairwiseSum(a, lo, n2) + pairwiseSum(a, lo + n2, n - n2);
    }
  }

  /** The profile schema's Stats object, keys in schema order. */
  public Map<String, Object> toJson() {
    Map<String, Object> m = new LinkedHashMap<String, Object>();
    m.put("n", Long.valueOf(n));
    m.put("min", Double.valueOf(min));
    m.put("p10", Double.valueOf(p10));
    m.put("median", Double.valueOf(median));
    m.put("p90", Double.valueOf(p90));
    m.put("max", Double.valueOf(max));
    m.put("mean", Double.valueOf(mean));
    return m;
  }
}
