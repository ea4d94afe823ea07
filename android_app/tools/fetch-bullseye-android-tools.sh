#!/usr/bin/env bash
# Download (not install) Debian bullseye's libandroid-23-java (API-23 android.jar) and dalvik-exchange
# (dx) with a private apt state dir, so the system's sources stay untouched, and unpack them under
# CACHE_DIR (default android_app/build/bullseye-tools). Prints the two variables build-debug-apk.sh needs.
#
#   eval "$(android_app/tools/fetch-bullseye-android-tools.sh)"
#   android_app/tools/build-debug-apk.sh
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${CACHE_DIR:-$here/build/bullseye-tools}"
root="$cache/root"
android_jar="$root/usr/lib/android-sdk/platforms/android-23/android.jar"
dx_jar="$root/usr/lib/android-sdk/build-tools/debian/lib/dx.jar"
if [ ! -f "$android_jar" ] || [ ! -f "$dx_jar" ]; then
  mkdir -p "$cache/lists/partial" "$cache/archives/partial" "$cache/debs" "$root"
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bullseye main" > "$cache/sources.list"
  opts=(-o Dir::Etc::SourceList="$cache/sources.list" -o Dir::Etc::SourceParts=/dev/null
        -o Dir::State::Lists="$cache/lists" -o Dir::Cache="$cache" -o Dir::State::status=/dev/null
        -o APT::Get::List-Cleanup=0 -o APT::Sandbox::User=root)
  apt-get "${opts[@]}" update -qq >&2
  (cd "$cache/debs" && apt-get "${opts[@]}" download libandroid-23-java dalvik-exchange >&2)
  for d in "$cache"/debs/*.deb; do dpkg-deb -x "$d" "$root"; done
fi
echo "export ANDROID_JAR='$android_jar'"
echo "export DX_JAR='$dx_jar'"
