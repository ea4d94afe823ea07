"""Where a measurement ran: the host's CPU, and peak memory of this process."""

from __future__ import annotations

import os
import platform
import resource


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def host_device() -> dict[str, str]:
    flags = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    have = set(line.split(":", 1)[1].split())
                    flags = " ".join(f for f in ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni") if f in have)
                    break
    except OSError:
        pass
    return {
        "cpu_model": cpu_model(),
        "logical_cpus": str(os.cpu_count()),
        "machine": platform.machine(),
        "os": f"{platform.system()} {platform.release()}",
        "cpu_flags": flags,
    }


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
