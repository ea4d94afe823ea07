package com.edgeexport.core;

import static org.junit.jupiter.api.Assertions.*;

import com.edgeexport.core.tools.FakeClock;
import com.edgeexport.core.tools.FakeEngine;
import java.io.File;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** benchmark_results.json in ExecuTorch Minibench's format (see MinibenchResults for the source files). */
class MinibenchResultsTest {
  @TempDir File tmp;

  private static final MinibenchResults.DeviceInfo PIXEL =
      MinibenchResults.DeviceInfo.android("google", "Pixel 8", "14", 8_000_000_000L, 3_000_000_000L);

  @Test
  void modelFromTheArtifact() {
    MinibenchResults.Model m = MinibenchResults.Model.of("swiftformer_xs", "xnnpack-fp32");
    assertEquals(Arrays.asList("swiftformer_xs", "xnnpack", "fp32"), Arrays.asList(m.name, m.backend, m.quantization));
    m = MinibenchResults.Model.of("m", "tflite-dynamic-int8");
    assertEquals(Arrays.asList("tflite-dynamic", "int8"), Arrays.asList(m.backend, m.quantization));
    m = MinibenchResults.Model.of("m", "custom");
    assertEquals(Arrays.asList("custom", ""), Arrays.asList(m.backend, m.quantization));
  }

  @Test
  void trimmedMeanDropsATenthAtEachEnd() {
    // n = 10: sorted indices 1..8 kept (10/10 = 1, 10*9/10 = 9)
    assertEquals(5.5, MinibenchResults.trimmedMean(new double[] {10, 1, 9, 2, 8, 3, 7, 4, 6, 5}));
    assertEquals(4.5, MinibenchResults.trimmedMean(new double[] {1, 2, 3, 4, 5, 6, 7, 8, 1000}), 0.0); // n=9: 0..8 -> drops only the max
    double[] twenty = new double[20];
    for (int i = 0; i < 20; i++) twenty[i] = i == 0 ? 500.0 : i == 1 ? 0.001 : 10.0;
    assertEquals(10.0, MinibenchResults.trimmedMean(twenty)); // indices 2..17 of the sorted runs
    assertEquals(3.0, MinibenchResults.trimmedMean(new double[] {3.0})); // Minibench's slice is empty here
    assertEquals(1.0, MinibenchResults.trimmedMean(new double[] {1.0, 2.0})); // 0..1
    assertThrows(IllegalArgumentException.class, () -> MinibenchResults.trimmedMean(new double[0]));
  }

  @Test
  @SuppressWarnings("unchecked")
  void recordsHaveMinibenchsFieldsAndOrder() {
    double[] runs = {12.5, 11.0, 13.0, 12.0};
    List<Object> recs = MinibenchResults.records(
        MinibenchResults.Model.of("swiftformer_xs", "xnnpack-fp32"), runs, 81.5, 40_960L, 102_912L, PIXEL);
    List<String> metrics = new ArrayList<String>();
    for (Object o : recs) {
      Map<String, Object> r = (Map<String, Object>) o;
      assertEquals(Arrays.asList("benchmarkModel", "metric", "actualValue", "targetValue", "deviceInfo"), new ArrayList<String>(r.keySet()));
      assertEquals(Arrays.asList("name", "backend", "quantization"),
          new ArrayList<String>(((Map<String, Object>) r.get("benchmarkModel")).keySet()));
      Map<String, Object> d = (Map<String, Object>) r.get("deviceInfo");
      assertEquals(Arrays.asList("device", "arch", "os", "totalMem", "availMem"), new ArrayList<String>(d.keySet()));
      assertEquals("google", d.get("device"));
      assertEquals("Pixel 8", d.get("arch"));
      assertEquals("Android 14", d.get("os"));
      assertEquals(Long.valueOf(8_000_000_000L), d.get("totalMem"));
      assertEquals(Double.valueOf(0.0), r.get("targetValue"));
      metrics.add((String) r.get("metric"));
    }
    assertEquals(Arrays.asList("avg_inference_latency(ms)", "trimmean_inference_latency(ms)", "model_load_time(ms)",
        "load_status", "ram_pss_usage(mb)"), metrics);
    assertEquals(LatencyStats.of(runs).mean, ((Map<String, Object>) recs.get(0)).get("actualValue"));
    // n=4: indices 4/10 = 0 to 36/10 = 3 (integer division, as Minibench): only the slowest run is dropped
    assertEquals((11.0 + 12.0 + 12.5) / 3, ((Map<String, Object>) recs.get(1)).get("actualValue"));
    assertEquals(81.5, ((Map<String, Object>) recs.get(2)).get("actualValue"));
    assertEquals(0.0, ((Map<String, Object>) recs.get(3)).get("actualValue"));
    assertEquals(60.5, ((Map<String, Object>) recs.get(4)).get("actualValue")); // (102912 - 40960) kB / 1024
  }

