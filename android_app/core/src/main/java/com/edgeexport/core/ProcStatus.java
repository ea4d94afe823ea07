package com.edgeexport.core;

import java.io.File;
import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;

/** Peak resident memory from Linux's /proc/self/status (VmHWM), which Android has too. */
public final class ProcStatus {
  private ProcStatus() {}

  /** VmHWM in MiB from the text of a /proc/PID/status file, or null if absent. */
  public static Double peakRssMb(String statusText) {
    for (String line : statusText.split("\n")) {
      if (line.startsWith("VmHWM:")) {
        String[] parts = line.substring(6).trim().split("\\s+");
        if (parts.length == 2 && "kB".equals(parts[1])) {
          try {
            return Double.valueOf(Long.parseLong(parts[0]) / 1024.0);
          } catch (NumberFormatException e) {
            return null;
          }
        }
      }
    }
    return null;
  }

  /** Peak RSS of this process, or null where /proc is not readable. */
  public static Double selfPeakRssMb() {
    File f = new File("/proc/self/status");
    if (!f.canRead()) return null;
    try (InputStream in = new FileInputStream(f)) {
      return peakRssMb(new String(RgbImage.readAll(in), StandardCharsets.UTF_8));
    } catch (IOException e) {
      return null;
    }
  }
}
