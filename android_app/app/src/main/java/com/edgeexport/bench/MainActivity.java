package com.edgeexport.bench;

import android.app.Activity;
import android.content.ActivityNotFoundException;
import android.content.Intent;
import android.graphics.Bitmap;
import android.os.Bundle;
import android.provider.MediaStore;
import android.view.View;
import android.widget.ArrayAdapter;
import android.widget.Button;
import android.widget.ImageView;
import android.widget.Spinner;
import android.widget.TextView;
import com.edgeexport.core.Benchmark;
import com.edgeexport.core.BenchmarkSession;
import com.edgeexport.core.Clock;
import com.edgeexport.core.Engine;
import com.edgeexport.core.LatencyStats;
import com.edgeexport.core.Manifest;
import com.edgeexport.core.Preprocessor;
import com.edgeexport.core.Quantization;
import com.edgeexport.core.RgbImage;
import com.edgeexport.core.TensorData;
import com.edgeexport.core.TopK;
import java.io.File;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * Pick a model, pick an image (bundled, gallery, camera), classify: top-5 with probabilities and the
 * latency of load, preprocessing and inference. "Benchmark" runs 3 warm-up + 20 timed runs in place.
 * The engine stays loaded between classifications of the same model.
 */
public class MainActivity extends Activity {
  private static final int PICK_IMAGE = 1;
  private static final int TAKE_PHOTO = 2;
  private static final int THREADS = 4;

  private final ExecutorService worker = Executors.newSingleThreadExecutor();
  private Spinner models;
  private ImageView imageView;
  private TextView output;
  private RgbImage image;
  private String imageName;
  // touched on the worker thread only
  private Engine engine;
  private String engineModel;
  private Manifest engineManifest;
  private double engineLoadMs;

  @Override
  protected void onCreate(Bundle savedInstanceState) {
    super.onCreate(savedInstanceState);
    setContentView(R.layout.activity_main);
    models = (Spinner) findViewById(R.id.models);
    imageView = (ImageView) findViewById(R.id.image);
    output = (TextView) findViewById(R.id.output);
    ((Button) findViewById(R.id.bundled)).setOnClickListener(new View.OnClickListener() {
      @Override
      public void onClick(View v) {
        loadBundled();
      }
    });
    ((Button) findViewById(R.id.gallery)).setOnClickListener(new View.OnClickListener() {
      @Override
      public void onClick(View v) {
        Intent i = new Intent(Intent.ACTION_GET_CONTENT).setType("image/*").addCategory(Intent.CATEGORY_OPENABLE);
        startActivityForResult(Intent.createChooser(i, getString(R.string.gallery_image)), PICK_IMAGE);
      }
    });
    ((Button) findViewById(R.id.camera)).setOnClickListener(new View.OnClickListener() {
      @Override
      public void onClick(View v) {
        try {
          // without EXTRA_OUTPUT the camera app returns a small preview bitmap: enough to classify
          startActivityForResult(new Intent(MediaStore.ACTION_IMAGE_CAPTURE), TAKE_PHOTO);
        } catch (ActivityNotFoundException e) {
          output.setText("no camera app on this device");
        }
      }
    });
    ((Button) findViewById(R.id.classify)).setOnClickListener(new View.OnClickListener() {
      @Override
      public void onClick(View v) {
        classify(0, 1);
      }
    });
    ((Button) findViewById(R.id.benchmark)).setOnClickListener(new View.OnClickListener() {
      @Override
      public void onClick(View v) {
        classify(3, 20);
      }
    });
    refreshModels();
    loadBundled();
  }

  @Override
  protected void onResume() {
    super.onResume();
    refreshModels();
  }

  @Override
  protected void onDestroy() {
    worker.execute(new Runnable() {
      @Override
      public void run() {
        closeEngine();
      }
    });
    worker.shutdown();
    super.onDestroy();
  }

  private void refreshModels() {
    List<String> names = ModelStore.list(this);
    Object selected = models.getSelectedItem();
    ArrayAdapter<String> a = new ArrayAdapter<String>(this, android.R.layout.simple_spinner_item, names);
    a.setDropDownViewResource(android.R.layout.simple_spinner_dropdown_item);
    models.setAdapter(a);
    if (selected != null && names.contains(selected)) models.setSelection(names.indexOf(selected));
    if (names.isEmpty()) output.setText(getString(R.string.no_models));
  }

