package com.edgeexport.bench;

import com.edgeexport.core.ArtifactException;
import com.edgeexport.core.Engine;
import com.edgeexport.core.Manifest;
import com.edgeexport.core.TensorData;
import com.google.ai.edge.litert.Accelerator;
import com.google.ai.edge.litert.CompiledModel;
import com.google.ai.edge.litert.TensorBuffer;
import java.io.File;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A .tflite program in LiteRT's CompiledModel API (com.google.ai.edge.litert:litert 2.x) on the CPU
 * accelerator (XNNPACK) with the requested thread count. LiteRT's Java/Kotlin API has no per-op
 * profiler, so only whole-model times are recorded.
 */
final class LiteRtEngine implements Engine {
  private final Manifest manifest;
  private CompiledModel model;
  private List<TensorBuffer> inputs;
  private List<TensorBuffer> outputs;
  private final Map<String, String> options = new LinkedHashMap<String, String>();

  LiteRtEngine(Manifest manifest) {
    this.manifest = manifest;
  }

  @Override
  public String runtime() {
    return "litert";
  }

  @Override
  public String runtimeVersion() {
    return BuildConfig.LITERT_VERSION;
  }

  @Override
  public void load(File program, int threads) throws Exception {
    CompiledModel.Options opts = new CompiledModel.Options(Accelerator.CPU);
    opts.setCpuOptions(new CompiledModel.CpuOptions(threads == 0 ? null : Integer.valueOf(threads), null, null));
    model = CompiledModel.create(program.getAbsolutePath(), opts, null);
    inputs = model.createInputBuffers();
    outputs = model.createOutputBuffers();
    if (inputs.isEmpty() || outputs.isEmpty()) throw new ArtifactException("model has no input or output buffers");
    options.put("accelerator", "cpu");
    options.put("num_threads", threads == 0 ? "runtime default" : Integer.toString(threads));
    options.put("api", "CompiledModel");
  }

  @Override
  public void setInput(TensorData in) throws Exception {
    TensorBuffer b = inputs.get(0);
    if (in.isFloat()) {
      b.writeFloat(in.floats);
    } else {
      b.writeInt8(in.bytes); // uint8 inputs are the same bytes
    }
  }

  @Override
  public void run() throws Exception {
    model.run(inputs, outputs);
  }

  @Override
  public TensorData output() throws Exception {
    Manifest.TensorSpec spec = manifest.output();
    TensorBuffer b = outputs.get(0);
    if ("float32".equals(spec.dtype)) return TensorData.ofFloats(spec.shape, spec.layout, b.readFloat());
    if ("int8".equals(spec.dtype) || "uint8".equals(spec.dtype)) {
      return TensorData.ofBytes(spec.shape, spec.dtype, spec.layout, b.readInt8());
    }
    throw new ArtifactException("output dtype " + spec.dtype + " is not float32/int8/uint8");
  }

  @Override
  public Map<String, String> options() {
    return options;
  }

  @Override
  public Trace writeTrace(File dir) {
    return new Trace(null, "LiteRT: whole-model times only (no per-op profiler in the Android API)");
  }

  @Override
  public void close() {
    if (inputs != null) for (TensorBuffer b : inputs) b.close();
    if (outputs != null) for (TensorBuffer b : outputs) b.close();
    if (model != null) model.close();
    model = null;
  }
}
