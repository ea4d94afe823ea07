package com.edgeexport.core;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Map;

/**
 * The part of an artifact's {@code manifest.json} (written by {@code edge_export.artifacts}) that
 * the app needs: what program to load, in which runtime, and how to feed it.
 *
 * <p>Parsing follows the Python schema: the same field names, the same defaults for optional
 * preprocessing fields, schema_version 1 only. Fields the app does not use (parity, delegation,
 * package versions...) are ignored, so a manifest with more fields still loads.
 */
public final class Manifest {
  public static final int SCHEMA_VERSION = 1;
  public static final String FILE_NAME = "manifest.json";

  public final int schemaVersion;
  public final String modelId;
  public final String target;
  public final String runtime; // "executorch" | "litert"
  public final String programFile;
  public final String fileSha256;
  public final long fileBytes;
  public final List<TensorSpec> inputs;
  public final List<TensorSpec> outputs;
  public final Preprocessing preprocessing;
  public final List<String> labels; // may be null
  public final int numClasses;

  public static final class QuantParams {
    public final double scale;
    public final long zeroPoint;

    public QuantParams(double scale, long zeroPoint) {
      if (!(scale > 0) || Double.isInfinite(scale)) {
        throw new ArtifactException("quantization scale must be a positive number, got " + scale);
      }
      this.scale = scale;
      this.zeroPoint = zeroPoint;
    }
  }

  public static final class TensorSpec {
    public final String name;
    public final long[] shape;
    public final String dtype; // "float32", "int8", "uint8", ...
    public final String layout; // "NCHW", "NHWC", "NC" or null
    public final QuantParams quantization; // may be null

    public TensorSpec(String name, long[] shape, String dtype, String layout, QuantParams q) {
      this.name = name;
      this.shape = shape.clone();
      this.dtype = dtype;
      this.layout = layout;
      this.quantization = q;
    }

    public long numel() {
      long n = 1;
      for (long d : shape) n *= d;
      return n;
    }

    @Override
    public String toString() {
      return name + Arrays.toString(shape) + " " + dtype + (layout == null ? "" : " " + layout);
    }
  }

  public static final class Preprocessing {
    public final int imageSize;
    public final double cropPct;
    public final String interpolation; // "bicubic" | "bilinear" | "nearest"
    public final double[] mean;
    public final double[] std;

    public Preprocessing(
        int imageSize, double cropPct, String interpolation, double[] mean, double[] std) {
      if (imageSize <= 0) throw new ArtifactException("preprocessing.image_size must be > 0");
      if (!(cropPct > 0 && cropPct <= 1.0)) {
        throw new ArtifactException("preprocessing.crop_pct must be in (0, 1], got " + cropPct);
      }
      if (!("bicubic".equals(interpolation)
          || "bilinear".equals(interpolation)
          || "nearest".equals(interpolation))) {
        throw new ArtifactException(
            "preprocessing.interpolation must be bicubic, bilinear or nearest, got " + interpolation);
      }
      if (mean.length != 3 || std.length != 3) {
        throw new ArtifactException("preprocessing.mean and .std must have 3 values (RGB)");
      }
      for (double s : std) {
        if (!(s > 0)) throw new ArtifactException("preprocessing.std values must be > 0");
      }
      this.imageSize = imageSize;
      this.cropPct = cropPct;
      this.interpolation = interpolation;
      this.mean = mean.clone();
      this.std = std.clone();
    }

    /** Short side before the centre crop: {@code int(round(image_size / crop_pct))}, as in Python. */
    public int resizeSize() {
      return (int) Math.rint(imageSize / cropPct); // Python round(): half to even
    }
  }

