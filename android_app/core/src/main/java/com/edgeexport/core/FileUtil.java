package com.edgeexport.core;

import java.io.File;
import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;

/** Small file helpers shared by the app and the host tools. */
public final class FileUtil {
  private FileUtil() {}

  public static String readText(File f) throws IOException {
    try (InputStream in = new FileInputStream(f)) {
      return new String(RgbImage.readAll(in), StandardCharsets.UTF_8);
    }
  }

  /** Write via a temporary sibling and rename, so a reader never sees half a file. */
  public static void writeAtomic(File f, byte[] data) throws IOException {
    File dir = f.getAbsoluteFile().getParentFile();
    if (dir != null && !dir.isDirectory() && !dir.mkdirs()) throw new IOException("cannot create " + dir);
    File tmp = new File(dir, "." + f.getName() + ".tmp");
    try (OutputStream out = new FileOutputStream(tmp)) {
      out.write(data);
      if (out instanceof FileOutputStream) ((FileOutputStream) out).getFD().sync();
    }
    if (!tmp.renameTo(f)) {
      tmp.delete();
      throw new IOException("cannot rename " + tmp + " to " + f);
    }
  }

  public static void writeAtomic(File f, String text) throws IOException {
    writeAtomic(f, text.getBytes(StandardCharsets.UTF_8));
  }

  public static String sha256(File f) throws IOException {
    MessageDigest md;
    try {
      md = MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
    byte[] buf = new byte[1 << 20];
    try (InputStream in = new FileInputStream(f)) {
      int n;
      while ((n = in.read(buf)) > 0) md.update(buf, 0, n);
    }
    StringBuilder b = new StringBuilder();
    for (byte x : md.digest()) b.append(String.format("%02x", x & 0xff));
    return b.toString();
  }
}
