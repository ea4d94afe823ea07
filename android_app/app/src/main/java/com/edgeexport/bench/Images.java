package com.edgeexport.bench;

import android.content.Context;
import android.graphics.Bitmap;
import android.graphics.BitmapFactory;
import android.net.Uri;
import com.edgeexport.core.RgbImage;
import java.io.File;
import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.util.Arrays;

/** Bitmaps and files into the core's RgbImage (the exact pixels; no resampling here). */
final class Images {
  static final String BUNDLED_DIR = "images";

  private Images() {}

  static RgbImage fromBitmap(Bitmap b) {
    Bitmap argb = b.getConfig() == Bitmap.Config.ARGB_8888 ? b : b.copy(Bitmap.Config.ARGB_8888, false);
    int w = argb.getWidth();
    int h = argb.getHeight();
    int[] px = new int[w * h];
    argb.getPixels(px, 0, w, 0, 0, w, h);
    return RgbImage.fromArgb(px, w, h);
  }

  /** A .ppm (P6) is read byte for byte; anything else is decoded by BitmapFactory. */
  static RgbImage read(InputStream in, String name) throws IOException {
    if (name.toLowerCase(java.util.Locale.ROOT).endsWith(".ppm")) return RgbImage.readPpm(in);
    Bitmap b = BitmapFactory.decodeStream(in);
    if (b == null) throw new IOException("cannot decode image " + name);
    return fromBitmap(b);
  }

  static RgbImage readFile(String path) throws IOException {
    try (InputStream in = new FileInputStream(new File(path))) {
      return read(in, path);
    }
  }

  /** Gallery/camera images, downsampled by powers of two only when huge (over 4096 px on a side). */
  static Bitmap decodeUri(Context c, Uri uri) throws IOException {
    BitmapFactory.Options bounds = new BitmapFactory.Options();
    bounds.inJustDecodeBounds = true;
    try (InputStream in = c.getContentResolver().openInputStream(uri)) {
      BitmapFactory.decodeStream(in, null, bounds);
    }
    BitmapFactory.Options o = new BitmapFactory.Options();
    o.inSampleSize = 1;
    while (Math.max(bounds.outWidth, bounds.outHeight) / o.inSampleSize > 4096) o.inSampleSize *= 2;
    o.inPreferredConfig = Bitmap.Config.ARGB_8888;
    try (InputStream in = c.getContentResolver().openInputStream(uri)) {
      Bitmap b = BitmapFactory.decodeStream(in, null, o);
      if (b == null) throw new IOException("cannot decode " + uri);
      return b;
    }
  }

  /**
   * The bundled sample: the first file in assets/images/ (android_app/tools/make_sample_image.py
   * writes one there), or a generated colour pattern when the APK carries none.
   */
  static RgbImage bundled(Context c) throws IOException {
    String[] names = c.getAssets().list(BUNDLED_DIR);
    if (names != null && names.length > 0) {
      Arrays.sort(names);
      try (InputStream in = c.getAssets().open(BUNDLED_DIR + "/" + names[0])) {
        return read(in, names[0]);
      }
    }
    return pattern(320, 240);
  }

  static String bundledName(Context c) {
    try {
      String[] names = c.getAssets().list(BUNDLED_DIR);
      if (names != null && names.length > 0) {
        Arrays.sort(names);
        return "assets/" + BUNDLED_DIR + "/" + names[0];
      }
    } catch (IOException ignored) {
      // fall through
    }
    return "generated pattern";
  }

  static RgbImage pattern(int w, int h) {
    byte[] rgb = new byte[w * h * 3];
    for (int y = 0; y < h; y++) {
      for (int x = 0; x < w; x++) {
        int i = (y * w + x) * 3;
        rgb[i] = (byte) (x * 255 / (w - 1));
        rgb[i + 1] = (byte) (y * 255 / (h - 1));
        rgb[i + 2] = (byte) (((x / 20) + (y / 20)) % 2 == 0 ? 200 : 40);
      }
    }
    return new RgbImage(w, h, rgb);
  }

  static Bitmap toBitmap(RgbImage img) {
    int[] px = new int[img.width * img.height];
    for (int i = 0; i < px.length; i++) {
      px[i] = 0xff000000 | ((img.rgb[3 * i] & 0xff) << 16) | ((img.rgb[3 * i + 1] & 0xff) << 8) | (img.rgb[3 * i + 2] & 0xff);
    }
    return Bitmap.createBitmap(px, img.width, img.height, Bitmap.Config.ARGB_8888);
  }
}
