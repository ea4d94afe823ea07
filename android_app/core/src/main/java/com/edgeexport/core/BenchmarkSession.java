package com.edgeexport.core;

import java.io.File;
import java.io.IOException;
import java.util.Collections;
import java.util.List;
import java.util.Map;

/**
 * Benchmark mode without Android: read the artifact's manifest, check the program file, preprocess
 * the image the way the export expects, load the program in an {@link Engine}, warm up, time N runs,
 * classify the last output, and write results.json (the profile format). The app's
 * BenchmarkActivity only supplies the engine, the image, device facts and the output directory.
 */
public final class BenchmarkSession {
  public static final String RESULTS_FILE = "results.json";
  public static final String ETDUMP_FILE = "results.etdump";

  /** What a finished session produced. */
  public static final class Outcome {
    public final File results;
    public final File trace; // may be null
    public final ProfileJson profile;
    public final List<TopK.Prediction> top5;
    public final LatencyStats stats;

    Outcome(File results, File trace, ProfileJson profile, List<TopK.Prediction> top5, LatencyStats stats) {
      this.results = results;
      this.trace = trace;
      this.profile = profile;
      this.top5 = top5;
      this.stats = stats;
    }
  }

  /** A stage name plus the failure, so the result line says where it broke. */
  public static final class StageException extends Exception {
    public final String stage;

    StageException(String stage, Throwable cause) {
      super(stage + ": " + (cause.getMessage() != null ? cause.getMessage() : cause.toString()), cause);
      this.stage = stage;
    }
  }

  private final Clock clock;
  private final long wallMillis;
  private final Map<String, String> device;
  private final String where;

  /**
   * @param clock monotonic clock for timing runs
   * @param wallMillis wall-clock time for collected_at (epoch ms)
   * @param device facts about the device for provenance.device (model, soc, android_version...)
   * @param where provenance.where: "device" when the app writes it; the host may rewrite to "adb:SERIAL"
   */
  public BenchmarkSession(Clock clock, long wallMillis, Map<String, String> device, String where) {
    this.clock = clock;
    this.wallMillis = wallMillis;
    this.device = device == null ? Collections.<String, String>emptyMap() : device;
    this.where = where;
  }

  /** Read and check {@code modelDir/manifest.json} and the program file it names. */
  public static Manifest loadManifest(File modelDir, boolean verifySha256) throws IOException {
    File mf = new File(modelDir, Manifest.FILE_NAME);
    if (!modelDir.isDirectory()) {
      throw new ArtifactException("model dir not found: " + modelDir + " (push an artifact dir written by `edge-export export`)");
    }
    if (!mf.isFile()) throw new ArtifactException("no manifest.json in " + modelDir + ": not an edge-export artifact");
    Manifest m = Manifest.parse(FileUtil.readText(mf));
    File program = new File(modelDir, m.programFile);
    if (!program.isFile()) throw new ArtifactException(program + " is missing: the artifact is incomplete (push it again)");
    if (program.length() != m.fileBytes) {
      throw new ArtifactException(program + " has " + program.length() + " bytes, the manifest says " + m.fileBytes + ": truncated or replaced, push it again");
    }
    if (verifySha256 && !FileUtil.sha256(program).equals(m.fileSha256)) {
      throw new ArtifactException(program + " does not match the manifest's sha256: push the artifact again");
    }
    return m;
  }

  public Outcome run(File modelDir, BenchmarkRequest req, Engine engine, RgbImage image, File outDir) throws StageException {
    Manifest m;
    try {
      m = loadManifest(modelDir, req.verifySha256);
      if (!m.runtime.equals(engine.runtime())) {
        throw new ArtifactException("artifact is for " + m.runtime + " but the engine is " + engine.runtime());
      }
    } catch (Exception e) {
      throw new StageException("manifest", e);
    }
    TensorData input;
    try {
      input = Preprocessor.prepare(image, m);
    } catch (Exception e) {
      throw new StageException("preprocess", e);
    }
    final Engine eng = engine;
    final File program = new File(modelDir, m.programFile);
    final int threads = req.threads;
    double loadMs;
    try {
      loadMs = Benchmark.time(clock, new Benchmark.Step() {
        @Override
        public void run() throws Exception {
          eng.load(program, threads);
        }
      });
      engine.setInput(input);
    } catch (Exception e) {
      throw new StageException("load", e);
    }
    Benchmark.Result r;
    try {
      r = Benchmark.run(clock, req.warmup, req.runs, new Benchmark.Step() {
        @Override
        public void run() throws Exception {
          eng.run();
        }
      });
    } catch (Exception e) {
      throw new StageException("run", e);
    }
    List<TopK.Prediction> top5;
    try {
      top5 = TopK.top(Quantization.toFloat(engine.output(), m.output()), 5, m);
    } catch (Exception e) {
      throw new StageException("output", e);
    }
    if (!outDir.isDirectory() && !outDir.mkdirs()) {
      throw new StageException("write", new IOException("cannot create output dir " + outDir));
    }
    Engine.Trace trace = engine.writeTrace(outDir);

    ProfileJson p = new ProfileJson();
    p.where = where;
    p.device.putAll(device);
    p.runtime = m.runtime;
    p.runtimeVersion = engine.runtimeVersion();
    p.modelId = m.modelId;
    p.target = m.target;
    p.artifactSha256 = m.fileSha256;
    p.threads = req.threads;
    p.runs = req.runs;
    p.warmup = req.warmup;
    p.collectedAt = ProfileJson.isoUtc(wallMillis);
    p.options.putAll(engine.options());
    p.options.put("input", input.dtype + " " + (input.layout == null ? "NCHW" : input.layout));
    p.options.put("image", req.image == null ? "bundled" : req.image);
    if (req.runId != null) p.options.put("run_id", req.runId);
    if (trace.file != null) p.options.put("etdump_file", trace.file.getName());
    p.latencyMs = r.latenciesMs;
    p.loadMs = loadMs;
    p.firstRunMs = Double.isNaN(r.firstRunMs) ? null : Double.valueOf(r.firstRunMs);
    p.peakRssMb = ProcStatus.selfPeakRssMb();
    p.complete = r.complete;
    if (r.error != null) p.notes.add(r.error);
    if (trace.note != null) p.notes.add(trace.note);
    StringBuilder t = new StringBuilder("top5 on the benchmark image:");
    for (TopK.Prediction pr : top5) t.append(' ').append(pr.index).append('=').append(pr.label).append(';');
    p.notes.add(t.toString());
    File results = new File(outDir, RESULTS_FILE);
    try {
      FileUtil.writeAtomic(results, p.toJsonText());
    } catch (IOException e) {
      throw new StageException("write", e);
    }
    return new Outcome(results, trace.file, p, top5, r.stats());
  }
}
