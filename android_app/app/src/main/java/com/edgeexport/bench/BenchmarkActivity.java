package com.edgeexport.bench;

import android.app.Activity;
import android.app.ActivityManager;
import android.content.Intent;
import android.os.Build;
import android.os.Bundle;
import android.os.Debug;
import android.util.Log;
import android.widget.TextView;
import com.edgeexport.core.BenchmarkRequest;
import com.edgeexport.core.BenchmarkSession;
import com.edgeexport.core.Clock;
import com.edgeexport.core.Engine;
import com.edgeexport.core.Manifest;
import com.edgeexport.core.MinibenchResults;
import com.edgeexport.core.ResultLine;
import com.edgeexport.core.RgbImage;
import java.io.File;
import java.io.IOException;

/**
 * Benchmark mode, for the host:
 *
 * <pre>
 * adb shell am start -n com.edgeexport.bench/.BenchmarkActivity \
 *     --es model NAME_OR_ABSOLUTE_DIR --ei runs 50 --ei threads 4 --ei warmup 5 \
 *     [--es image /sdcard/.../photo.ppm] [--es run_id ID] [--ez verify true]
 * </pre>
 *
 * Writes results.json (the profiling schema, whole-model stats), benchmark_results.json (the same run in
 * the format of ExecuTorch's Minibench app, with the PSS growth from {@link Debug#getPss()}) and, for
 * ExecuTorch AARs built with event tracing, results.etdump into the app's external files dir
 * (/sdcard/Android/data/com.edgeexport.bench/files/, readable with a plain {@code adb pull}), then logs
 * one line {@code EDGE_EXPORT_RESULT {...}} under the tag EdgeExport and finishes.
 */
public class BenchmarkActivity extends Activity {
  private static final java.util.concurrent.atomic.AtomicBoolean RUNNING = new java.util.concurrent.atomic.AtomicBoolean();
  private TextView status;

  @Override
  protected void onCreate(Bundle savedInstanceState) {
    super.onCreate(savedInstanceState);
    status = new TextView(this);
    status.setPadding(32, 32, 32, 32);
    status.setText("benchmark mode: starting");
    setContentView(status);
    start(getIntent());
  }

  @Override
  protected void onNewIntent(Intent intent) {
    super.onNewIntent(intent);
    start(intent);
  }

  private void start(final Intent intent) {
    final String runId = intent.getStringExtra("run_id");
    final BenchmarkRequest req;
    try {
      req = new BenchmarkRequest(
          intent.getStringExtra("model"),
          intent.getIntExtra("runs", BenchmarkRequest.DEFAULT_RUNS),
          intent.getIntExtra("warmup", BenchmarkRequest.DEFAULT_WARMUP),
          intent.getIntExtra("threads", BenchmarkRequest.DEFAULT_THREADS),
          intent.getStringExtra("image"),
          runId,
          intent.getBooleanExtra("verify", true));
    } catch (IllegalArgumentException e) {
      report(ResultLine.error(runId, "arguments", e.getMessage()), e.getMessage());
      return;
    }
    if (!RUNNING.compareAndSet(false, true)) {
      // one benchmark at a time: a second would share the CPU and spoil both measurements
      Log.i(ResultLine.LOG_TAG, ResultLine.error(runId, "arguments", "a benchmark is already running"));
      return;
    }
    new Thread(new Runnable() {
      @Override
      public void run() {
        try {
          runBenchmark(req);
        } finally {
          RUNNING.set(false);
        }
      }
    }, "edge-export-benchmark").start();
  }

  private File outputDir() {
    File ext = getExternalFilesDir(null);
    return ext != null ? ext : getFilesDir();
  }

  private void runBenchmark(BenchmarkRequest req) {
    Engine engine = null;
    String line;
    String shown;
    try {
      new File(outputDir(), MinibenchResults.FILE_NAME).delete(); // never leave an earlier run's beside a new results.json
      File modelDir = ModelStore.resolve(this, req.model);
      Manifest m = BenchmarkSession.loadManifest(modelDir, false); // the session checks sha256 itself
      engine = Engines.forManifest(m);
      RgbImage image = req.image != null ? Images.readFile(req.image) : Images.bundled(this);
      show("running " + m.modelId + " (" + m.runtime + ", " + m.target + "): " + req.warmup + " warm-up + " + req.runs + " runs");
      BenchmarkSession session = new BenchmarkSession(Clock.SYSTEM, System.currentTimeMillis(), DeviceInfo.collect(), "device");
      long pssIdleKb = Debug.getPss(); // before the load, as Minibench's ModelRunner
      BenchmarkSession.Outcome o = session.run(modelDir, req, engine, image, outputDir());
      writeMinibench(o, pssIdleKb); // the engine still holds the program, as after Minibench's runs
      line = ResultLine.ok(req.runId, o.results.getAbsolutePath(), o.trace == null ? null : o.trace.getAbsolutePath(),
          m.modelId, o.stats.n, o.stats.median);
      shown = String.format(java.util.Locale.ROOT, "%s: median %.2f ms over %d runs\n%s\ntop-1: %s",
          m.modelId, o.stats.median, o.stats.n, o.results, o.top5.isEmpty() ? "-" : o.top5.get(0));
    } catch (BenchmarkSession.StageException e) {
      line = ResultLine.error(req.runId, e.stage, e.getMessage());
      shown = e.getMessage();
      Log.e(ResultLine.LOG_TAG, "benchmark failed", e);
    } catch (Throwable e) { // includes UnsatisfiedLinkError from a runtime's native library
      line = ResultLine.error(req.runId, "setup", e.toString());
      shown = e.toString();
      Log.e(ResultLine.LOG_TAG, "benchmark failed", e);
    } finally {
      if (engine != null) {
        try {
          engine.close();
        } catch (Exception ignored) {
          // nothing useful to do
        }
      }
    }
    report(line, shown);
  }

  /** benchmark_results.json beside results.json; results.json is the run's record, so a failure here only logs. */
  private void writeMinibench(BenchmarkSession.Outcome o, long pssIdleKb) {
    try {
      long pssAfterKb = Debug.getPss();
      ActivityManager.MemoryInfo mem = new ActivityManager.MemoryInfo();
      ActivityManager am = (ActivityManager) getSystemService(ACTIVITY_SERVICE);
      if (am != null) am.getMemoryInfo(mem);
      MinibenchResults.write(o, pssIdleKb, pssAfterKb, MinibenchResults.DeviceInfo.android(
          Build.BRAND, Build.MODEL, Build.VERSION.RELEASE, mem.totalMem, mem.availMem));
    } catch (IOException | RuntimeException e) {
      Log.w(ResultLine.LOG_TAG, "could not write " + MinibenchResults.FILE_NAME, e);
    }
  }

  private void report(String line, String shown) {
    Log.i(ResultLine.LOG_TAG, line);
    show(shown);
    runOnUiThread(new Runnable() {
      @Override
      public void run() {
        finish();
      }
    });
  }

  private void show(final String text) {
    runOnUiThread(new Runnable() {
      @Override
      public void run() {
        status.setText(text);
      }
    });
  }
}
