package com.edgeexport.bench;

import android.os.Build;
import java.util.LinkedHashMap;
import java.util.Map;

/** provenance.device of the profiles this phone writes. */
final class DeviceInfo {
  private DeviceInfo() {}

  static Map<String, String> collect() {
    Map<String, String> m = new LinkedHashMap<String, String>();
    m.put("manufacturer", Build.MANUFACTURER);
    m.put("model", Build.MODEL);
    m.put("device", Build.DEVICE);
    m.put("hardware", Build.HARDWARE);
    String soc = buildField("SOC_MODEL"); // API 31+; read reflectively so older SDK stubs compile
    if (soc != null) m.put("soc", (buildField("SOC_MANUFACTURER") + " " + soc).trim());
    m.put("android_version", Build.VERSION.RELEASE);
    m.put("sdk_int", Integer.toString(Build.VERSION.SDK_INT));
    m.put("abi", Build.SUPPORTED_ABIS.length > 0 ? Build.SUPPORTED_ABIS[0] : "unknown");
    m.put("cpu_count", Integer.toString(Runtime.getRuntime().availableProcessors()));
    return m;
  }

  private static String buildField(String name) {
    try {
      Object v = Build.class.getField(name).get(null);
      return v == null || "unknown".equals(v) ? null : v.toString();
    } catch (ReflectiveOperationException e) {
      return null;
    }
  }
}
