package com.edgeexport.core;

import static org.junit.jupiter.api.Assertions.*;

import java.util.Arrays;
import org.junit.jupiter.api.Test;

class PreprocessorTest {
  private static Manifest floatManifest(int size, String layout) throws Exception {
    long[] shape = "NHWC".equals(layout) ? new long[] {1, size, size, 3} : new long[] {1, 3, size, size};
    return Manifest.parse(Json.write(TestArtifacts.manifest("executorch", size,
        TestArtifacts.tensor("input", shape, "float32", layout, null, null),
        TestArtifacts.tensor("logits", new long[] {1, 10}, "float32", "NC", null, null), TestArtifacts.program())));
  }

  @Test
  void shortSideResizeLikePython() {
    // from edge_export.images._resize_short: 300x451 at 249 -> 249x374; square stays square
    assertArrayEquals(new int[] {249, 374}, Preprocessor.resizedSize(300, 451, 249));
    assertArrayEquals(new int[] {256, 256}, Preprocessor.resizedSize(512, 512, 256));
    assertArrayEquals(new int[] {374, 249}, Preprocessor.resizedSize(451, 300, 249));
  }

  @Test
  void uniformImageNormalisesExactly() throws Exception {
    Manifest m = floatManifest(16, "NCHW");
    byte[] rgb = new byte[40 * 30 * 3];
    for (int i = 0; i < rgb.length; i += 3) {
      rgb[i] = (byte) 200;
      rgb[i + 1] = (byte) 100;
      rgb[i + 2] = (byte) 50;
    }
    TensorData t = Preprocessor.prepare(new RgbImage(40, 30, rgb), m);
    assertArrayEquals(new long[] {1, 3, 16, 16}, t.shape);
    float[] want = {(200 / 255f - 0.485f) / 0.229f, (100 / 255f - 0.456f) / 0.224f, (50 / 255f - 0.406f) / 0.225f};
    for (int c = 0; c < 3; c++) {
      for (int i = 0; i < 256; i++) assertEquals(want[c], t.floats[c * 256 + i], 2e-6f);
    }
  }

  @Test
  void nhwcIsTheTransposeOfNchw() throws Exception {
    RgbImage img = TestArtifacts.gradient(50, 40);
    TensorData nchw = Preprocessor.prepare(img, floatManifest(24, "NCHW"));
    TensorData nhwc = Preprocessor.prepare(img, floatManifest(24, "NHWC"));
    assertArrayEquals(new long[] {1, 24, 24, 3}, nhwc.shape);
    for (int c = 0; c < 3; c++) {
      for (int y = 0; y < 24; y++) {
        for (int x = 0; x < 24; x++) assertEquals(nchw.floats[(c * 24 + y) * 24 + x], nhwc.floats[(y * 24 + x) * 3 + c]);
      }
    }
  }

  @Test
  void centreCropTakesTheMiddle() throws Exception {
    // nearest, crop_pct 1: a 4-wide stripe image resized to its own height keeps the centre columns
    Manifest base = floatManifest(4, "NCHW");
    Manifest.Preprocessing p = new Manifest.Preprocessing(4, 1.0, "nearest", new double[] {0, 0, 0}, new double[] {1, 1, 1});
    byte[] rgb = new byte[8 * 4 * 3];
    for (int y = 0; y < 4; y++) for (int x = 0; x < 8; x++) rgb[(y * 8 + x) * 3] = (byte) (x * 30);
    float[] out = Preprocessor.normalizedNchw(new RgbImage(8, 4, rgb), p);
    assertEquals(2 * 30 / 255f, out[0], 1e-7f); // columns 2..5 of 8
    assertEquals(5 * 30 / 255f, out[3], 1e-7f);
    assertNotNull(base);
  }

  @Test
  void int8InputIsQuantizedAfterLayoutChange() throws Exception {
    Manifest q = Manifest.parse(Json.write(TestArtifacts.manifest("litert", 20,
        TestArtifacts.tensor("x", new long[] {1, 20, 20, 3}, "int8", "NHWC", 0.02, -3L),
        TestArtifacts.tensor("y", new long[] {1, 10}, "int8", "NC", 0.1, 0L), TestArtifacts.program())));
    RgbImage img = TestArtifacts.gradient(33, 27);
    TensorData t = Preprocessor.prepare(img, q);
    assertEquals("int8", t.dtype);
    assertEquals(20 * 20 * 3, t.bytes.length);
    float[] f = Preprocessor.nchwToNhwc(Preprocessor.normalizedNchw(img, q.preprocessing), 3, 20, 20);
    byte[] want = Quantization.quantize(f, q.input().quantization, "int8");
    assertArrayEquals(want, t.bytes);
  }

  @Test
  void inputSpecMismatchesAreExplained() throws Exception {
    Manifest wrongSize = Manifest.parse(Json.write(TestArtifacts.manifest("executorch", 224,
        TestArtifacts.tensor("input", new long[] {1, 3, 256, 256}, "float32", "NCHW", null, null),
        TestArtifacts.tensor("logits", new long[] {1, 10}, "float32", "NC", null, null), TestArtifacts.program())));
    String msg = assertThrows(ArtifactException.class, () -> Preprocessor.checkInputSpec(wrongSize)).getMessage();
    assertTrue(msg.contains("[1, 3, 256, 256]") && msg.contains("[1, 3, 224, 224]"), msg);

    Manifest int32 = Manifest.parse(Json.write(TestArtifacts.manifest("executorch", 8,
        TestArtifacts.tensor("input", new long[] {1, 3, 8, 8}, "int32", "NCHW", null, null),
        TestArtifacts.tensor("logits", new long[] {1, 10}, "float32", "NC", null, null), TestArtifacts.program())));
    assertTrue(assertThrows(ArtifactException.class, () -> Preprocessor.checkInputSpec(int32)).getMessage().contains("int32"));

    Manifest noLayout = Manifest.parse(Json.write(TestArtifacts.manifest("executorch", 8,
        TestArtifacts.tensor("input", new long[] {1, 3, 8, 8}, "float32", null, null, null),
        TestArtifacts.tensor("logits", new long[] {1, 10}, "float32", "NC", null, null), TestArtifacts.program())));
    Preprocessor.checkInputSpec(noLayout); // no layout means NCHW, as in runners.base.to_program_input
    assertEquals(Arrays.toString(new long[] {1, 3, 8, 8}), Arrays.toString(Preprocessor.prepare(TestArtifacts.gradient(9, 9), noLayout).shape));
  }
}
