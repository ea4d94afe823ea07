package com.edgeexport.core;

import java.util.ArrayList;
import java.util.List;

/** The k largest logits with their labels and softmax probabilities. Ties go to the lower index. */
public final class TopK {
  private TopK() {}

  public static final class Prediction {
    public final int index;
    public final String label;
    public final float logit;
    public final double probability;

    public Prediction(int index, String label, float logit, double probability) {
      this.index = index;
      this.label = label;
      this.logit = logit;
      this.probability = probability;
    }

    @Override
    public String toString() {
      return String.format(java.util.Locale.ROOT, "%s (#%d) %.1f%%", label, index, 100.0 * probability);
    }
  }

  /** Indices of the k largest values, largest first (k is clipped to the length). NaN ranks lowest. */
  public static int[] indices(float[] values, int k) {
    if (k < 0) throw new IllegalArgumentException("k must be >= 0");
    k = Math.min(k, values.length);
    int[] best = new int[k];
    int filled = 0;
    for (int i = 0; i < values.length; i++) {
      float v = values[i];
      // insertion into a sorted prefix of length `filled` (descending); equal values keep index order
      int pos = filled;
      while (pos > 0 && greater(v, values[best[pos - 1]])) pos--;
      if (pos >= k) continue;
      int end = Math.min(filled, k - 1);
      for (int j = end; j > pos; j--) best[j] = best[j - 1];
      best[pos] = i;
      if (filled < k) filled++;
    }
    return best;
  }

  private static boolean greater(float a, float b) {
    if (Float.isNaN(a)) return false;
    if (Float.isNaN(b)) return true;
    return a > b;
  }

  /** Softmax over all logits (max-subtracted, in double). */
  public static double[] softmax(float[] logits) {
    double max = Double.NEGATIVE_INFINITY;
    for (float v : logits) if (v > max) max = v;
    double[] p = new double[logits.length];
    double sum = 0;
    for (int i = 0; i < logits.length; i++) {
      p[i] = Math.exp(logits[i] - max);
      sum += p[i];
    }
    for (int i = 0; i < p.length; i++) p[i] /= sum;
    return p;
  }

  public static List<Prediction> top(float[] logits, int k, Manifest manifest) {
    double[] p = softmax(logits);
    List<Prediction> out = new ArrayList<Prediction>();
    for (int i : indices(logits, k)) {
      String label = manifest != null ? manifest.label(i) : "class " + i;
      out.add(new Prediction(i, label, logits[i], p[i]));
    }
    return out;
  }
}