  private void setImage(RgbImage img, String name) {
    image = img;
    imageName = name;
    imageView.setImageBitmap(Images.toBitmap(img));
    output.setText(name + ": " + img.width + "x" + img.height);
  }

  private void loadBundled() {
    try {
      setImage(Images.bundled(this), Images.bundledName(this));
    } catch (Exception e) {
      output.setText("bundled image: " + e);
    }
  }

  @Override
  protected void onActivityResult(int requestCode, int resultCode, Intent data) {
    super.onActivityResult(requestCode, resultCode, data);
    if (resultCode != RESULT_OK || data == null) return;
    try {
      if (requestCode == PICK_IMAGE && data.getData() != null) {
        Bitmap b = Images.decodeUri(this, data.getData());
        setImage(Images.fromBitmap(b), "gallery image");
      } else if (requestCode == TAKE_PHOTO && data.getExtras() != null) {
        Bitmap b = (Bitmap) data.getExtras().get("data");
        if (b != null) setImage(Images.fromBitmap(b), "camera preview");
      }
    } catch (Exception e) {
      output.setText("cannot read the image: " + e);
    }
  }

  private void classify(final int warmup, final int runs) {
    final Object model = models.getSelectedItem();
    final RgbImage img = image;
    final String imgName = imageName;
    if (model == null) {
      output.setText(getString(R.string.no_models));
      return;
    }
    if (img == null) {
      output.setText("pick an image first");
      return;
    }
    output.setText("running " + model + " ...");
    worker.execute(new Runnable() {
      @Override
      public void run() {
        String text;
        try {
          text = classifyOnWorker(model.toString(), img, imgName, warmup, runs);
        } catch (Throwable e) {
          closeEngine();
          text = "failed: " + e;
        }
        final String shown = text;
        runOnUiThread(new Runnable() {
          @Override
          public void run() {
            output.setText(shown);
          }
        });
      }
    });
  }

  private String classifyOnWorker(String model, RgbImage img, String imgName, int warmup, int runs) throws Exception {
    if (engine == null || !model.equals(engineModel)) {
      closeEngine();
      File dir = ModelStore.resolve(this, model);
      engineManifest = BenchmarkSession.loadManifest(dir, true);
      final Engine e = Engines.forManifest(engineManifest);
      final File program = new File(dir, engineManifest.programFile);
      engineLoadMs = Benchmark.time(Clock.SYSTEM, new Benchmark.Step() {
        @Override
        public void run() throws Exception {
          e.load(program, THREADS);
        }
      });
      engine = e;
      engineModel = model;
    }
    long t0 = System.nanoTime();
    TensorData input = Preprocessor.prepare(img, engineManifest);
    double prepMs = Benchmark.ms(System.nanoTime() - t0);
    engine.setInput(input);
    final Engine e = engine;
    Benchmark.Result r = Benchmark.run(Clock.SYSTEM, warmup, runs, new Benchmark.Step() {
      @Override
      public void run() throws Exception {
        e.run();
      }
    });
    float[] logits = Quantization.toFloat(engine.output(), engineManifest.output());
    StringBuilder b = new StringBuilder();
    b.append(engineManifest.modelId).append(" · ").append(engineManifest.runtime).append(' ')
        .append(engine.runtimeVersion()).append(" · ").append(engineManifest.target).append('\n');
    b.append(imgName).append(" · input ").append(input.dtype).append(' ')
        .append(input.layout == null ? "NCHW" : input.layout).append("\n\n");
    for (TopK.Prediction p : TopK.top(logits, 5, engineManifest)) b.append(p).append('\n');
    LatencyStats s = r.stats();
    b.append(String.format(Locale.ROOT, "\nload %.1f ms · preprocess %.1f ms · first run %.1f ms\n", engineLoadMs, prepMs, r.firstRunMs));
    if (runs > 1) {
      b.append(String.format(Locale.ROOT, "%d runs: median %.2f ms, p10 %.2f, p90 %.2f, min %.2f (%d threads)",
          s.n, s.median, s.p10, s.p90, s.min, THREADS));
    } else {
      b.append(String.format(Locale.ROOT, "inference %.2f ms (%d threads)", s.median, THREADS));
    }
    return b.toString();
  }

  private void closeEngine() {
    if (engine != null) {
      try {
        engine.close();
      } catch (Exception ignored) {
        // closing is best effort
      }
    }
    engine = null;
    engineModel = null;
    engineManifest = null;
  }
}