  private Manifest(Map<String, Object> m) {
    Object v = m.get("schema_version");
    if (!(v instanceof Long) || ((Long) v).longValue() != SCHEMA_VERSION) {
      throw new ArtifactException(
          "manifest has schema_version "
              + v
              + ", this app reads "
              + SCHEMA_VERSION
              + ": re-export the artifact with a matching edge-export");
    }
    schemaVersion = SCHEMA_VERSION;
    modelId = str(m, "model_id");
    target = str(m, "target");
    runtime = str(m, "runtime");
    if (!"executorch".equals(runtime) && !"litert".equals(runtime)) {
      throw new ArtifactException(
          "manifest field 'runtime' must be executorch or litert, got '" + runtime + "'");
    }
    programFile = str(m, "program_file");
    if (programFile.contains("/") || programFile.contains("\\") || programFile.startsWith(".")) {
      throw new ArtifactException(
          "manifest field 'program_file' must be a plain file name, got '" + programFile + "'");
    }
    fileSha256 = str(m, "file_sha256");
    fileBytes = integer(m, "file_bytes");
    inputs = tensors(m, "inputs");
    outputs = tensors(m, "outputs");
    if (inputs.isEmpty()) throw new ArtifactException("manifest field 'inputs' is empty");
    if (outputs.isEmpty()) throw new ArtifactException("manifest field 'outputs' is empty");
    preprocessing = preprocessing(obj(m, "preprocessing", "preprocessing"));
    Object lab = m.get("labels");
    if (lab == null) {
      labels = null;
    } else {
      List<Object> raw = list(lab, "labels");
      List<String> l = new ArrayList<String>(raw.size());
      for (int i = 0; i < raw.size(); i++) {
        if (!(raw.get(i) instanceof String)) {
          throw new ArtifactException("manifest field 'labels." + i + "' must be a string");
        }
        l.add((String) raw.get(i));
      }
      labels = Collections.unmodifiableList(l);
    }
    numClasses = (int) integer(m, "num_classes");
  }

  /** Parse manifest text. Throws {@link ArtifactException} with the offending field. */
  @SuppressWarnings("unchecked")
  public static Manifest parse(String json) {
    Object root;
    try {
      root = Json.parse(json);
    } catch (Json.ParseException e) {
      throw new ArtifactException("manifest.json is not valid JSON (" + e.getMessage() + "): re-export it");
    }
    if (!(root instanceof Map)) throw new ArtifactException("manifest.json must hold a JSON object");
    return new Manifest((Map<String, Object>) root);
  }

  public TensorSpec input() {
    return inputs.get(0);
  }

  public TensorSpec output() {
    return outputs.get(0);
  }

  /** Label for a class index, or "class N" when the manifest has no labels. */
  public String label(int index) {
    if (labels != null && index >= 0 && index < labels.size()) return labels.get(index);
    return "class " + index;
  }

  // ---------------------------------------------------------------- field helpers

  private static String path(String parent, String key) {
    return parent == null ? key : parent + "." + key;
  }

  private static Object req(Map<String, Object> m, String key, String where) {
    if (!m.containsKey(key)) throw new ArtifactException("manifest field '" + where + "' is missing");
    return m.get(key);
  }

  private static String str(Map<String, Object> m, String key) {
    return str(m, key, key);
  }

  private static String str(Map<String, Object> m, String key, String where) {
    Object v = req(m, key, where);
    if (!(v instanceof String)) throw new ArtifactException("manifest field '" + where + "' must be a string");
    return (String) v;
  }

  private static long integer(Map<String, Object> m, String key) {
    Object v = req(m, key, key);
    if (!(v instanceof Long)) throw new ArtifactException("manifest field '" + key + "' must be an integer");
    return ((Long) v).longValue();
  }

  private static double number(Object v, String where) {
    if (!(v instanceof Number)) throw new ArtifactException("manifest field '" + where + "' must be a number");
    return ((Number) v).doubleValue();
  }

  @SuppressWarnings("unchecked")
  private static Map<String, Object> obj(Map<String, Object> m, String key, String where) {
    Object v = req(m, key, where);
    if (!(v instanceof Map)) throw new ArtifactException("manifest field '" + where + "' must be an object");
    return (Map<String, Object>) v;
  }

