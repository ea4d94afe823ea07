package com.edgeexport.core;

import java.io.File;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code benchmark_results.json} in the format of ExecuTorch's Android benchmark app ("Minibench",
 * {@code extension/benchmark/android/benchmark/} in the ExecuTorch sources), written beside results.json
 * so tools that read Minibench output read the app's runs too.
 *
 * <p>The file is a JSON list with one record per metric: {@code {"benchmarkModel": {"name", "backend",
 * "quantization"}, "metric", "actualValue", "targetValue", "deviceInfo": {"device", "arch", "os",
 * "totalMem", "availMem"}}}, records in Minibench's order: {@value #AVG_LATENCY}, {@value
 * #TRIMMEAN_LATENCY}, {@value #MODEL_LOAD_TIME}, {@value #LOAD_STATUS}, {@value #RAM_PSS_USAGE};
 * targetValue is always 0. Written compact, as Minibench's Gson writes it.
 *
 * <p>Where the values come from: the timed runs and the load time of the benchmark session (the same
 * numbers as results.json, so the average is results.json's {@code latency.mean} exactly); the
 * trimmed mean drops the lowest and highest tenth of the sorted runs like Minibench (indices
 * {@code n/10} to {@code n*9/10}, exclusive); the PSS figure is Minibench's: the PSS after the runs
 * minus the PSS before the load, in MiB (the caller measures both with {@code android.os.Debug.getPss()},
 * in kB). Differences from Minibench: name/backend/quantization come from the manifest (model_id and the
 * target split at its last '-') instead of a {@code name_backend_quantization.pte} file name, and a single
 * run keeps its value as trimmed mean where Minibench's slice is empty.
 */
public final class MinibenchResults {
  public static final String FILE_NAME = "benchmark_results.json";

  public static final String AVG_LATENCY = "avg_inference_latency(ms)";
  public static final String TRIMMEAN_LATENCY = "trimmean_inference_latency(ms)";
  public static final String MODEL_LOAD_TIME = "model_load_time(ms)";
  public static final String LOAD_STATUS = "load_status";
  public static final String RAM_PSS_USAGE = "ram_pss_usage(mb)";

  private MinibenchResults() {}

  /** Minibench's benchmarkModel. */
  public static final class Model {
    public final String name;
    public final String backend;
    public final String quantization;

    public Model(String name, String backend, String quantization) {
      if (name == null || backend == null || quantization == null) {
        throw new IllegalArgumentException("benchmarkModel fields must not be null");
      }
      this.name = name;
      this.backend = backend;
      this.quantization = quantization;
    }

    /** From an edge-export artifact: name = model_id; "xnnpack-fp32" -> backend "xnnpack", quantization "fp32". */
    public static Model of(String modelId, String target) {
      int dash = target.lastIndexOf('-');
      if (dash <= 0 || dash == target.length() - 1) return new Model(modelId, target, "");
      return new Model(modelId, target.substring(0, dash), target.substring(dash + 1));
    }

    Map<String, Object> toJson() {
      Map<String, Object> m = new LinkedHashMap<String, Object>();
      m.put("name", name);
      m.put("backend", backend);
      m.put("quantization", quantization);
      return m;
    }
  }

  /** Minibench's deviceInfo: device = Build.BRAND, arch = Build.MODEL, os = "Android " + release, memory in bytes. */
  public static final class DeviceInfo {
    public final String device;
    public final String arch;
    public final String os;
    public final long totalMem;
    public final long availMem;

    public DeviceInfo(String device, String arch, String os, long totalMem, long availMem) {
      this.device = device == null ? "" : device;
      this.arch = arch == null ? "" : arch;
      this.os = os == null ? "" : os;
      this.totalMem = totalMem;
      this.availMem = availMem;
    }

    /** From android.os.Build and ActivityManager.MemoryInfo values (totalMem, availMem in bytes). */
    public static DeviceInfo android(String brand, String model, String release, long totalMem, long availMem) {
      return new DeviceInfo(brand, model, "Android " + (release == null ? "" : release), totalMem, availMem);
    }

    Map<String, Object> toJson() {
      Map<String, Object> m = new LinkedHashMap<String, Object>();
      m.put("device", device);
      m.put("arch", arch);
      m.put("os", os);
      m.put("totalMem", Long.valueOf(totalMem));
      m.put("availMem", Long.valueOf(availMem));
      return m;
    }
  }

  /**
   * Minibench's trimmed mean: the mean of the sorted runs from index n/10 up to (not including) n*9/10
   * (numpy's mean, as {@link LatencyStats#mean}); with one run, that run.
   */
  public static double trimmedMean(double[] latenciesMs) {
    if (latenciesMs.length == 0) throw new IllegalArgumentException("no measurements");
    double[] s = latenciesMs.clone();
    Arrays.sort(s);
    int n = s.length;
    double[] kept = Arrays.copyOfRange(s, n / 10, n * 9 / 10);
    return LatencyStats.mean(kept.length == 0 ? s : kept);
  }

  /** PSS growth in MiB from two {@code Debug.getPss()} readings in kB. */
  public static double pssUsageMb(long pssIdleKb, long pssAfterKb) {
    return (pssAfterKb - pssIdleKb) / 1024.0;
  }

  private static Map<String, Object> record(Model model, String metric, double value, DeviceInfo device) {
    Map<String, Object> r = new LinkedHashMap<String, Object>();
    r.put("benchmarkModel", model.toJson());
    r.put("metric", metric);
    r.put("actualValue", Double.valueOf(value));
    r.put("targetValue", Double.valueOf(0.0));
    r.put("deviceInfo", device.toJson());
    return r;
  }

  /** The five records of a successful run, in Minibench's order. */
  public static List<Object> records(
      Model model, double[] latenciesMs, double loadMs, long pssIdleKb, long pssAfterKb, DeviceInfo device) {
    if (Double.isNaN(loadMs) || Double.isInfinite(loadMs)) throw new IllegalArgumentException("load time is " + loadMs);
    LatencyStats stats = LatencyStats.of(latenciesMs); // refuses empty / non-finite runs
    List<Object> out = new ArrayList<Object>();
    out.add(record(model, AVG_LATENCY, stats.mean, device));
    out.add(record(model, TRIMMEAN_LATENCY, trimmedMean(latenciesMs), device));
    out.add(record(model, MODEL_LOAD_TIME, loadMs, device));
    out.add(record(model, LOAD_STATUS, 0.0, device));
    out.add(record(model, RAM_PSS_USAGE, pssUsageMb(pssIdleKb, pssAfterKb), device));
    return out;
  }

  /** The records for the session that wrote {@code profile} (its model, target, timed runs and load time). */
  public static List<Object> records(ProfileJson profile, long pssIdleKb, long pssAfterKb, DeviceInfo device) {
    if (profile.modelId == null || profile.target == null || profile.latencyMs == null || profile.loadMs == null) {
      throw new IllegalStateException("the profile has no model, target, runs or load time yet");
    }
    return records(Model.of(profile.modelId, profile.target), profile.latencyMs, profile.loadMs.doubleValue(),
        pssIdleKb, pssAfterKb, device);
  }

  /** Compact JSON, as Minibench's {@code Gson().toJson(results)}. */
  public static String toJsonText(List<Object> records) {
    return Json.write(records);
  }

  /**
   * Write {@value #FILE_NAME} beside the session's results.json (same directory) and return it.
   *
   * @param outcome what {@link BenchmarkSession#run} returned
   * @param pssIdleKb {@code Debug.getPss()} before the program was loaded
   * @param pssAfterKb {@code Debug.getPss()} after the timed runs, with the program still loaded
   */
  public static File write(BenchmarkSession.Outcome outcome, long pssIdleKb, long pssAfterKb, DeviceInfo device)
      throws IOException {
    File f = new File(outcome.results.getAbsoluteFile().getParentFile(), FILE_NAME);
    FileUtil.writeAtomic(f, toJsonText(records(outcome.profile, pssIdleKb, pssAfterKb, device)));
    return f;
  }
}
