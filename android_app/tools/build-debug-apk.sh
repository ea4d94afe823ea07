#!/usr/bin/env bash
# Structure check without Gradle or the Android SDK: build a signed debug APK of the app's Java code
# (app + core) WITHOUT the runtimes, from Debian's tools, and verify it.
#
#   ANDROID_JAR=/path/android-23.jar DX_JAR=/path/dx.jar android_app/tools/build-debug-apk.sh [OUT_DIR]
#
# Needs: javac/java/keytool (JDK), aapt2 + aapt (apt: aapt), zipalign, apksigner, dexdump (apt), and
# an API-23 android.jar + dx from Debian bullseye's libandroid-23-java and dalvik-exchange (not in
# bookworm; tools/fetch-bullseye-android-tools.sh downloads them into a cache dir). Installs nothing.
#
# What passing shows: the app's Java code compiles against android.jar (API 23 stubs) plus the runtime
# API stand-ins in tools/apk-check/stubs, the resources and manifest link, the classes dex, the APK is
# aligned and signed (v1/v2/v3) and aapt sees both activities. What it does NOT show: that the app builds
# against the real executorch-android / litert AARs (they are not packaged; the APK fails at the first
# model load), or that anything works on a phone.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-$here/build/debug-apk}"
android_jar="${ANDROID_JAR:-}"
dx_jar="${DX_JAR:-}"

die() { echo "build-debug-apk: $*" >&2; exit 2; }
[ -n "$android_jar" ] && [ -f "$android_jar" ] || die "set ANDROID_JAR to an android.jar (API 23: libandroid-23-java)"
[ -n "$dx_jar" ] && [ -f "$dx_jar" ] || die "set DX_JAR to dx.jar (dalvik-exchange)"
for t in javac java keytool aapt2 aapt zipalign apksigner dexdump; do
  command -v "$t" >/dev/null 2>&1 || die "'$t' not found (apt-get install -y aapt zipalign apksigner dexdump default-jdk-headless)"
done

app="$here/app/src/main"
rm -rf "$out"
mkdir -p "$out"/{res,gen,classes,stubs,core,dex}

props="$here/gradle.properties"
et_version=$(sed -n 's/^executorchVersion=//p' "$props")
lt_version=$(sed -n 's/^litertVersion=//p' "$props")

# 1. resources + manifest. aapt2 10 predates <queries> (API 30): drop it from a copy of the manifest.
sed '/<queries>/,/<\/queries>/d' "$app/AndroidManifest.xml" \
  | sed 's|<manifest xmlns:android="http://schemas.android.com/apk/res/android">|<manifest xmlns:android="http://schemas.android.com/apk/res/android" package="com.edgeexport.bench">|' \
  > "$out/AndroidManifest.xml"
aapt2 compile --dir "$app/res" -o "$out/res/compiled.zip"
aapt2 link -I "$android_jar" --manifest "$out/AndroidManifest.xml" \
  --min-sdk-version 26 --target-sdk-version 35 --version-code 1 --version-name 0.1.0-structure-check \
  --java "$out/gen" -o "$out/base.apk" "$out/res/compiled.zip"
[ -d "$app/assets" ] && (cd "$app" && zip -qr "$out/base.apk" assets) || true

# 2. BuildConfig as Gradle would generate it
mkdir -p "$out/gen/com/edgeexport/bench"
cat > "$out/gen/com/edgeexport/bench/BuildConfig.java" <<EOF
package com.edgeexport.bench;

public final class BuildConfig {
  public static final boolean DEBUG = true;
  public static final String APPLICATION_ID = "com.edgeexport.bench";
  public static final String BUILD_TYPE = "debug";
  public static final String EXECUTORCH_VERSION = "$et_version";
  public static final String LITERT_VERSION = "$lt_version";
}
EOF

# 3. compile: core (JDK only), runtime stand-ins, then the app against android.jar
j8="-source 8 -target 8 -encoding UTF-8 -Xlint:-options"
javac $j8 -d "$out/core" $(find "$here/core/src/main/java" -name '*.java')
javac $j8 -bootclasspath "$android_jar" -d "$out/stubs" $(find "$here/tools/apk-check/stubs" -name '*.java')
javac $j8 -Xlint:deprecation -bootclasspath "$android_jar" -cp "$out/core:$out/stubs" -d "$out/classes" \
  $(find "$app/java" "$out/gen" -name '*.java')

# 4. dex app + core (not the stubs), package, align, sign
java -jar "$dx_jar" --dex --min-sdk-version=26 --output="$out/dex/classes.dex" "$out/classes" "$out/core"
cp "$out/base.apk" "$out/unaligned.apk"
(cd "$out/dex" && zip -q "$out/unaligned.apk" classes.dex)
zipalign -p -f 4 "$out/unaligned.apk" "$out/aligned.apk"
keystore="$out/debug.keystore"
keytool -genkeypair -keystore "$keystore" -storepass android -keypass android -alias debug \
  -keyalg RSA -keysize 2048 -validity 3650 -dname "CN=edge-export debug" >/dev/null 2>&1
apksigner sign --ks "$keystore" --ks-pass pass:android --key-pass pass:android \
  --out "$out/edge-export-bench-structure-check.apk" "$out/aligned.apk"
apk="$out/edge-export-bench-structure-check.apk"

# 5. verify
apksigner verify --verbose "$apk" | tee "$out/apksigner.txt"
zipalign -c -p 4 "$apk"
aapt dump badging "$apk" > "$out/badging.txt"
grep -q "package: name='com.edgeexport.bench'" "$out/badging.txt"
grep -q "launchable-activity: name='com.edgeexport.bench.MainActivity'" "$out/badging.txt"
aapt dump xmltree "$apk" AndroidManifest.xml > "$out/manifest-tree.txt"
grep -q "android:name(0x01010003)=\".BenchmarkActivity\"" "$out/manifest-tree.txt"
dexdump "$out/dex/classes.dex" | sed -n "s/^  Class descriptor  : 'L\(.*\);'/\1/p" | sort > "$out/dex-classes.txt"
for c in com/edgeexport/bench/BenchmarkActivity com/edgeexport/bench/MainActivity com/edgeexport/core/BenchmarkSession \
  com/edgeexport/core/Preprocessor com/edgeexport/core/Json; do
  grep -qx "$c" "$out/dex-classes.txt" || { echo "build-debug-apk: $c missing from classes.dex" >&2; exit 1; }
done
if grep -q "^org/pytorch\|^com/google/ai/edge" "$out/dex-classes.txt"; then
  echo "build-debug-apk: runtime stand-ins leaked into the dex" >&2
  exit 1
fi
echo "build-debug-apk: OK $apk ($(wc -l < "$out/dex-classes.txt") classes; runtimes NOT included)"
