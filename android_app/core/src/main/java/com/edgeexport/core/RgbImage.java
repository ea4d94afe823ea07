package com.edgeexport.core;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;

/** An 8-bit RGB image, row-major, 3 bytes per pixel (HxWx3, like the numpy arrays on the host). */
public final class RgbImage {
  public final int width;
  public final int height;
  /** length width*height*3: R,G,B of pixel (y, x) at (y*width + x)*3. */
  public final byte[] rgb;

  public RgbImage(int width, int height, byte[] rgb) {
    if (width <= 0 || height <= 0) throw new IllegalArgumentException("empty image " + width + "x" + height);
    if (rgb.length != width * height * 3) {
      throw new IllegalArgumentException("rgb has " + rgb.length + " bytes, expected " + width * height * 3);
    }
    this.width = width;
    this.height = height;
    this.rgb = rgb;
  }

  /** From Android's {@code Bitmap.getPixels} layout: one ARGB int per pixel, alpha ignored. */
  public static RgbImage fromArgb(int[] argb, int width, int height) {
    if (argb.length != width * height) {
      throw new IllegalArgumentException("argb has " + argb.length + " pixels, expected " + width * height);
    }
    byte[] rgb = new byte[width * height * 3];
    for (int i = 0; i < argb.length; i++) {
      int p = argb[i];
      rgb[3 * i] = (byte) ((p >> 16) & 0xff);
      rgb[3 * i + 1] = (byte) ((p >> 8) & 0xff);
      rgb[3 * i + 2] = (byte) (p & 0xff);
    }
    return new RgbImage(width, height, rgb);
  }

  public int r(int y, int x) {
    return rgb[(y * width + x) * 3] & 0xff;
  }

  /**
   * Read a binary PPM (P6, maxval 255), the simplest lossless RGB file: used to hand the exact same
   * pixels to the Java core and to the Python reference in tests, and for bundling images without
   * an image decoder.
   */
  public static RgbImage readPpm(InputStream in) throws IOException {
    byte[] all = readAll(in);
    int[] pos = {0};
    String magic = token(all, pos);
    if (!"P6".equals(magic)) throw new ArtifactException("not a binary PPM (P6) image: magic '" + magic + "'");
    int w = parsePositive(token(all, pos), "width");
    int h = parsePositive(token(all, pos), "height");
    int max = parsePositive(token(all, pos), "maxval");
    if (max != 255) throw new ArtifactException("PPM maxval must be 255, got " + max);
    pos[0]++; // exactly one whitespace byte after maxval
    int need = w * h * 3;
    if (all.length - pos[0] < need) {
      throw new ArtifactException("PPM is truncated: " + (all.length - pos[0]) + " of " + need + " pixel bytes");
    }
    byte[] rgb = new byte[need];
    System.arraycopy(all, pos[0], rgb, 0, need);
    return new RgbImage(w, h, rgb);
  }

  private static int parsePositive(String t, String what) {
    try {
      int v = Integer.parseInt(t);
      if (v <= 0) throw new NumberFormatException();
      return v;
    } catch (NumberFormatException e) {
      throw new ArtifactException("PPM " + what + " is not a positive integer: '" + t + "'");
    }
  }

  private static String token(byte[] b, int[] pos) {
    int p = pos[0];
    while (true) {
      while (p < b.length && isSpace(b[p])) p++;
      if (p < b.length && b[p] == '#') {
        while (p < b.length && b[p] != '\n') p++;
        continue;
      }
      break;
    }
    int start = p;
    while (p < b.length && !isSpace(b[p])) p++;
    pos[0] = p;
    if (start == p) throw new ArtifactException("PPM header is truncated");
    return new String(b, start, p - start, java.nio.charset.StandardCharsets.US_ASCII);
  }

  private static boolean isSpace(byte c) {
    return c == ' ' || c == '\n' || c == '\r' || c == '\t';
  }

  static byte[] readAll(InputStream in) throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    byte[] buf = new byte[1 << 16];
    int n;
    while ((n = in.read(buf)) > 0) out.write(buf, 0, n);
    return out.toByteArray();
  }
}
