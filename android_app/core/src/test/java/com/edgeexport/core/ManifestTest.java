package com.edgeexport.core;

import static org.junit.jupiter.api.Assertions.*;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class ManifestTest {
  @Test
  void parsesAFullPythonStyleManifest() throws Exception {
    Map<String, Object> raw = TestArtifacts.floatManifest(224, 1000);
    Manifest m = Manifest.parse(Json.writePretty(raw, 2));
    assertEquals("swiftformer_xs", m.modelId);
    assertEquals("executorch", m.runtime);
    assertEquals("xnnpack-fp32", m.target);
    assertEquals("model.pte", m.programFile);
    assertArrayEquals(new long[] {1, 3, 224, 224}, m.input().shape);
    assertEquals("float32", m.input().dtype);
    assertEquals("NCHW", m.input().layout);
    assertNull(m.input().quantization);
    assertEquals(224, m.preprocessing.imageSize);
    assertEquals(249, m.preprocessing.resizeSize());
    assertEquals("bicubic", m.preprocessing.interpolation);
    assertArrayEquals(new double[] {0.485, 0.456, 0.406}, m.preprocessing.mean);
    assertEquals(1000, m.numClasses);
    assertEquals("label_7", m.label(7));
    assertEquals("class 5000", m.label(5000));
  }

  @Test
  void optionalPreprocessingFieldsTakePythonDefaults() throws Exception {
    Map<String, Object> raw = TestArtifacts.floatManifest(224, 10);
    Map<String, Object> pre = new LinkedHashMap<String, Object>();
    pre.put("image_size", Long.valueOf(224));
    raw.put("preprocessing", pre);
    raw.remove("labels");
    Manifest m = Manifest.parse(Json.write(raw));
    assertEquals(0.9, m.preprocessing.cropPct);
    assertEquals("bicubic", m.preprocessing.interpolation);
    assertArrayEquals(new double[] {0.229, 0.224, 0.225}, m.preprocessing.std);
    assertNull(m.labels);
    assertEquals("class 3", m.label(3));
  }

  @Test
  void quantizedNhwcInput() throws Exception {
    Map<String, Object> raw = TestArtifacts.manifest("litert", 224,
        TestArtifacts.tensor("serving_default_x:0", new long[] {1, 224, 224, 3}, "int8", "NHWC", 0.0186, -14L),
        TestArtifacts.tensor("logits", new long[] {1, 1000}, "int8", "NC", 0.1, 3L), TestArtifacts.program());
    Manifest m = Manifest.parse(Json.write(raw));
    assertEquals("litert", m.runtime);
    assertEquals("NHWC", m.input().layout);
    assertEquals(0.0186, m.input().quantization.scale);
    assertEquals(-14, m.input().quantization.zeroPoint);
    assertEquals(3, m.output().quantization.zeroPoint);
  }

  @Test
  void resizeSizeRoundsHalfToEvenLikePython() {
    // Python: round(224/0.875) == 256, round(5/0.4) == 12 (5/0.4 == 12.5), round(7/0.56) == 12 (12.4999...)
    assertEquals(256, new Manifest.Preprocessing(224, 0.875, "bicubic", new double[3], new double[] {1, 1, 1}).resizeSize());
    assertEquals(12, new Manifest.Preprocessing(5, 0.4, "bicubic", new double[3], new double[] {1, 1, 1}).resizeSize());
    assertEquals(12, new Manifest.Preprocessing(7, 0.56, "bicubic", new double[3], new double[] {1, 1, 1}).resizeSize());
  }

  private static String messageFor(Map<String, Object> raw) {
    return assertThrows(ArtifactException.class, () -> Manifest.parse(Json.write(raw))).getMessage();
  }

  @Test
  void errorsNameTheField() throws Exception {
    Map<String, Object> raw = TestArtifacts.floatManifest(224, 10);
    raw.put("schema_version", Long.valueOf(2));
    assertTrue(messageFor(raw).contains("schema_version 2"));

    raw = TestArtifacts.floatManifest(224, 10);
    raw.remove("program_file");
    assertTrue(messageFor(raw).contains("'program_file' is missing"));

    raw = TestArtifacts.floatManifest(224, 10);
    raw.put("runtime", "onnx");
    assertTrue(messageFor(raw).contains("runtime"));

    raw = TestArtifacts.floatManifest(224, 10);
    raw.put("program_file", "../../etc/passwd");
    assertTrue(messageFor(raw).contains("plain file name"));

    raw = TestArtifacts.floatManifest(224, 10);
    @SuppressWarnings("unchecked")
    Map<String, Object> in = (Map<String, Object>) ((List<?>) raw.get("inputs")).get(0);
    in.put("shape", Arrays.asList(1L, 3L, "224", 224L));
    assertTrue(messageFor(raw).contains("inputs.0.shape.2"));

    raw = TestArtifacts.floatManifest(224, 10);
    @SuppressWarnings("unchecked")
    Map<String, Object> pre = (Map<String, Object>) raw.get("preprocessing");
    pre.put("interpolation", "lanczos");
    assertTrue(messageFor(raw).contains("interpolation"));

    raw = TestArtifacts.floatManifest(224, 10);
    raw.put("inputs", Arrays.asList());
    assertTrue(messageFor(raw).contains("'inputs' is empty"));

    assertTrue(assertThrows(ArtifactException.class, () -> Manifest.parse("{not json")).getMessage().contains("not valid JSON"));
    assertTrue(assertThrows(ArtifactException.class, () -> Manifest.parse("[]")).getMessage().contains("object"));
  }

  @Test
  void rejectsBadQuantizationScale() throws Exception {
    Map<String, Object> raw = TestArtifacts.manifest("litert", 8,
        TestArtifacts.tensor("x", new long[] {1, 8, 8, 3}, "int8", "NHWC", 0.0, 0L),
        TestArtifacts.tensor("y", new long[] {1, 10}, "float32", "NC", null, null), TestArtifacts.program());
    assertTrue(messageFor(raw).contains("scale"));
  }
}
