package com.edgeexport.core;

import java.util.Arrays;

/**
 * Turns an RGB image into exactly the input tensor an artifact expects, following its manifest:
 * the same steps as {@code edge_export.images.preprocess} (scale to [0,1], resize the short side to
 * {@code round(image_size / crop_pct)}, clamp, centre crop, normalise) and then
 * {@code edge_export.runtimes.base.to_program_input} (NHWC transpose, int8/uint8 quantization).
 */
public final class Preprocessor {
  private Preprocessor() {}

  /** Size of the short-side resize of an h x w image: Python's {@code max(size, round(h * size / min(h, w)))}. */
  public static int[] resizedSize(int h, int w, int size) {
    double scale = (double) size / Math.min(h, w);
    int nh = Math.max(size, (int) Math.rint(h * scale));
    int nw = Math.max(size, (int) Math.rint(w * scale));
    return new int[] {nh, nw};
  }

  /** The normalised image as float32 NCHW [1, 3, S, S] (S = image_size), before any layout change. */
  public static float[] normalizedNchw(RgbImage img, Manifest.Preprocessing p) {
    int h = img.height;
    int w = img.width;
    float[] planar = new float[3 * h * w];
    for (int y = 0; y < h; y++) {
      for (int x = 0; x < w; x++) {
        int src = (y * w + x) * 3;
        for (int c = 0; c < 3; c++) planar[(c * h + y) * w + x] = (img.rgb[src + c] & 0xff) / 255.0f;
      }
    }
    int[] nhw = resizedSize(h, w, p.resizeSize());
    int rh = nhw[0];
    int rw = nhw[1];
    float[] resized = Resize.planar(planar, 3, h, w, rh, rw, p.interpolation);
    int s = p.imageSize;
    if (rh < s || rw < s) {
      throw new ArtifactException("resized image " + rh + "x" + rw + " is smaller than the crop " + s + " (crop_pct > 1?)");
    }
    int top = (rh - s) / 2;
    int left = (rw - s) / 2;
    float[] out = new float[3 * s * s];
    for (int c = 0; c < 3; c++) {
      float mean = (float) p.mean[c];
      float std = (float) p.std[c];
      for (int y = 0; y < s; y++) {
        int srow = (c * rh + top + y) * rw + left;
        int orow = (c * s + y) * s;
        for (int x = 0; x < s; x++) {
          float v = resized[srow + x];
          if (v < 0f) v = 0f; // clamp_(0, 1) happens right after the resize in Python
          if (v > 1f) v = 1f;
          out[orow + x] = (v - mean) / std;
        }
      }
    }
    return out;
  }

  /** Checks that the manifest's first input is an image input this preprocessing can fill. */
  public static void checkInputSpec(Manifest m) {
    Manifest.TensorSpec in = m.input();
    int s = m.preprocessing.imageSize;
    long[] want = "NHWC".equals(in.layout) ? new long[] {1, s, s, 3} : new long[] {1, 3, s, s};
    if (!Arrays.equals(in.shape, want)) {
      throw new ArtifactException(
          "input '" + in.name + "' has shape " + Arrays.toString(in.shape) + " (" + (in.layout == null ? "no layout" : in.layout)
              + ") but preprocessing.image_size " + s + " gives " + Arrays.toString(want) + ": re-export the artifact");
    }
    if (in.quantization == null) {
      if (!"float32".equals(in.dtype)) {
        throw new ArtifactException("input '" + in.name + "' is " + in.dtype + " without quantization parameters: the app feeds float32 or quantized int8/uint8");
      }
    } else {
      Quantization.minOf(in.dtype); // int8 / uint8 only
    }
  }

  /** NCHW [1,3,S,S] -> NHWC [1,S,S,3]. */
  public static float[] nchwToNhwc(float[] nchw, int channels, int h, int w) {
    float[] out = new float[nchw.length];
    for (int c = 0; c < channels; c++) {
      for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) out[(y * w + x) * channels + c] = nchw[(c * h + y) * w + x];
      }
    }
    return out;
  }

  /** The program's input tensor for this image, in its own layout and dtype. */
  public static TensorData prepare(RgbImage img, Manifest m) {
    checkInputSpec(m);
    Manifest.TensorSpec in = m.input();
    int s = m.preprocessing.imageSize;
    float[] x = normalizedNchw(img, m.preprocessing);
    if ("NHWC".equals(in.layout)) x = nchwToNhwc(x, 3, s, s);
    if (in.quantization != null) {
      return TensorData.ofBytes(in.shape, in.dtype, in.layout, Quantization.quantize(x, in.quantization, in.dtype));
    }
    return TensorData.ofFloats(in.shape, in.layout, x);
  }
}
