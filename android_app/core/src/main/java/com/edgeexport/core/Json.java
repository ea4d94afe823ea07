package com.edgeexport.core;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A small, strict JSON reader and writer (RFC 8259) with no dependencies, so the core builds with
 * javac alone and behaves the same on a phone and on the host.
 *
 * <p>Reading gives {@code Map<String,Object>} (insertion-ordered), {@code List<Object>}, {@code
 * String}, {@code Long} (integers that fit), {@code Double} (everything else), {@code Boolean} and
 * {@code null}. Writing accepts the same types plus any {@link Number}; non-finite numbers are
 * refused because JSON has no spelling for them.
 */
public final class Json {
  private Json() {}

  /** Thrown for malformed JSON, with the character offset of the problem. */
  public static final class ParseException extends IllegalArgumentException {
    public final int offset;

    ParseException(String message, int offset) {
      super(message + " at offset " + offset);
      this.offset = offset;
    }
  }

  // ---------------------------------------------------------------- reading

  public static Object parse(String text) {
    Reader r = new Reader(text);
    r.skipWs();
    Object v = r.value(0);
    r.skipWs();
    if (r.pos != text.length()) {
      throw new ParseException("trailing characters after the JSON value", r.pos);
    }
    return v;
  }

  private static final int MAX_DEPTH = 200;

  private static final class Reader {
    final String s;
    int pos;

    Reader(String s) {
      this.s = s;
    }

    void skipWs() {
      while (pos < s.length()) {
        char c = s.charAt(pos);
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
          pos++;
        } else {
          break;
        }
      }
    }

    ParseException err(String msg) {
      return new ParseException(msg, pos);
    }

    Object value(int depth) {
      if (depth > MAX_DEPTH) throw err("nesting deeper than " + MAX_DEPTH);
      if (pos >= s.length()) throw err("unexpected end of input");
      char c = s.charAt(pos);
      switch (c) {
        case '{':
          return object(depth);
        case '[':
          return array(depth);
        case '"':
          return string();
        case 't':
          literal("true");
          return Boolean.TRUE;
        case 'f':
          literal("false");
          return Boolean.FALSE;
        case 'n':
          literal("null");
          return null;
        default:
          if (c == '-' || (c >= '0' && c <= '9')) return number();
          throw err("unexpected character '" + c + "'");
      }
    }

    void literal(String word) {
      if (!s.startsWith(word, pos)) throw err("invalid literal");
      pos += word.length();
    }

    Map<String, Object> object(int depth) {
      Map<String, Object> m = new LinkedHashMap<String, Object>();
      pos++; // {
      skipWs();
      if (pos < s.length() && s.charAt(pos) == '}') {
        pos++;
        return m;
      }
      while (true) {
        skipWs();
        if (pos >= s.length() || s.charAt(pos) != '"') throw err("expected a string key");
        String key = string();
        skipWs();
        if (pos >= s.length() || s.charAt(pos) != ':') throw err("expected ':'");
        pos++;
        skipWs();
        if (m.containsKey(key)) throw err("duplicate key \"" + key + "\"");
        m.put(key, value(depth + 1));
        skipWs();
        if (pos >= s.length()) throw err("unterminated object");
        char c = s.charAt(pos++);
        if (c == '}') return m;
        if (c != ',') {
          pos--;
          throw err("expected ',' or '}'");
        }
      }
    }

    List<Object> array(int depth) {
      List<Object> a = new ArrayList<Object>();
      pos++; // [
      skipWs();
      if (pos < s.length() && s.charAt(pos) == ']') {
        pos++;
        return a;
      }
      while (true) {
        skipWs();
        a.add(value(depth + 1));
        skipWs();
        if (pos >= s.length()) throw err("unterminated array");
        char c = s.charAt(pos++);
        if (c == ']') return a;
        if (c != ',') {
          pos--;
          throw err("expected ',' or ']'");
        }
      }
    }

    String string() {
      pos++; // opening quote
      StringBuilder b = new StringBuilder();
      while (true) {
        if (pos >= s.length()) throw err("unterminated string");
        char c = s.charAt(pos++);
        if (c == '"') return b.toString();
        if (c == '\\') {
          if (pos >= s.length()) throw err("unterminated escape");
          char e = s.charAt(pos++);
          switch (e) {
            case '"':
              b.append('"');
              break;
            case '\\':
              b.append('\\');
              break;
            case '/':
              b.append('/');
              break;
            case 'b':
              b.append('\b');
              break;
            case 'f':
              b.append('\f');
              break;
            case 'n':
              b.append('\n');
              break;
            case 'r':
              b.append('\r');
              break;
            case 't':
              b.append('\t');
              break;
            case 'u':
              if (pos + 4 > s.length()) throw err("short \\u escape");
              int cp = 0;
              for (int i = 0; i < 4; i++) {
                int d = Character.digit(s.charAt(pos + i), 16);
                if (d < 0) throw err("bad \\u escape");
                cp = cp * 16 + d;
              }
              pos += 4;
              b.append((char) cp);
              break;
            default:
              pos--;
              throw err("bad escape '\\" + e + "'");
          }
        } else if (c < 0x20) {
          pos--;
          throw err("control character in string");
        } else {
          b.append(c);
        }
      }
    }

