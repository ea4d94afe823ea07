package com.edgeexport.bench;

import com.edgeexport.core.ArtifactException;
import com.edgeexport.core.Engine;
import com.edgeexport.core.Manifest;
import com.edgeexport.core.TensorData;
import java.io.File;
import java.lang.reflect.Method;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import org.pytorch.executorch.DType;
import org.pytorch.executorch.EValue;
import org.pytorch.executorch.Module;
import org.pytorch.executorch.Tensor;

/**
 * A .pte program in ExecuTorch's Android runtime (org.pytorch:executorch-android): mmap-loaded,
 * "forward" loaded eagerly so that load time is measured as load time, one input tensor built once.
 */
final class ExecuTorchEngine implements Engine {
  private final Manifest manifest;
  private Module module;
  private EValue input;
  private EValue[] outputs;
  private final Map<String, String> options = new LinkedHashMap<String, String>();

  ExecuTorchEngine(Manifest manifest) {
    this.manifest = manifest;
  }

  @Override
  public String runtime() {
    return "executorch";
  }

  @Override
  public String runtimeVersion() {
    return BuildConfig.EXECUTORCH_VERSION;
  }

  @Override
  public void load(File program, int threads) {
    module = Module.load(program.getAbsolutePath(), Module.LOAD_MODE_MMAP, threads);
    module.loadMethod("forward");
    options.put("load_mode", "mmap");
    options.put("num_threads", threads == 0 ? "runtime default" : Integer.toString(threads));
    try {
      options.put("backends", Arrays.toString(module.getMethodMetadata("forward").getBackends()));
    } catch (RuntimeException e) {
      options.put("backends", "unknown (" + e.getMessage() + ")");
    }
  }

  @Override
  public void setInput(TensorData in) {
    Tensor t;
    if (in.isFloat()) {
      t = Tensor.fromBlob(in.floats, in.shape);
    } else if (in.isUnsigned()) {
      t = Tensor.fromBlobUnsigned(in.bytes, in.shape);
    } else {
      t = Tensor.fromBlob(in.bytes, in.shape);
    }
    input = EValue.from(t);
  }

  @Override
  public void run() {
    outputs = module.forward(input);
    if (outputs == null || outputs.length == 0) throw new IllegalStateException("forward returned no outputs");
  }

  @Override
  public TensorData output() {
    Tensor t = outputs[0].toTensor();
    Manifest.TensorSpec spec = manifest.output();
    long[] shape = t.shape();
    DType d = t.dtype();
    if (d == DType.FLOAT) return TensorData.ofFloats(shape, spec.layout, t.getDataAsFloatArray());
    if (d == DType.INT8) return TensorData.ofBytes(shape, "int8", spec.layout, t.getDataAsByteArray());
    if (d == DType.UINT8) return TensorData.ofBytes(shape, "uint8", spec.layout, t.getDataAsUnsignedByteArray());
    throw new ArtifactException("output dtype " + d + " is not float32/int8/uint8");
  }

  @Override
  public Map<String, String> options() {
    return options;
  }

  /**
   * ETDump needs an AAR built with EXECUTORCH_ANDROID_PROFILING=ON (the Maven Central AAR is built
   * without it, and then etdump returns false). Module.etdump(String) exists from ExecuTorch 1.4 on;
   * it is looked up by reflection so the app still builds against older AARs.
   */
  @Override
  public Trace writeTrace(File dir) {
    File f = new File(dir, com.edgeexport.core.BenchmarkSession.ETDUMP_FILE);
    if (f.exists()) f.delete();
    try {
      Method m = module.getClass().getMethod("etdump", String.class);
      Object ok = m.invoke(module, f.getAbsolutePath());
      if (Boolean.TRUE.equals(ok) && f.isFile()) {
        return new Trace(f, "ETDump written (" + f.length() + " bytes): events of all warm-up and timed runs");
      }
      return new Trace(null, "no ETDump: this executorch-android build has no event tracer "
          + "(build the AAR with EXECUTORCH_ANDROID_PROFILING=ON for per-op times)");
    } catch (NoSuchMethodException e) {
      return new Trace(null, "no ETDump: this executorch-android version has no Module.etdump(path)");
    } catch (Exception e) {
      return new Trace(null, "no ETDump: " + e);
    }
  }

  @Override
  public void close() {
    if (module != null) module.destroy();
    module = null;
  }
}