  @Test
  void refusesWhatJsonCannotHold() {
    MinibenchResults.Model m = MinibenchResults.Model.of("a", "b-c");
    assertThrows(IllegalArgumentException.class, () -> MinibenchResults.records(m, new double[0], 1.0, 0, 0, PIXEL));
    assertThrows(IllegalArgumentException.class, () -> MinibenchResults.records(m, new double[] {1.0}, Double.NaN, 0, 0, PIXEL));
    assertThrows(IllegalArgumentException.class, () -> MinibenchResults.records(m, new double[] {Double.POSITIVE_INFINITY}, 1.0, 0, 0, PIXEL));
  }

  @Test
  @SuppressWarnings("unchecked")
  void writtenBesideResultsJsonFromTheSessionsNumbers() throws Exception {
    File art = TestArtifacts.writeArtifact(new File(tmp, "art"), TestArtifacts.floatManifest(32, 20), TestArtifacts.program());
    FakeClock clock = new FakeClock(0);
    Manifest man = BenchmarkSession.loadManifest(art, true);
    FakeEngine eng = new FakeEngine("executorch", clock, 40_000_000L,
        new long[] {11_000_000L, 12_000_000L, 13_000_000L, 30_000_000L}, man.output(), 0);
    BenchmarkRequest req = new BenchmarkRequest(art.getPath(), 20, 2, 3, null, null, true);
    File out = new File(tmp, "out");
    BenchmarkSession.Outcome o = new BenchmarkSession(clock, 0L, null, "device")
        .run(art, req, eng, TestArtifacts.gradient(64, 48), out);
    File f = MinibenchResults.write(o, 50_000L, 60_240L, PIXEL);
    assertEquals(new File(out, "benchmark_results.json").getAbsoluteFile(), f);
    assertFalse(new File(out, ".benchmark_results.json.tmp").exists());
    String text = new String(Files.readAllBytes(f.toPath()), "UTF-8");
    assertFalse(text.contains("\n"), "compact, one line, as Gson writes it");
    List<Object> recs = (List<Object>) Json.parse(text);
    assertEquals(5, recs.size());
    Map<String, Object> first = (Map<String, Object>) recs.get(0);
    Map<String, Object> model = (Map<String, Object>) first.get("benchmarkModel");
    assertEquals("swiftformer_xs", model.get("name"));
    assertEquals("xnnpack", model.get("backend"));
    assertEquals("fp32", model.get("quantization"));
    assertEquals(o.stats.mean, first.get("actualValue")); // the average is results.json's latency.mean
    double[] sorted = o.profile.latencyMs.clone();
    Arrays.sort(sorted);
    assertEquals(LatencyStats.mean(Arrays.copyOfRange(sorted, 2, 18)), ((Map<String, Object>) recs.get(1)).get("actualValue"));
    assertEquals(o.profile.loadMs, ((Map<String, Object>) recs.get(2)).get("actualValue"));
    assertEquals(10.0, ((Map<String, Object>) recs.get(4)).get("actualValue"));
  }
}