    Object number() {
      int start = pos;
      if (s.charAt(pos) == '-') pos++;
      if (pos >= s.length()) throw err("bad number");
      if (s.charAt(pos) == '0') {
        pos++;
      } else if (s.charAt(pos) >= '1' && s.charAt(pos) <= '9') {
        while (pos < s.length() && Character.isDigit(s.charAt(pos))) pos++;
      } else {
        throw err("bad number");
      }
      boolean integral = true;
      if (pos < s.length() && s.charAt(pos) == '.') {
        integral = false;
        pos++;
        int d = pos;
        while (pos < s.length() && s.charAt(pos) >= '0' && s.charAt(pos) <= '9') pos++;
        if (pos == d) throw err("digits expected after '.'");
      }
      if (pos < s.length() && (s.charAt(pos) == 'e' || s.charAt(pos) == 'E')) {
        integral = false;
        pos++;
        if (pos < s.length() && (s.charAt(pos) == '+' || s.charAt(pos) == '-')) pos++;
        int d = pos;
        while (pos < s.length() && s.charAt(pos) >= '0' && s.charAt(pos) <= '9') pos++;
        if (pos == d) throw err("digits expected in exponent");
      }
      String t = s.substring(start, pos);
      if (integral) {
        try {
          return Long.valueOf(Long.parseLong(t));
        } catch (NumberFormatException tooBig) {
          return Double.valueOf(Double.parseDouble(t));
        }
      }
      return Double.valueOf(Double.parseDouble(t));
    }
  }

  // ---------------------------------------------------------------- writing

  /** Compact JSON. */
  public static String write(Object value) {
    StringBuilder b = new StringBuilder();
    write(b, value, -1, 0);
    return b.toString();
  }

  /** JSON indented by {@code indent} spaces per level, ending without a newline. */
  public static String writePretty(Object value, int indent) {
    StringBuilder b = new StringBuilder();
    write(b, value, indent, 0);
    return b.toString();
  }

  private static void newline(StringBuilder b, int indent, int level) {
    if (indent < 0) return;
    b.append('\n');
    for (int i = 0; i < indent * level; i++) b.append(' ');
  }

  @SuppressWarnings("unchecked")
  private static void write(StringBuilder b, Object v, int indent, int level) {
    if (v == null) {
      b.append("null");
    } else if (v instanceof String) {
      quote(b, (String) v);
    } else if (v instanceof Boolean) {
      b.append(((Boolean) v).booleanValue() ? "true" : "false");
    } else if (v instanceof Double || v instanceof Float) {
      double d = ((Number) v).doubleValue();
      b.append(formatDouble(d));
    } else if (v instanceof Number) {
      b.append(((Number) v).longValue());
    } else if (v instanceof Map) {
      Map<Object, Object> m = (Map<Object, Object>) v;
      if (m.isEmpty()) {
        b.append("{}");
        return;
      }
      b.append('{');
      Iterator<Map.Entry<Object, Object>> it = m.entrySet().iterator();
      while (it.hasNext()) {
        Map.Entry<Object, Object> e = it.next();
        if (!(e.getKey() instanceof String)) {
          throw new IllegalArgumentException("JSON object keys must be strings, got " + e.getKey());
        }
        newline(b, indent, level + 1);
        quote(b, (String) e.getKey());
        b.append(indent < 0 ? ":" : ": ");
        write(b, e.getValue(), indent, level + 1);
        if (it.hasNext()) b.append(',');
      }
      newline(b, indent, level);
      b.append('}');
    } else if (v instanceof List) {
      List<Object> a = (List<Object>) v;
      if (a.isEmpty()) {
        b.append("[]");
        return;
      }
      b.append('[');
      for (int i = 0; i < a.size(); i++) {
        newline(b, indent, level + 1);
        write(b, a.get(i), indent, level + 1);
        if (i + 1 < a.size()) b.append(',');
      }
      newline(b, indent, level);
      b.append(']');
    } else if (v instanceof double[]) {
      List<Object> a = new ArrayList<Object>();
      for (double d : (double[]) v) a.add(Double.valueOf(d));
      write(b, a, indent, level);
    } else {
      throw new IllegalArgumentException("cannot write " + v.getClass().getName() + " as JSON");
    }
  }

  /** Shortest text that parses back to the same double (Java's algorithm), always with a '.' or exponent. */
  public static String formatDouble(double d) {
    if (Double.isNaN(d) || Double.isInfinite(d)) {
      throw new IllegalArgumentException("JSON cannot represent " + d);
    }
    return Double.toString(d);
  }

  public static void quote(StringBuilder b, String s) {
    b.append('"');
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      switch (c) {
        case '"':
          b.append("\\\"");
          break;
        case '\\':
          b.append("\\\\");
          break;
        case '\n':
          b.append("\\n");
          break;
        case '\r':
          b.append("\\r");
          break;
        case '\t':
          b.append("\\t");
          break;
        case '\b':
          b.append("\\b");
          break;
        case '\f':
          b.append("\\f");
          break;
        default:
          if (c < 0x20 || c == 0x2028 || c == 0x2029) {
            b.append(String.format("\\u%04x", (int) c));
          } else {
            b.append(c);
          }
      }
    }
    b.append('"');
  }

  public static String quote(String s) {
    StringBuilder b = new StringBuilder();
    quote(b, s);
    return b.toString();
  }
}
