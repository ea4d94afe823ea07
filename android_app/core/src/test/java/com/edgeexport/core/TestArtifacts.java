package com.edgeexport.core;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Manifests shaped exactly like edge_export.artifacts.Manifest.model_dump_json() output. */
final class TestArtifacts {
  private TestArtifacts() {}

  static Map<String, Object> tensor(String name, long[] shape, String dtype, String layout, Double scale, Long zp) {
    Map<String, Object> t = new LinkedHashMap<String, Object>();
    t.put("name", name);
    List<Object> s = new ArrayList<Object>();
    for (long d : shape) s.add(Long.valueOf(d));
    t.put("shape", s);
    t.put("dtype", dtype);
    t.put("layout", layout);
    if (scale == null) {
      t.put("quantization", null);
    } else {
      Map<String, Object> q = new LinkedHashMap<String, Object>();
      q.put("scale", scale);
      q.put("zero_point", zp);
      t.put("quantization", q);
    }
    return t;
  }

  static Map<String, Object> manifest(String runtime, int size, Map<String, Object> input, Map<String, Object> output, byte[] program) throws IOException {
    Map<String, Object> m = new LinkedHashMap<String, Object>();
    m.put("schema_version", Long.valueOf(1));
    m.put("model_id", "swiftformer_xs");
    Map<String, Object> src = new LinkedHashMap<String, Object>();
    src.put("kind", "config");
    src.put("model_id", "swiftformer_xs");
    src.put("options", new LinkedHashMap<String, Object>());
    m.put("source", src);
    m.put("target", "executorch".equals(runtime) ? "xnnpack-fp32" : "litert-int8");
    m.put("runtime", runtime);
    m.put("program_file", "executorch".equals(runtime) ? "model.pte" : "model.tflite");
    m.put("file_sha256", sha256(program));
    m.put("file_bytes", Long.valueOf(program.length));
    m.put("inputs", Arrays.asList((Object) input));
    m.put("outputs", Arrays.asList((Object) output));
    Map<String, Object> pre = new LinkedHashMap<String, Object>();
    pre.put("image_size", Long.valueOf(size));
    pre.put("crop_pct", Double.valueOf(0.9));
    pre.put("interpolation", "bicubic");
    pre.put("mean", Arrays.asList(0.485, 0.456, 0.406));
    pre.put("std", Arrays.asList(0.229, 0.224, 0.225));
    m.put("preprocessing", pre);
    List<Object> labels = new ArrayList<Object>();
    long classes = ((List<?>) output.get("shape")).size() == 2 ? (Long) ((List<?>) output.get("shape")).get(1) : 10;
    for (int i = 0; i < classes; i++) labels.add("label_" + i);
    m.put("labels", labels);
    m.put("num_classes", Long.valueOf(classes));
    m.put("params", Long.valueOf(3_000_000));
    m.put("flops", null);
    m.put("rewrites", new ArrayList<Object>());
    Map<String, Object> pv = new LinkedHashMap<String, Object>();
    pv.put("torch", "2.13.0");
    m.put("package_versions", pv);
    m.put("export_seconds", Double.valueOf(12.5));
    m.put("created_at", "2026-01-01T00:00:00+00:00");
    m.put("delegation", null);
    m.put("parity", null);
    m.put("etrecord_file", null);
    m.put("target_options", new LinkedHashMap<String, Object>());
    m.put("notes", new ArrayList<Object>());
    return m;
  }

  static Map<String, Object> floatManifest(int size, int classes) throws IOException {
    return manifest("executorch", size,
        tensor("input", new long[] {1, 3, size, size}, "float32", "NCHW", null, null),
        tensor("logits", new long[] {1, classes}, "float32", "NC", null, null),
        program());
  }

  static byte[] program() {
    return "not really a program, but the bytes the manifest describes".getBytes(StandardCharsets.UTF_8);
  }

  static String sha256(byte[] data) throws IOException {
    File f = File.createTempFile("sha", ".bin");
    try {
      FileUtil.writeAtomic(f, data);
      return FileUtil.sha256(f);
    } finally {
      f.delete();
    }
  }

  /** Writes manifest.json and the program file into dir. */
  static File writeArtifact(File dir, Map<String, Object> manifest, byte[] program) throws IOException {
    dir.mkdirs();
    FileUtil.writeAtomic(new File(dir, "manifest.json"), Json.writePretty(manifest, 2) + "\n");
    FileUtil.writeAtomic(new File(dir, (String) manifest.get("program_file")), program);
    return dir;
  }

  static RgbImage gradient(int w, int h) {
    byte[] rgb = new byte[w * h * 3];
    for (int y = 0; y < h; y++) {
      for (int x = 0; x < w; x++) {
        int i = (y * w + x) * 3;
        rgb[i] = (byte) (x * 255 / (w - 1));
        rgb[i + 1] = (byte) (y * 255 / (h - 1));
        rgb[i + 2] = (byte) ((x * 7 + y * 13) & 0xff);
      }
    }
    return new RgbImage(w, h, rgb);
  }
}
