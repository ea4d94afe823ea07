package com.edgeexport.core;

/**
 * Image resizing with the exact index and weight rules of PyTorch's {@code F.interpolate} as used by
 * {@code edge_export.images}: bicubic and bilinear with {@code antialias=True, align_corners=False}
 * (the separable "area-aware" filter of PIL / torch's {@code _upsample_*_aa}: cubic a=-0.5, support
 * widened by the scale when shrinking, weights normalised per output pixel), and nearest with
 * {@code floor(dst * (in/out))} in float32.
 *
 * <p>Weights are computed and accumulated in double precision; torch computes float32 tensors in
 * float32, so results agree to about 1e-5 on [0,1] values, not bit for bit.
 */
public final class Resize {
  private Resize() {}

  /** Cubic convolution kernel with a = -0.5 (what torch's antialiased bicubic uses). */
  static double cubic(double x) {
    final double a = -0.5;
    x = Math.abs(x);
    if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
    if (x < 2.0) return (((x - 5.0) * x + 8.0) * x - 4.0) * a;
    return 0.0;
  }

  static double triangle(double x) {
    x = Math.abs(x);
    return x < 1.0 ? 1.0 - x : 0.0;
  }

  /** Per-output-pixel source ranges and normalised weights along one axis. */
  static final class Taps {
    final int[] start;
    final int[] count;
    final double[][] weights;

    Taps(int[] start, int[] count, double[][] weights) {
      this.start = start;
      this.count = count;
      this.weights = weights;
    }
  }

  static Taps taps(int inSize, int outSize, boolean bicubic) {
    int interpSize = bicubic ? 4 : 2;
    double scale = (double) inSize / outSize;
    double support = scale >= 1.0 ? (interpSize * 0.5) * scale : interpSize * 0.5;
    double invScale = scale >= 1.0 ? 1.0 / scale : 1.0;
    int[] start = new int[outSize];
    int[] count = new int[outSize];
    double[][] w = new double[outSize][];
    for (int i = 0; i < outSize; i++) {
      double center = scale * (i + 0.5);
      int xmin = Math.max((int) (center - support + 0.5), 0); // C++ truncation toward zero
      int xmax = Math.min((int) (center + support + 0.5), inSize);
      int n = Math.max(xmax - xmin, 0);
      double[] ws = new double[n];
      double total = 0.0;
      for (int j = 0; j < n; j++) {
        double arg = (j + xmin - center + 0.5) * invScale;
        ws[j] = bicubic ? cubic(arg) : triangle(arg);
        total += ws[j];
      }
      if (total != 0.0) {
        for (int j = 0; j < n; j++) ws[j] /= total;
      }
      start[i] = xmin;
      count[i] = n;
      w[i] = ws;
    }
    return new Taps(start, count, w);
  }

  /**
   * Resize a planar image (channels x inH x inW, float) to channels x outH x outW.
   *
   * @param mode "bicubic", "bilinear" or "nearest"
   */
  public static float[] planar(float[] src, int channels, int inH, int inW, int outH, int outW, String mode) {
    if (src.length != channels * inH * inW) throw new IllegalArgumentException("src size mismatch");
    if (outH <= 0 || outW <= 0) throw new IllegalArgumentException("output size must be positive");
    if ("nearest".equals(mode)) return nearest(src, channels, inH, inW, outH, outW);
    boolean bicubic;
    if ("bicubic".equals(mode)) {
      bicubic = true;
    } else if ("bilinear".equals(mode)) {
      bicubic = false;
    } else {
      throw new IllegalArgumentException("unknown interpolation " + mode);
    }
    Taps th = taps(inH, outH, bicubic);
    Taps tw = taps(inW, outW, bicubic);
    // horizontal pass: channels x inH x outW, kept in double
    double[] tmp = new double[channels * inH * outW];
    for (int c = 0; c < channels; c++) {
      for (int y = 0; y < inH; y++) {
        int row = (c * inH + y) * inW;
        int orow = (c * inH + y) * outW;
        for (int x = 0; x < outW; x++) {
          double acc = 0.0;
          double[] ws = tw.weights[x];
          int s = tw.start[x];
          for (int k = 0; k < tw.count[x]; k++) acc += ws[k] * src[row + s + k];
          tmp[orow + x] = acc;
        }
      }
    }
    float[] out = new float[channels * outH * outW];
    for (int c = 0; c < channels; c++) {
      for (int y = 0; y < outH; y++) {
        double[] ws = th.weights[y];
        int s = th.start[y];
        int orow = (c * outH + y) * outW;
        for (int x = 0; x < outW; x++) {
          double acc = 0.0;
          for (int k = 0; k < th.count[y]; k++) acc += ws[k] * tmp[(c * inH + s + k) * outW + x];
          out[orow + x] = (float) acc;
        }
      }
    }
    return out;
  }

  /** torch's nearest_idx: identity, halving for exact 2x, else min(floorf(dst * (float)in/out), in-1). */
  static int nearestIndex(int dst, int inSize, int outSize) {
    if (outSize == inSize) return dst;
    if (outSize == 2 * inSize) return dst >> 1;
    float scale = (float) inSize / outSize;
    float prod = dst * scale;
    return Math.min((int) Math.floor(prod), inSize - 1);
  }

  private static float[] nearest(float[] src, int channels, int inH, int inW, int outH, int outW) {
    int[] ys = new int[outH];
    int[] xs = new int[outW];
    for (int y = 0; y < outH; y++) ys[y] = nearestIndex(y, inH, outH);
    for (int x = 0; x < outW; x++) xs[x] = nearestIndex(x, inW, outW);
    float[] out = new float[channels * outH * outW];
    for (int c = 0; c < channels; c++) {
      for (int y = 0; y < outH; y++) {
        int srow = (c * inH + ys[y]) * inW;
        int orow = (c * outH + y) * outW;
        for (int x = 0; x < outW; x++) out[orow + x] = src[srow + xs[x]];
      }
    }
    return out;
  }
}
