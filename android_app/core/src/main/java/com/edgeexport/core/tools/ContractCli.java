package com.edgeexport.core.tools;

import com.edgeexport.core.ArtifactException;
import com.edgeexport.core.BenchmarkRequest;
import com.edgeexport.core.BenchmarkSession;
import com.edgeexport.core.FileUtil;
import com.edgeexport.core.Json;
import com.edgeexport.core.LatencyStats;
import com.edgeexport.core.Manifest;
import com.edgeexport.core.MinibenchResults;
import com.edgeexport.core.Preprocessor;
import com.edgeexport.core.RgbImage;
import com.edgeexport.core.ResultLine;
import com.edgeexport.core.TensorData;
import java.io.BufferedReader;
import java.io.File;
import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Host entry point of the Java core for the cross-language contract tests (tests/test_android_contract.py).
 * Each command runs the same core code the app runs and prints JSON on stdout:
 *
 * <pre>
 *   manifest ARTIFACT_DIR|MANIFEST_JSON          what the app derives from a manifest
 *   preprocess MANIFEST_JSON IMAGE.ppm OUT.bin   the program input for an image (raw little-endian)
 *   bench ARTIFACT_DIR OUT_DIR [--runs N] [--warmup N] [--threads N] [--image IMAGE.ppm]
 *         [--load-ns N] [--run-ns a,b,c] [--fail-at K] [--wall-ms T] [--run-id ID] [--device k=v]...
 *         [--pss-kb IDLE,AFTER] [--mem-bytes TOTAL,AVAIL]
 *                                                benchmark session with a fake engine and clock:
 *                                                writes OUT_DIR/results.json and, as the app does, the
 *                                                Minibench-format OUT_DIR/benchmark_results.json (PSS and
 *                                                memory are given, as Debug/ActivityManager would report
 *                                                them; deviceInfo from --device brand|manufacturer, model,
 *                                                android_version), prints the result line
 *   stats                                        one line of comma-separated ms per stdin line -> Stats JSON
 * </pre>
 *
 * Exit status 0 on success, 1 on a reported error (the error JSON is printed), 2 on bad usage.
 */
public final class ContractCli {
  private ContractCli() {}

  public static void main(String[] args) {
    PrintStream out = System.out;
    try {
      System.exit(run(args, out));
    } catch (UsageException e) {
      System.err.println("usage error: " + e.getMessage());
      System.exit(2);
    }
  }

