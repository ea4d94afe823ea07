package com.edgeexport.core;

import static org.junit.jupiter.api.Assertions.*;

import org.junit.jupiter.api.Test;

/** Reference values come from torch.nn.functional.interpolate on float64 tensors (antialias=True). */
class ResizeTest {
  private static final float[] RAMP = {0, 1, 2, 3, 4, 5, 6, 7};

  private static void close(double[] want, float[] got, double tol) {
    assertEquals(want.length, got.length);
    for (int i = 0; i < want.length; i++) assertEquals(want[i], got[i], tol, "element " + i);
  }

  @Test
  void bilinearDownscaleMatchesTorch() {
    close(new double[] {0.7142857142857142, 2.5, 4.5, 6.285714285714286}, Resize.planar(RAMP, 1, 1, 8, 1, 4, "bilinear"), 1e-6);
  }

  @Test
  void bicubicDownscaleMatchesTorch() {
    close(new double[] {0.8964650199674604, 3.5000000000000004, 6.103534980032542}, Resize.planar(RAMP, 1, 1, 8, 1, 3, "bicubic"), 1e-6);
  }

  @Test
  void bicubicUpscaleMatchesTorch() {
    close(new double[] {-0.05610236220472432, 0.515951496711262, 1.3181818181818181, 2.045454545454546, 2.7727272727272725, 3.5,
        4.2272727272727275, 4.954545454545455, 5.681818181818182, 6.484048503288737, 7.056102362204724},
        Resize.planar(RAMP, 1, 1, 8, 1, 11, "bicubic"), 1e-6);
  }

  @Test
  void nearestMatchesTorchIndices() {
    close(new double[] {0, 1, 3, 4, 6}, Resize.planar(RAMP, 1, 1, 8, 1, 5, "nearest"), 0);
    close(new double[] {0, 2, 5}, Resize.planar(RAMP, 1, 1, 8, 1, 3, "nearest"), 0);
    assertEquals(3, Resize.nearestIndex(7, 4, 8)); // exact 2x: dst >> 1
  }

  @Test
  void sameSizeIsIdentityAndConstantsStayConstant() {
    float[] img = new float[2 * 5 * 7];
    for (int i = 0; i < img.length; i++) img[i] = (i * 37 % 11) / 10f;
    for (String mode : new String[] {"bicubic", "bilinear", "nearest"}) {
      assertArrayEquals(img, Resize.planar(img, 2, 5, 7, 5, 7, mode), 1e-6f, mode);
    }
    float[] flat = new float[3 * 40 * 30];
    java.util.Arrays.fill(flat, 0.25f);
    for (float v : Resize.planar(flat, 3, 40, 30, 17, 23, "bicubic")) assertEquals(0.25f, v, 1e-6f);
    for (float v : Resize.planar(flat, 3, 40, 30, 77, 51, "bilinear")) assertEquals(0.25f, v, 1e-6f);
  }

  @Test
  void weightsAreNormalised() {
    for (boolean cubic : new boolean[] {true, false}) {
      Resize.Taps t = Resize.taps(451, 374, cubic);
      for (double[] w : t.weights) {
        double s = 0;
        for (double x : w) s += x;
        assertEquals(1.0, s, 1e-12);
      }
    }
  }

  @Test
  void rejectsUnknownModeAndBadSizes() {
    assertThrows(IllegalArgumentException.class, () -> Resize.planar(RAMP, 1, 1, 8, 1, 4, "lanczos"));
    assertThrows(IllegalArgumentException.class, () -> Resize.planar(RAMP, 1, 1, 8, 0, 4, "bicubic"));
    assertThrows(IllegalArgumentException.class, () -> Resize.planar(RAMP, 1, 2, 8, 1, 4, "bicubic"));
  }
}
