package com.edgeexport.core;

import static org.junit.jupiter.api.Assertions.*;

import com.edgeexport.core.tools.FakeClock;
import com.edgeexport.core.tools.FakeEngine;
import java.io.File;
import java.nio.file.Files;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class BenchmarkSessionTest {
  @TempDir File tmp;

  private static final Map<String, String> DEVICE = new LinkedHashMap<String, String>();

  static {
    DEVICE.put("model", "Pixel 8");
    DEVICE.put("android_version", "14");
  }

  @Test
  @SuppressWarnings("unchecked")
  void writesAProfileWithExactTimings() throws Exception {
    File art = TestArtifacts.writeArtifact(new File(tmp, "art"), TestArtifacts.floatManifest(32, 20), TestArtifacts.program());
    FakeClock clock = new FakeClock(0);
    Manifest m = BenchmarkSession.loadManifest(art, true);
    FakeEngine eng = new FakeEngine("executorch", clock, 40_000_000L, new long[] {11_000_000L, 12_000_000L, 13_000_000L}, m.output(), 0);
    BenchmarkRequest req = new BenchmarkRequest(art.getPath(), 6, 2, 3, null, "r-1", true);
    BenchmarkSession.Outcome o =
        new BenchmarkSession(clock, 1767225600000L, DEVICE, "device").run(art, req, eng, TestArtifacts.gradient(64, 48), new File(tmp, "out"));
    assertEquals(8, eng.calls());
    assertEquals(3, eng.threadsSeen);
    Map<String, Object> p = (Map<String, Object>) Json.parse(new String(Files.readAllBytes(o.results.toPath()), "UTF-8"));
    assertEquals(Arrays.asList("schema_version", "provenance", "latency_ms", "latency", "load_ms", "first_run_ms", "peak_rss_mb", "rows", "complete", "numeric_gap", "notes"),
        Arrays.asList(p.keySet().toArray()));
    Map<String, Object> prov = (Map<String, Object>) p.get("provenance");
    assertEquals("device", prov.get("where"));
    assertEquals("android-app", prov.get("collector"));
    assertEquals(Boolean.FALSE, prov.get("simulator"));
    assertEquals("executorch", prov.get("runtime"));
    assertEquals("fake-1", prov.get("runtime_version"));
    assertEquals("swiftformer_xs", prov.get("model_id"));
    assertEquals("xnnpack-fp32", prov.get("target"));
    assertEquals(m.fileSha256, prov.get("artifact_sha256"));
    assertEquals(Long.valueOf(3), prov.get("threads"));
    assertEquals(Long.valueOf(6), prov.get("runs"));
    assertEquals(Long.valueOf(2), prov.get("warmup"));
    assertEquals("2026-01-01T00:00:00+00:00", prov.get("collected_at"));
    assertEquals("Pixel 8", ((Map<String, Object>) prov.get("device")).get("model"));
    Map<String, Object> opts = (Map<String, Object>) prov.get("options");
    assertEquals("fake", opts.get("engine"));
    assertEquals("r-1", opts.get("run_id"));
    assertEquals("float32 NCHW", opts.get("input"));
    // calls 3..8 are timed: durations cycle 11,12,13 ms starting at call 3 -> 13,11,12,13,11,12
    assertEquals(Arrays.asList(13.0, 11.0, 12.0, 13.0, 11.0, 12.0), p.get("latency_ms"));
    Map<String, Object> lat = (Map<String, Object>) p.get("latency");
    assertEquals(Long.valueOf(6), lat.get("n"));
    assertEquals(12.0, lat.get("median"));
    assertEquals(40.0, p.get("load_ms"));
    assertEquals(11.0, p.get("first_run_ms"));
    assertEquals(Boolean.TRUE, p.get("complete"));
    assertEquals(Arrays.asList(), p.get("rows"));
    List<Object> notes = (List<Object>) p.get("notes");
    assertTrue(notes.contains("fake engine: no per-op trace"));
    assertEquals(5, o.top5.size());
    // top-5 is the top-5 of the engine's logits for the input it was given
    float[] logits = FakeEngine.logits(Preprocessor.prepare(TestArtifacts.gradient(64, 48), m), 20);
    assertEquals(TopK.indices(logits, 1)[0], o.top5.get(0).index);
    assertFalse(new File(new File(tmp, "out"), ".results.json.tmp").exists());
  }

  @Test
  void int8ModelGetsQuantizedNhwcInputAndDequantizedOutput() throws Exception {
    Map<String, Object> raw = TestArtifacts.manifest("litert", 16,
        TestArtifacts.tensor("x", new long[] {1, 16, 16, 3}, "int8", "NHWC", 0.02, 1L),
        TestArtifacts.tensor("y", new long[] {1, 12}, "int8", "NC", 0.05, -4L), TestArtifacts.program());
    File art = TestArtifacts.writeArtifact(new File(tmp, "q"), raw, TestArtifacts.program());
    Manifest m = BenchmarkSession.loadManifest(art, true);
    FakeClock clock = new FakeClock(0);
    final TensorData[] seen = new TensorData[1];
    FakeEngine inner = new FakeEngine("litert", clock, 1L, new long[] {2_000_000L}, m.output(), 0);
    Engine spy = new DelegatingEngine(inner) {
      @Override
      public void setInput(TensorData in) throws Exception {
        seen[0] = in;
        super.setInput(in);
      }
    };
    BenchmarkSession.Outcome o = new BenchmarkSession(clock, 0L, null, "device")
        .run(art, new BenchmarkRequest("q", 3, 0, 1, null, null, true), spy, TestArtifacts.gradient(20, 30), new File(tmp, "qo"));
    assertEquals("int8", seen[0].dtype);
    assertEquals("NHWC", seen[0].layout);
    assertEquals("int8 NHWC", o.profile.options.get("input"));
    float[] deq = Quantization.dequantize(inner.output(), m.output().quantization);
    assertEquals(TopK.indices(deq, 5)[0], o.top5.get(0).index);
  }

  @Test
  void failuresNameTheStage() throws Exception {
    File art = TestArtifacts.writeArtifact(new File(tmp, "a"), TestArtifacts.floatManifest(8, 4), TestArtifacts.program());
    Manifest m = BenchmarkSession.loadManifest(art, true);
    FakeClock clock = new FakeClock(0);
    BenchmarkSession s = new BenchmarkSession(clock, 0L, null, "device");
    BenchmarkRequest req = new BenchmarkRequest("a", 2, 0, 1, null, null, true);
    RgbImage img = TestArtifacts.gradient(10, 10);

    BenchmarkSession.StageException e = assertThrows(BenchmarkSession.StageException.class,
        () -> s.run(art, req, new FakeEngine("litert", clock, 1, new long[] {1}, m.output(), 0), img, new File(tmp, "o")));
    assertEquals("manifest", e.stage);
    assertTrue(e.getMessage().contains("for executorch but the engine is litert"));

    e = assertThrows(BenchmarkSession.StageException.class,
        () -> s.run(art, req, new FakeEngine("executorch", clock, 1, new long[] {1}, m.output(), 1), img, new File(tmp, "o")));
    assertEquals("run", e.stage);

    // replaced program file: same size, different bytes -> sha256 check
    byte[] other = TestArtifacts.program().clone();
    other[0] ^= 1;
    Files.write(new File(art, "model.pte").toPath(), other);
    e = assertThrows(BenchmarkSession.StageException.class,
        () -> s.run(art, req, new FakeEngine("executorch", clock, 1, new long[] {1}, m.output(), 0), img, new File(tmp, "o")));
    assertTrue(e.getMessage().contains("sha256"), e.getMessage());
    // without verification the same artifact runs
    s.run(art, new BenchmarkRequest("a", 2, 0, 1, null, null, false), new FakeEngine("executorch", clock, 1, new long[] {1}, m.output(), 0), img, new File(tmp, "o"));

    Files.write(new File(art, "model.pte").toPath(), new byte[] {1, 2, 3});
    e = assertThrows(BenchmarkSession.StageException.class,
        () -> s.run(art, req, new FakeEngine("executorch", clock, 1, new long[] {1}, m.output(), 0), img, new File(tmp, "o")));
    assertTrue(e.getMessage().contains("3 bytes"), e.getMessage());

    new File(art, "model.pte").delete();
    assertTrue(assertThrows(ArtifactException.class, () -> BenchmarkSession.loadManifest(art, false)).getMessage().contains("missing"));
    assertTrue(assertThrows(ArtifactException.class, () -> BenchmarkSession.loadManifest(new File(tmp, "nope"), false)).getMessage().contains("not found"));
  }

  @Test
  void incompleteRunsAreRecorded() throws Exception {
    File art = TestArtifacts.writeArtifact(new File(tmp, "i"), TestArtifacts.floatManifest(8, 4), TestArtifacts.program());
    Manifest m = BenchmarkSession.loadManifest(art, true);
    FakeClock clock = new FakeClock(0);
    BenchmarkSession.Outcome o = new BenchmarkSession(clock, 0L, null, "device")
        .run(art, new BenchmarkRequest("i", 10, 1, 1, null, null, true), new FakeEngine("executorch", clock, 1, new long[] {3_000_000L}, m.output(), 5), TestArtifacts.gradient(10, 10), new File(tmp, "io"));
    assertFalse(o.profile.complete);
    assertEquals(3, o.profile.latencyMs.length);
    assertTrue(o.profile.notes.get(0).contains("run 4 of 10"));
  }

  /** Forwards everything to another engine. */
  static class DelegatingEngine implements Engine {
    final Engine d;

    DelegatingEngine(Engine d) {
      this.d = d;
    }

    public String runtime() { return d.runtime(); }
    public String runtimeVersion() { return d.runtimeVersion(); }
    public void load(File p, int t) throws Exception { d.load(p, t); }
    public void setInput(TensorData in) throws Exception { d.setInput(in); }
    public void run() throws Exception { d.run(); }
    public TensorData output() throws Exception { return d.output(); }
    public Map<String, String> options() { return d.options(); }
    public Trace writeTrace(File dir) { return d.writeTrace(dir); }
    public void close() throws java.io.IOException { d.close(); }
  }
}
