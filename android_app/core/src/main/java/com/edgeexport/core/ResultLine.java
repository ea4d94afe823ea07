package com.edgeexport.core;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The one machine-readable log line benchmark mode prints when it is done:
 * {@code EDGE_EXPORT_RESULT {"status":"ok",...}} or {@code EDGE_EXPORT_RESULT {"status":"error",...}}.
 * The JSON is compact and on one line, so a host can find it in {@code adb logcat} output.
 */
public final class ResultLine {
  public static final String PREFIX = "EDGE_EXPORT_RESULT ";
  public static final String LOG_TAG = "EdgeExport";

  private ResultLine() {}

  public static String ok(String runId, String resultsPath, String etdumpPath, String modelId, int runs, double medianMs) {
    Map<String, Object> m = new LinkedHashMap<String, Object>();
    m.put("status", "ok");
    m.put("run_id", runId);
    m.put("results", resultsPath);
    m.put("etdump", etdumpPath);
    m.put("model_id", modelId);
    m.put("runs", Long.valueOf(runs));
    m.put("median_ms", Double.valueOf(medianMs));
    return PREFIX + Json.write(m);
  }

  public static String error(String runId, String stage, String message) {
    Map<String, Object> m = new LinkedHashMap<String, Object>();
    m.put("status", "error");
    m.put("run_id", runId);
    m.put("stage", stage);
    m.put("error", message == null ? "unknown error" : message.replace('\n', ' '));
    return PREFIX + Json.write(m);
  }

  /** The JSON object of a result line found anywhere in {@code line} (e.g. behind a logcat prefix), or null. */
  @SuppressWarnings("unchecked")
  public static Map<String, Object> parse(String line) {
    int i = line.indexOf(PREFIX);
    if (i < 0) return null;
    Object v = Json.parse(line.substring(i + PREFIX.length()).trim());
    return v instanceof Map ? (Map<String, Object>) v : null;
  }
}
