package com.edgeexport.core;

import static org.junit.jupiter.api.Assertions.*;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class JsonTest {
  @Test
  void parsesAllValueKinds() {
    Object v = Json.parse(" {\"a\": [1, -2.5, 3e2, true, false, null], \"b\": \"x\\n\\u00e9\\\"\", \"c\": {}} ");
    @SuppressWarnings("unchecked")
    Map<String, Object> m = (Map<String, Object>) v;
    List<?> a = (List<?>) m.get("a");
    assertEquals(Long.valueOf(1), a.get(0));
    assertEquals(Double.valueOf(-2.5), a.get(1));
    assertEquals(Double.valueOf(300.0), a.get(2));
    assertEquals(Boolean.TRUE, a.get(3));
    assertEquals(Boolean.FALSE, a.get(4));
    assertNull(a.get(5));
    assertEquals("x\n\u00e9\"", m.get("b"));
    assertTrue(((Map<?, ?>) m.get("c")).isEmpty());
  }

  @Test
  void keepsKeyOrder() {
    @SuppressWarnings("unchecked")
    Map<String, Object> m = (Map<String, Object>) Json.parse("{\"z\":1,\"a\":2,\"m\":3}");
    assertEquals(Arrays.asList("z", "a", "m"), Arrays.asList(m.keySet().toArray()));
  }

  @Test
  void hugeIntegersBecomeDoubles() {
    assertEquals(Double.valueOf(1e20), Json.parse("100000000000000000000"));
    assertEquals(Long.valueOf(Long.MAX_VALUE), Json.parse("9223372036854775807"));
  }

  @Test
  void rejectsMalformedInput() {
    String[] bad = {"", "{", "[1,]", "{\"a\":1,}", "01", "1.", "-", "1e", "tru", "\"abc", "{\"a\" 1}", "[1] x",
      "{\"a\":1,\"a\":2}", "\"\\x\"", "\"tab\there\"", "NaN", "{a:1}"};
    for (String s : bad) {
      assertThrows(Json.ParseException.class, () -> Json.parse(s), "accepted: " + s);
    }
  }

  @Test
  void writesRoundTripAndEscapes() {
    Map<String, Object> m = new LinkedHashMap<String, Object>();
    m.put("s", "q\"b\\n\n\t\u0001\u2028");
    m.put("i", Long.valueOf(-7));
    m.put("d", Double.valueOf(0.1));
    m.put("tiny", Double.valueOf(1.5e-7));
    m.put("l", Arrays.asList(Boolean.TRUE, null, Integer.valueOf(3)));
    m.put("arr", new double[] {1.0, 2.5});
    String compact = Json.write(m);
    assertFalse(compact.contains("\n"));
    assertTrue(compact.contains("\\u0001") && compact.contains("\\u2028"));
    @SuppressWarnings("unchecked")
    Map<String, Object> back = (Map<String, Object>) Json.parse(compact);
    assertEquals(m.get("s"), back.get("s"));
    assertEquals(Double.valueOf(0.1), back.get("d"));
    assertEquals(Double.valueOf(1.5e-7), back.get("tiny"));
    assertEquals(Arrays.asList(Boolean.TRUE, null, Long.valueOf(3)), back.get("l"));
    assertEquals(Arrays.asList(1.0, 2.5), back.get("arr"));
    assertEquals(back, Json.parse(Json.writePretty(m, 2)));
  }

  @Test
  void refusesNonFiniteNumbersAndOddTypes() {
    assertThrows(IllegalArgumentException.class, () -> Json.write(Double.valueOf(Double.NaN)));
    assertThrows(IllegalArgumentException.class, () -> Json.write(Double.valueOf(Double.POSITIVE_INFINITY)));
    assertThrows(IllegalArgumentException.class, () -> Json.write(new Object()));
  }

  @Test
  void refusesAbsurdNesting() {
    StringBuilder b = new StringBuilder();
    for (int i = 0; i < 500; i++) b.append('[');
    assertThrows(Json.ParseException.class, () -> Json.parse(b.toString()));
  }
}
