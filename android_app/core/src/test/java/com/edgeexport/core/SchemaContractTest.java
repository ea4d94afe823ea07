package com.edgeexport.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The Java core against the JSON Schemas generated from the Python models (edge_export/schemas/*.v1.json):
 * every field it reads or writes exists there with the same requiredness and defaults, and the manifests
 * Python writes for the fixtures (edge_export/schemas/fixtures/, checked against the schema on the Python
 * side) parse here. A schema change the app does not follow fails these tests.
 */
class SchemaContractTest {
  private static File repoFile(String relative) {
    File dir = new File(System.getProperty("user.dir")).getAbsoluteFile();
    while (dir != null) {
      File f = new File(dir, relative);
      if (f.isFile()) return f;
      dir = dir.getParentFile();
    }
    throw new AssertionError(relative + " not found above " + System.getProperty("user.dir"));
  }

  private static String read(String relative) throws IOException {
    return new String(Files.readAllBytes(repoFile(relative).toPath()), StandardCharsets.UTF_8);
  }

  @SuppressWarnings("unchecked")
  private static Map<String, Object> schema(String name) throws IOException {
    return (Map<String, Object>) Json.parse(read("edge_export/schemas/" + name));
  }

  @SuppressWarnings("unchecked")
  private static Map<String, Object> def(Map<String, Object> schema, String name) {
    if (name == null) return schema;
    return (Map<String, Object>) ((Map<String, Object>) schema.get("$defs")).get(name);
  }

  @SuppressWarnings("unchecked")
  private static void hasFields(Map<String, Object> schema, String defName, List<String> required, List<String> optional) {
    Map<String, Object> d = def(schema, defName);
    Map<String, Object> props = (Map<String, Object>) d.get("properties");
    List<Object> req = d.containsKey("required") ? (List<Object>) d.get("required") : Arrays.<Object>asList();
    String where = defName == null ? "top level" : defName;
    for (String f : required) {
      assertTrue(props.containsKey(f), where + " has no field " + f);
      assertTrue(req.contains(f), where + "." + f + " is optional in the schema but the app requires it");
    }
    for (String f : optional) {
      assertTrue(props.containsKey(f), where + " has no field " + f);
      assertTrue(!req.contains(f), where + "." + f + " is required in the schema but the app treats it as optional");
    }
  }

  @Test
  @SuppressWarnings("unchecked")
  void manifestFieldsTheAppReadsAreTheSchemas() throws IOException {
    Map<String, Object> s = schema("manifest.v1.json");
    hasFields(s, null,
        Arrays.asList("model_id", "target", "runtime", "program_file", "file_sha256", "file_bytes", "inputs",
            "outputs", "preprocessing", "num_classes"),
        Arrays.asList("schema_version", "labels"));
    hasFields(s, "TensorSpec", Arrays.asList("name", "shape", "dtype"), Arrays.asList("layout", "quantization"));
    hasFields(s, "QuantParams", Arrays.asList("scale", "zero_point"), Arrays.<String>asList());
    hasFields(s, "Preprocessing", Arrays.asList("image_size"), Arrays.asList("crop_pct", "interpolation", "mean", "std"));
    Map<String, Object> pre = (Map<String, Object>) def(s, "Preprocessing").get("properties");
    assertEquals(0.9, ((Number) ((Map<String, Object>) pre.get("crop_pct")).get("default")).doubleValue());
    assertEquals("bicubic", ((Map<String, Object>) pre.get("interpolation")).get("default"));
    List<Object> runtimes = (List<Object>) ((Map<String, Object>) ((Map<String, Object>) s.get("properties")).get("runtime")).get("enum");
    assertTrue(runtimes.contains("executorch") && runtimes.contains("litert"), "runtimes the app runs: " + runtimes);
    Map<String, Object> version = (Map<String, Object>) ((Map<String, Object>) s.get("properties")).get("schema_version");
    assertEquals(Long.valueOf(Manifest.SCHEMA_VERSION), version.get("default"));
  }

  @Test
  @SuppressWarnings("unchecked")
  void resultsTheAppWritesHaveExactlyTheProfileSchemasFields() throws IOException {
    Map<String, Object> s = schema("profile.v1.json");
    ProfileJson p = new ProfileJson();
    p.runtime = "executorch";
    p.modelId = "m";
    p.target = "xnnpack-fp32";
    p.artifactSha256 = "0";
    p.collectedAt = ProfileJson.isoUtc(0);
    p.latencyMs = new double[] {1.0, 2.0};
    Map<String, Object> written = p.toJson();
    checkKeys(written, def(s, null), "profile");
    checkKeys((Map<String, Object>) written.get("provenance"), def(s, "Provenance"), "provenance");
    checkKeys((Map<String, Object>) written.get("latency"), def(s, "Stats"), "latency");
  }

  @SuppressWarnings("unchecked")
  private static void checkKeys(Map<String, Object> written, Map<String, Object> d, String where) {
    Map<String, Object> props = (Map<String, Object>) d.get("properties");
    assertEquals(props.keySet(), written.keySet(), where + ": the app writes other fields than the schema has");
  }

  @Test
  void manifestsPythonWroteParse() throws IOException {
    Manifest fp32 = Manifest.parse(read("edge_export/schemas/fixtures/manifest-xnnpack-fp32.json"));
    assertEquals("executorch", fp32.runtime);
    assertEquals("NCHW", fp32.input().layout);
    assertEquals(64, fp32.preprocessing.imageSize);
    Manifest int8 = Manifest.parse(read("edge_export/schemas/fixtures/manifest-tflite-int8.json"));
    assertEquals("litert", int8.runtime);
    assertEquals("NHWC", int8.input().layout);
    assertEquals("int8", int8.input().dtype);
    assertNotNull(int8.input().quantization);
  }
}
