package com.edgeexport.bench;

import android.content.Context;
import android.content.res.AssetManager;
import com.edgeexport.core.ArtifactException;
import com.edgeexport.core.Manifest;
import java.io.File;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.TreeSet;

/**
 * Where artifact directories (manifest.json + program file, as `edge-export export` writes them) are
 * found on the phone, in this order:
 *
 * <ol>
 *   <li>an absolute path;
 *   <li>{@code <external files dir>/models/NAME}: {@code /sdcard/Android/data/com.edgeexport.bench/files/models/NAME},
 *       where {@code adb push} can write without root or run-as;
 *   <li>{@code <internal files dir>/models/NAME};
 *   <li>{@code assets/models/NAME} inside the APK, copied once to the internal files dir (runtimes
 *       want a file path).
 * </ol>
 */
final class ModelStore {
  static final String MODELS = "models";

  private ModelStore() {}

  static File externalRoot(Context c) {
    File ext = c.getExternalFilesDir(null);
    return ext == null ? null : new File(ext, MODELS);
  }

  static File internalRoot(Context c) {
    return new File(c.getFilesDir(), MODELS);
  }

  /** Names of every model the app can see, sorted. */
  static List<String> list(Context c) {
    TreeSet<String> names = new TreeSet<String>();
    for (File root : new File[] {externalRoot(c), internalRoot(c)}) {
      if (root == null) continue;
      File[] dirs = root.listFiles();
      if (dirs == null) continue;
      for (File d : dirs) {
        if (new File(d, Manifest.FILE_NAME).isFile()) names.add(d.getName());
      }
    }
    try {
      String[] assets = c.getAssets().list(MODELS);
      if (assets != null) {
        for (String name : assets) {
          String[] files = c.getAssets().list(MODELS + "/" + name);
          if (files != null && Arrays.asList(files).contains(Manifest.FILE_NAME)) names.add(name);
        }
      }
    } catch (IOException ignored) {
      // no assets/models in this build
    }
    return new ArrayList<String>(names);
  }

  /** The artifact directory for a model name or path. */
  static File resolve(Context c, String model) throws IOException {
    if (model.startsWith("/")) {
      File f = new File(model);
      if (!new File(f, Manifest.FILE_NAME).isFile()) {
        throw new ArtifactException("no " + Manifest.FILE_NAME + " in " + model + ": push the whole artifact directory");
      }
      return f;
    }
    if (model.contains("/") || model.startsWith(".")) {
      throw new ArtifactException("model must be a name or an absolute path, got '" + model + "'");
    }
    for (File root : new File[] {externalRoot(c), internalRoot(c)}) {
      if (root != null && new File(new File(root, model), Manifest.FILE_NAME).isFile()) return new File(root, model);
    }
    AssetManager am = c.getAssets();
    String[] files = am.list(MODELS + "/" + model);
    if (files != null && Arrays.asList(files).contains(Manifest.FILE_NAME)) {
      File dest = new File(internalRoot(c), model);
      if (!dest.isDirectory() && !dest.mkdirs()) throw new IOException("cannot create " + dest);
      for (String name : files) copyAsset(am, MODELS + "/" + model + "/" + name, new File(dest, name));
      return dest;
    }
    File ext = externalRoot(c);
    throw new ArtifactException(
        "model '" + model + "' not found in " + (ext == null ? "" : ext + ", ") + internalRoot(c) + " or assets/models/");
  }

  private static void copyAsset(AssetManager am, String asset, File dest) throws IOException {
    File tmp = new File(dest.getParentFile(), "." + dest.getName() + ".tmp");
    try (InputStream in = am.open(asset); OutputStream out = new FileOutputStream(tmp)) {
      byte[] buf = new byte[1 << 16];
      int n;
      while ((n = in.read(buf)) > 0) out.write(buf, 0, n);
    }
    if (!tmp.renameTo(dest)) throw new IOException("cannot write " + dest);
  }
}