  @SuppressWarnings("unchecked")
  private static List<Object> list(Object v, String where) {
    if (!(v instanceof List)) throw new ArtifactException("manifest field '" + where + "' must be a list");
    return (List<Object>) v;
  }

  @SuppressWarnings("unchecked")
  private static List<TensorSpec> tensors(Map<String, Object> m, String key) {
    List<Object> raw = list(req(m, key, key), key);
    List<TensorSpec> out = new ArrayList<TensorSpec>();
    for (int i = 0; i < raw.size(); i++) {
      String where = key + "." + i;
      if (!(raw.get(i) instanceof Map)) throw new ArtifactException("manifest field '" + where + "' must be an object");
      Map<String, Object> t = (Map<String, Object>) raw.get(i);
      String name = str(t, "name", path(where, "name"));
      List<Object> dims = list(req(t, "shape", path(where, "shape")), path(where, "shape"));
      long[] shape = new long[dims.size()];
      for (int d = 0; d < shape.length; d++) {
        Object dv = dims.get(d);
        if (!(dv instanceof Long) || ((Long) dv).longValue() < 0) {
          throw new ArtifactException("manifest field '" + where + ".shape." + d + "' must be a non-negative integer");
        }
        shape[d] = ((Long) dv).longValue();
      }
      String dtype = str(t, "dtype", path(where, "dtype"));
      Object lay = t.get("layout");
      String layout = null;
      if (lay != null) {
        if (!"NCHW".equals(lay) && !"NHWC".equals(lay) && !"NC".equals(lay)) {
          throw new ArtifactException("manifest field '" + where + ".layout' must be NCHW, NHWC or NC, got " + lay);
        }
        layout = (String) lay;
      }
      QuantParams q = null;
      Object qv = t.get("quantization");
      if (qv != null) {
        if (!(qv instanceof Map)) throw new ArtifactException("manifest field '" + where + ".quantization' must be an object");
        Map<String, Object> qm = (Map<String, Object>) qv;
        double scale = number(req(qm, "scale", where + ".quantization.scale"), where + ".quantization.scale");
        Object zp = req(qm, "zero_point", where + ".quantization.zero_point");
        if (!(zp instanceof Long)) throw new ArtifactException("manifest field '" + where + ".quantization.zero_point' must be an integer");
        q = new QuantParams(scale, ((Long) zp).longValue());
      }
      out.add(new TensorSpec(name, shape, dtype, layout, q));
    }
    return Collections.unmodifiableList(out);
  }

  private static double[] triple(Map<String, Object> p, String key, double[] dflt) {
    if (!p.containsKey(key)) return dflt;
    List<Object> raw = list(p.get(key), "preprocessing." + key);
    double[] out = new double[raw.size()];
    for (int i = 0; i < out.length; i++) out[i] = number(raw.get(i), "preprocessing." + key + "." + i);
    return out;
  }

  private static Preprocessing preprocessing(Map<String, Object> p) {
    Object size = req(p, "image_size", "preprocessing.image_size");
    if (!(size instanceof Long)) throw new ArtifactException("manifest field 'preprocessing.image_size' must be an integer");
    double crop = p.containsKey("crop_pct") ? number(p.get("crop_pct"), "preprocessing.crop_pct") : 0.9;
    String interp = "bicubic";
    if (p.containsKey("interpolation")) {
      Object iv = p.get("interpolation");
      if (!(iv instanceof String)) throw new ArtifactException("manifest field 'preprocessing.interpolation' must be a string");
      interp = (String) iv;
    }
    double[] mean = triple(p, "mean", new double[] {0.485, 0.456, 0.406});
    double[] std = triple(p, "std", new double[] {0.229, 0.224, 0.225});
    return new Preprocessing((int) ((Long) size).longValue(), crop, interp, mean, std);
  }
}
