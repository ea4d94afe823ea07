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
                    flags = " ".join(f for f in ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "amx_tile") if f in have)
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
    """This process's peak RSS. VmHWM belongs to the address space exec created; ru_maxrss would carry
    over the parent's high-water mark across fork+exec (a child of a process that holds PyTorch)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except (OSError, ValueError, IndexError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
