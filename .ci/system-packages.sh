#!/usr/bin/env bash
# Debian packages the test suite needs. Installs only what is missing; needs root (as on CI).
set -euo pipefail
need=()
command -v chromium >/dev/null || need+=(chromium fonts-liberation fonts-dejavu-core)
command -v javac >/dev/null || need+=(openjdk-17-jdk-headless)
ls /usr/share/java/junit-platform-console-standalone*.jar >/dev/null 2>&1 || need+=(junit5)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then echo "missing Debian packages: ${need[*]} (install them as root)"; exit 1; fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
