package com.edgeexport.core;

import java.text.SimpleDateFormat;
import java.util.ArrayList;
import java.util.Date;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TimeZone;

/**
 * The app's results.json: a whole-model profile in the format of {@code edge_export.profile.schema.Profile}
 * (schema_version 1, strict: exactly the schema's field names, nothing else), so the host reads it
 * with {@code edge_export.profile.schema.load_profile}.
 */
public final class ProfileJson {
  public static final int SCHEMA_VERSION = 1;
  public static final String COLLECTOR = "android-app";

  // provenance
  public String where = "device";
  public final Map<String, String> device = new LinkedHashMap<String, String>();
  public String runtime;
  public String runtimeVersion;
  public String modelId;
  public String target;
  public String artifactSha256;
  public int threads;
  public int runs;
  public int warmup;
  public String collectedAt;
  public final Map<String, String> options = new LinkedHashMap<String, String>();
  // measurements
  public double[] latencyMs;
  public Double loadMs;
  public Double firstRunMs;
  public Double peakRssMb;
  public boolean complete = true;
  public final List<String> notes = new ArrayList<String>();

  /** ISO-8601 UTC with seconds, as Python's {@code datetime.now(timezone.utc).isoformat(timespec="seconds")}. */
  public static String isoUtc(long epochMillis) {
    SimpleDateFormat f = new SimpleDateFormat("yyyy-MM-dd'T'HH:mm:ss'+00:00'", Locale.ROOT);
    f.setTimeZone(TimeZone.getTimeZone("UTC"));
    return f.format(new Date(epochMillis));
  }

  private static void need(Object v, String name) {
    if (v == null) throw new IllegalStateException("profile field " + name + " is not set");
  }

  private static Object finite(Double d) {
    if (d == null) return null;
    if (Double.isNaN(d.doubleValue()) || Double.isInfinite(d.doubleValue())) return null;
    return d;
  }

  public Map<String, Object> toJson() {
    need(runtime, "provenance.runtime");
    need(modelId, "provenance.model_id");
    need(target, "provenance.target");
    need(artifactSha256, "provenance.artifact_sha256");
    need(collectedAt, "provenance.collected_at");
    need(latencyMs, "latency_ms");
    Map<String, Object> prov = new LinkedHashMap<String, Object>();
    prov.put("where", where);
    prov.put("device", new LinkedHashMap<String, String>(device));
    prov.put("runtime", runtime);
    prov.put("runtime_version", runtimeVersion);
    prov.put("collector", COLLECTOR);
    prov.put("simulator", Boolean.FALSE);
    prov.put("model_id", modelId);
    prov.put("target", target);
    prov.put("artifact_sha256", artifactSha256);
    prov.put("threads", Long.valueOf(threads));
    prov.put("runs", Long.valueOf(runs));
    prov.put("warmup", Long.valueOf(warmup));
    prov.put("collected_at", collectedAt);
    prov.put("options", new LinkedHashMap<String, String>(options));

    Map<String, Object> m = new LinkedHashMap<String, Object>();
    m.put("schema_version", Long.valueOf(SCHEMA_VERSION));
    m.put("provenance", prov);
    List<Object> lat = new ArrayList<Object>();
    for (double d : latencyMs) lat.add(Double.valueOf(d));
    m.put("latency_ms", lat);
    m.put("latency", LatencyStats.of(latencyMs).toJson());
    m.put("load_ms", finite(loadMs));
    m.put("first_run_ms", finite(firstRunMs));
    m.put("peak_rss_mb", finite(peakRssMb));
    m.put("rows", new ArrayList<Object>()); // whole-model only: per-op rows come from the ETDump on the host
    m.put("complete", Boolean.valueOf(complete));
    m.put("numeric_gap", null); // a host-side comparison against PyTorch; the app does not measure it
    m.put("notes", new ArrayList<String>(notes));
    return m;
  }

  public String toJsonText() {
    return Json.writePretty(toJson(), 2) + "\n";
  }
}
