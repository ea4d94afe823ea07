package com.edgeexport.core;

import static org.junit.jupiter.api.Assertions.*;

import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import org.junit.jupiter.api.Test;

class MiscTest {
  @Test
  void procStatusPeakRss() {
    String status = "Name:\tapp\nVmPeak:\t  999 kB\nVmHWM:\t  204800 kB\nVmRSS:\t 1000 kB\n";
    assertEquals(200.0, ProcStatus.peakRssMb(status));
    assertNull(ProcStatus.peakRssMb("Name: x\n"));
    assertNull(ProcStatus.peakRssMb("VmHWM: lots kB\n"));
    Double self = ProcStatus.selfPeakRssMb(); // Linux host: present and positive
    if (new java.io.File("/proc/self/status").canRead()) assertTrue(self != null && self > 0);
  }

  @Test
  void resultLineRoundTrips() {
    String ok = ResultLine.ok("id-1", "/sdcard/Android/data/p/files/results.json", null, "m", 50, 12.5);
    assertTrue(ok.startsWith("EDGE_EXPORT_RESULT {\"status\":\"ok\""));
    assertFalse(ok.contains("\n"));
    Map<String, Object> back = ResultLine.parse("05-01 12:00:00.000  1234  1250 I EdgeExport: " + ok);
    assertEquals("ok", back.get("status"));
    assertEquals("id-1", back.get("run_id"));
    assertEquals(12.5, back.get("median_ms"));
    assertNull(back.get("etdump"));
    String err = ResultLine.error(null, "load", "bad\nthing");
    assertEquals("bad thing", ResultLine.parse(err).get("error"));
    assertEquals("load", ResultLine.parse(err).get("stage"));
    assertNull(ResultLine.parse("nothing here"));
  }

  @Test
  void benchmarkRequestValidation() {
    BenchmarkRequest r = new BenchmarkRequest(" m ", 1, 0, 0, null, "a.b:c-1", true);
    assertEquals("m", r.model);
    assertTrue(assertThrows(IllegalArgumentException.class, () -> new BenchmarkRequest(null, 1, 0, 1, null, null, true)).getMessage().contains("--es model"));
    assertTrue(assertThrows(IllegalArgumentException.class, () -> new BenchmarkRequest("m", 0, 0, 1, null, null, true)).getMessage().contains("runs"));
    assertTrue(assertThrows(IllegalArgumentException.class, () -> new BenchmarkRequest("m", 1, -1, 1, null, null, true)).getMessage().contains("warmup"));
    assertTrue(assertThrows(IllegalArgumentException.class, () -> new BenchmarkRequest("m", 1, 0, 65, null, null, true)).getMessage().contains("threads"));
    assertTrue(assertThrows(IllegalArgumentException.class, () -> new BenchmarkRequest("m", 1, 0, 1, null, "x y", true)).getMessage().contains("run_id"));
  }

  @Test
  void isoUtcMatchesPythonIsoformat() {
    assertEquals("1970-01-01T00:00:00+00:00", ProfileJson.isoUtc(0));
    assertEquals("2026-01-01T00:00:00+00:00", ProfileJson.isoUtc(1767225600999L));
  }

  @Test
  void profileRequiresItsFieldsAndDropsNonFiniteOptionals() {
    ProfileJson p = new ProfileJson();
    assertThrows(IllegalStateException.class, p::toJson);
    p.runtime = "litert";
    p.modelId = "m";
    p.target = "t";
    p.artifactSha256 = "s";
    p.collectedAt = "now";
    p.latencyMs = new double[] {1, 2};
    p.loadMs = Double.NaN;
    Map<String, Object> j = p.toJson();
    assertNull(j.get("load_ms"));
    assertTrue(j.containsKey("first_run_ms"));
  }

  @Test
  void ppmReading() throws Exception {
    byte[] head = "P6\n# a comment\n2 1\n255\n".getBytes(StandardCharsets.US_ASCII);
    byte[] all = new byte[head.length + 6];
    System.arraycopy(head, 0, all, 0, head.length);
    for (int i = 0; i < 6; i++) all[head.length + i] = (byte) (10 * i + 5);
    RgbImage img = RgbImage.readPpm(new ByteArrayInputStream(all));
    assertEquals(2, img.width);
    assertEquals(1, img.height);
    assertEquals(35, img.r(0, 1));
    assertThrows(ArtifactException.class, () -> RgbImage.readPpm(new ByteArrayInputStream("P5\n1 1\n255\n\0".getBytes(StandardCharsets.US_ASCII))));
    assertThrows(ArtifactException.class, () -> RgbImage.readPpm(new ByteArrayInputStream("P6\n2 2\n255\nabc".getBytes(StandardCharsets.US_ASCII))));
    assertThrows(ArtifactException.class, () -> RgbImage.readPpm(new ByteArrayInputStream("P6\n2 2\n65535\n".getBytes(StandardCharsets.US_ASCII))));
  }

  @Test
  void argbPixelsBecomeRgb() {
    RgbImage img = RgbImage.fromArgb(new int[] {0xff102030, 0x80405060}, 2, 1);
    assertArrayEquals(new byte[] {0x10, 0x20, 0x30, 0x40, 0x50, 0x60}, img.rgb);
    assertThrows(IllegalArgumentException.class, () -> RgbImage.fromArgb(new int[3], 2, 1));
  }
}