  static final class UsageException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    UsageException(String m) {
      super(m);
    }
  }

  static int run(String[] args, PrintStream out) {
    if (args.length == 0) throw new UsageException("command required: manifest | preprocess | bench | stats");
    String cmd = args[0];
    String[] rest = Arrays.copyOfRange(args, 1, args.length);
    try {
      if ("manifest".equals(cmd)) return manifest(rest, out);
      if ("preprocess".equals(cmd)) return preprocess(rest, out);
      if ("bench".equals(cmd)) return bench(rest, out);
      if ("stats".equals(cmd)) return stats(out);
    } catch (ArtifactException | IOException | BenchmarkSession.StageException e) {
      Map<String, Object> err = new LinkedHashMap<String, Object>();
      err.put("error", e.getMessage());
      err.put("type", e.getClass().getSimpleName());
      out.println(Json.write(err));
      return 1;
    }
    throw new UsageException("unknown command " + cmd);
  }

  private static File manifestFile(String arg) {
    File f = new File(arg);
    return f.isDirectory() ? new File(f, Manifest.FILE_NAME) : f;
  }

  static Map<String, Object> tensorJson(Manifest.TensorSpec t) {
    Map<String, Object> m = new LinkedHashMap<String, Object>();
    m.put("name", t.name);
    List<Object> shape = new ArrayList<Object>();
    for (long d : t.shape) shape.add(Long.valueOf(d));
    m.put("shape", shape);
    m.put("dtype", t.dtype);
    m.put("layout", t.layout);
    if (t.quantization == null) {
      m.put("quantization", null);
    } else {
      Map<String, Object> q = new LinkedHashMap<String, Object>();
      q.put("scale", Double.valueOf(t.quantization.scale));
      q.put("zero_point", Long.valueOf(t.quantization.zeroPoint));
      m.put("quantization", q);
    }
    return m;
  }

  private static int manifest(String[] a, PrintStream out) throws IOException {
    if (a.length != 1) throw new UsageException("manifest ARTIFACT_DIR|MANIFEST_JSON");
    Manifest m = Manifest.parse(FileUtil.readText(manifestFile(a[0])));
    Map<String, Object> o = new LinkedHashMap<String, Object>();
    o.put("model_id", m.modelId);
    o.put("runtime", m.runtime);
    o.put("target", m.target);
    o.put("program_file", m.programFile);
    o.put("file_sha256", m.fileSha256);
    o.put("file_bytes", Long.valueOf(m.fileBytes));
    o.put("input", tensorJson(m.input()));
    o.put("output", tensorJson(m.output()));
    Map<String, Object> p = new LinkedHashMap<String, Object>();
    p.put("image_size", Long.valueOf(m.preprocessing.imageSize));
    p.put("resize_size", Long.valueOf(m.preprocessing.resizeSize()));
    p.put("crop_pct", Double.valueOf(m.preprocessing.cropPct));
    p.put("interpolation", m.preprocessing.interpolation);
    p.put("mean", m.preprocessing.mean);
    p.put("std", m.preprocessing.std);
    o.put("preprocessing", p);
    o.put("num_classes", Long.valueOf(m.numClasses));
    o.put("labels", m.labels == null ? null : Long.valueOf(m.labels.size()));
    o.put("first_label", m.labels == null || m.labels.isEmpty() ? null : m.labels.get(0));
    String check;
    try {
      Preprocessor.checkInputSpec(m);
      check = "ok";
    } catch (ArtifactException e) {
      check = e.getMessage();
    }
    o.put("input_check", check);
    out.println(Json.write(o));
    return 0;
  }

  private static RgbImage readPpm(String path) throws IOException {
    try (InputStream in = new FileInputStream(path)) {
      return RgbImage.readPpm(in);
    }
  }

  private static int preprocess(String[] a, PrintStream out) throws IOException {
    if (a.length != 3) throw new UsageException("preprocess MANIFEST_JSON IMAGE.ppm OUT.bin");
    Manifest m = Manifest.parse(FileUtil.readText(manifestFile(a[0])));
    RgbImage img = readPpm(a[1]);
    TensorData t = Preprocessor.prepare(img, m);
    FileUtil.writeAtomic(new File(a[2]), t.toLittleEndianBytes());
    Map<String, Object> o = new LinkedHashMap<String, Object>();
    List<Object> shape = new ArrayList<Object>();
    for (long d : t.shape) shape.add(Long.valueOf(d));
    o.put("shape", shape);
    o.put("dtype", t.dtype);
    o.put("layout", t.layout);
    int[] rs = Preprocessor.resizedSize(img.height, img.width, m.preprocessing.resizeSize());
    List<Object> resized = new ArrayList<Object>();
    resized.add(Long.valueOf(rs[0]));
    resized.add(Long.valueOf(rs[1]));
    o.put("resized", resized);
    out.println(Json.write(o));
    return 0;
  }

  private static long[] parseLongs(String csv) {
    String[] parts = csv.split(",");
    long[] v = new long[parts.length];
    for (int i = 0; i < parts.length; i++) v[i] = Long.parseLong(parts[i].trim());
    return v;
  }

  private static long[] pair(String option, String csv) {
    long[] v = parseLongs(csv);
    if (v.length != 2) throw new UsageException(option + " takes two comma-separated numbers");
    return v;
  }

  /** A gray-gradient image for runs without --image (deterministic, not uniform). */
  static RgbImage syntheticImage(int w, int h) {
    byte[] rgb = new byte[w * h * 3];
    for (int y = 0; y < h; y++) {
      for (int x = 0; x < w; x++) {
        int i = (y * w + x) * 3;
        rgb[i] = (byte) (x * 255 / Math.max(1, w - 1));
        rgb[i + 1] = (byte) (y * 255 / Math.max(1, h - 1));
        rgb[i + 2] = (byte) ((x + y) * 127 / Math.max(1, w + h - 2));
      }
    }
    return new RgbImage(w, h, rgb);
  }

  private static int bench(String[] a, PrintStream out) throws IOException, BenchmarkSession.StageException {
    if (a.length < 2) throw new UsageException("bench ARTIFACT_DIR OUT_DIR [options]");
    File modelDir = new File(a[0]);
    File outDir = new File(a[1]);
    int runs = BenchmarkRequest.DEFAULT_RUNS;
    int warmup = BenchmarkRequest.DEFAULT_WARMUP;
    int threads = BenchmarkRequest.DEFAULT_THREADS;
    String image = null;
    String runId = null;
    long loadNs = 25_000_000L;
    long[] runNs = {10_000_000L};
    int failAt = 0;
    long wallMs = 0L;
    long[] pssKb = {40_960L, 102_400L};
    long[] memBytes = {8L << 30, 3L << 30};
    Map<String, String> device = new LinkedHashMap<String, String>();
    for (int i = 2; i < a.length; i++) {
      String k = a[i];
      if (i + 1 >= a.length) throw new UsageException(k + " needs a value");
      String v = a[++i];
      if ("--runs".equals(k)) runs = Integer.parseInt(v);
      else if ("--warmup".equals(k)) warmup = Integer.parseInt(v);
      else if ("--threads".equals(k)) threads = Integer.parseInt(v);
      else if ("--image".equals(k)) image = v;
      else if ("--run-id".equals(k)) runId = v;
      else if ("--load-ns".equals(k)) loadNs = Long.parseLong(v);
      else if ("--run-ns".equals(k)) runNs = parseLongs(v);
      else if ("--fail-at".equals(k)) failAt = Integer.parseInt(v);
      else if ("--wall-ms".equals(k)) wallMs = Long.parseLong(v);
      else if ("--pss-kb".equals(k)) pssKb = pair(k, v);
      else if ("--mem-bytes".equals(k)) memBytes = pair(k, v);
      else if ("--device".equals(k)) {
        int eq = v.indexOf('=');
        if (eq <= 0) throw new UsageException("--device takes key=value");
        device.put(v.substring(0, eq), v.substring(eq + 1));
      } else throw new UsageException("unknown option " + k);
    }
    BenchmarkRequest req;
    try {
      req = new BenchmarkRequest(a[0], runs, warmup, threads, image, runId, true);
    } catch (IllegalArgumentException e) {
      throw new ArtifactException(e.getMessage());
    }
    Manifest m;
    try {
      m = BenchmarkSession.loadManifest(modelDir, true); // the fake engine needs the output spec
    } catch (ArtifactException e) {
      out.println(ResultLine.error(runId, "manifest", e.getMessage()));
      return 1;
    }
    RgbImage img = image != null ? readPpm(image) : syntheticImage(320, 240);
    FakeClock clock = new FakeClock(1_000_000_000L);
    FakeEngine engine = new FakeEngine(m.runtime, clock, loadNs, runNs, m.output(), failAt);
    BenchmarkSession session = new BenchmarkSession(clock, wallMs, device, "device");
    BenchmarkSession.Outcome o;
    try {
      o = session.run(modelDir, req, engine, img, outDir);
    } catch (BenchmarkSession.StageException e) {
      out.println(ResultLine.error(runId, e.stage, e.getMessage()));
      return 1;
    } finally {
      engine.close();
    }
    String brand = device.containsKey("brand") ? device.get("brand") : device.get("manufacturer");
    MinibenchResults.write(o, pssKb[0], pssKb[1], MinibenchResults.DeviceInfo.android(
        brand, device.get("model"), device.get("android_version"), memBytes[0], memBytes[1]));
    out.println(ResultLine.ok(runId, o.results.getAbsolutePath(), o.trace == null ? null : o.trace.getAbsolutePath(), m.modelId, o.stats.n, o.stats.median));
    return 0;
  }

  private static int stats(PrintStream out) throws IOException {
    BufferedReader r = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    String line;
    while ((line = r.readLine()) != null) {
      line = line.trim();
      if (line.isEmpty()) continue;
      String[] parts = line.split(",");
      double[] v = new double[parts.length];
      for (int i = 0; i < v.length; i++) v[i] = Double.parseDouble(parts[i]);
      out.println(Json.write(LatencyStats.of(v).toJson()));
    }
    return 0;
  }
}
