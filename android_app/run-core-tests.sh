#!/usr/bin/env bash
# Build the app's pure-Java core WITHOUT android.jar and run its JUnit 5 tests with the console
# launcher from Debian's junit5 package. Installs nothing: needs `javac`/`java` (JDK 11+) and
# /usr/share/java/junit-platform-console-standalone.jar (apt package junit5).
#
#   android_app/run-core-tests.sh            # build + test, exit status = test result
#   BUILD_DIR=/tmp/x android_app/run-core-tests.sh
#   JUNIT_CONSOLE=/path/to/junit-platform-console-standalone.jar android_app/run-core-tests.sh
#
# Exit 0 only if every test passed and at least one ran. Prints a closing line
# "android-core: N passed, M failed".
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
core="$here/core"
junit="${JUNIT_CONSOLE:-/usr/share/java/junit-platform-console-standalone.jar}"
build="${BUILD_DIR:-$here/build/core-tests}"

for tool in javac java; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "run-core-tests: '$tool' not found: install a JDK (apt-get install -y default-jdk-headless)" >&2
    exit 2
  fi
done
if [ ! -f "$junit" ]; then
  echo "run-core-tests: $junit not found: install JUnit 5 (apt-get install -y junit5) or set JUNIT_CONSOLE" >&2
  exit 2
fi

rm -rf "$build"
mkdir -p "$build/main" "$build/test"

# --release 8: the core must stay Java 8 bytecode (Android's dx/D8 paths) and may only use the
# JDK's own API; no android.jar is on any classpath here, so an android.* import fails the build.
find "$core/src/main/java" -name '*.java' > "$build/main-sources.txt"
javac --release 8 -encoding UTF-8 -Xlint:all,-serial,-options -Werror \
  -d "$build/main" @"$build/main-sources.txt"

find "$core/src/test/java" -name '*.java' > "$build/test-sources.txt"
javac --release 8 -encoding UTF-8 -Xlint:all,-serial,-options \
  -cp "$build/main:$junit" -d "$build/test" @"$build/test-sources.txt"

set +e
java -jar "$junit" --disable-banner --disable-ansi-colors --details=tree --fail-if-no-tests \
  --class-path "$build/main:$build/test" --select-package com.edgeexport.core \
  --reports-dir "$build/reports" 2>&1 | tee "$build/junit.log"
status=${PIPESTATUS[0]}
set -e

passed=$(sed -n 's/.*\[ *\([0-9][0-9]*\) tests successful *\].*/\1/p' "$build/junit.log" | tail -1)
failed=$(sed -n 's/.*\[ *\([0-9][0-9]*\) tests failed *\].*/\1/p' "$build/junit.log" | tail -1)
echo "android-core: ${passed:-0} passed, ${failed:-0} failed"
if [ "$status" -eq 0 ] && [ "${passed:-0}" -eq 0 ]; then
  echo "run-core-tests: no test ran" >&2
  exit 1
fi
exit "$status"
