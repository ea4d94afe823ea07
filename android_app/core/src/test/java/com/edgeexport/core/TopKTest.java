package com.edgeexport.core;

import static org.junit.jupiter.api.Assertions.*;

import java.util.List;
import org.junit.jupiter.api.Test;

class TopKTest {
  @Test
  void largestFirstTiesByIndex() {
    float[] v = {0.1f, 5f, 3f, 5f, -1f, 4f};
    assertArrayEquals(new int[] {1, 3, 5}, TopK.indices(v, 3));
    assertArrayEquals(new int[] {1, 3, 5, 2, 0, 4}, TopK.indices(v, 10));
    assertArrayEquals(new int[0], TopK.indices(v, 0));
  }

  @Test
  void nanRanksLast() {
    float[] v = {Float.NaN, 1f, 2f};
    assertArrayEquals(new int[] {2, 1, 0}, TopK.indices(v, 3));
  }

  @Test
  void matchesASortOnRandomData() {
    java.util.Random r = new java.util.Random(7);
    for (int trial = 0; trial < 50; trial++) {
      float[] v = new float[1 + r.nextInt(2000)];
      for (int i = 0; i < v.length; i++) v[i] = r.nextInt(50) / 7f;
      Integer[] order = new Integer[v.length];
      for (int i = 0; i < v.length; i++) order[i] = i;
      final float[] fv = v;
      java.util.Arrays.sort(order, (a, b) -> fv[a] != fv[b] ? Float.compare(fv[b], fv[a]) : Integer.compare(a, b));
      int k = Math.min(5, v.length);
      int[] want = new int[k];
      for (int i = 0; i < k; i++) want[i] = order[i];
      assertArrayEquals(want, TopK.indices(v, 5));
    }
  }

  @Test
  void softmaxAndLabels() throws Exception {
    double[] p = TopK.softmax(new float[] {1000f, 1000f, -1000f});
    assertEquals(0.5, p[0], 1e-12);
    assertEquals(0.0, p[2], 1e-12);
    Manifest m = Manifest.parse(Json.write(TestArtifacts.floatManifest(8, 4)));
    List<TopK.Prediction> top = TopK.top(new float[] {0f, 2f, 1f, -1f}, 2, m);
    assertEquals(1, top.get(0).index);
    assertEquals("label_1", top.get(0).label);
    assertEquals("label_2", top.get(1).label);
    assertTrue(top.get(0).probability > top.get(1).probability);
    assertTrue(top.get(0).toString().startsWith("label_1 (#1)"));
  }
}
