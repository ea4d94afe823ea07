"""The `--cpu` choices: QEMU 7.2 CPU models grouped into the ISA feature levels XNNPACK picks micro-kernels by.

QEMU 7.2 (Debian bookworm) has cortex-a76 and neoverse-n1 (ARMv8.2-A + dotprod + fp16) but no ARMv9 core model;
its `max` has every feature QEMU implements (ARMv9-A: i8mm, bf16, SVE2, and SME). The v9 levels are `max` with
features switched off. What a model really exposes is read in the guest (getauxval AT_HWCAP/AT_HWCAP2) at setup
and recorded: the table below is what we ask for, the recorded hwcaps are what the kernels saw.
"""

from __future__ import annotations

from dataclasses import dataclass

from edge_export.errors import EdgeExportError


@dataclass(frozen=True)
class CpuModel:
    name: str  # the --cpu value
    qemu_cpu: str  # QEMU's -cpu argument
    level: str  # the feature level, as recorded in results
    midr: tuple[int, int, int, int]  # (implementer, variant, part, revision) for the guest's /proc/cpuinfo
    reliable: bool = True
    note: str = ""


LEVEL_V82 = "armv8.2-dotprod-fp16"
LEVEL_V9_NEON = "armv9-i8mm-bf16 (no SVE)"
LEVEL_V9_SVE2 = "armv9-i8mm-bf16-sve2"
LEVEL_V9_SME = "armv9-sme"

LEVEL_NOTES = {
    LEVEL_V82: "ARMv8.2-A + dotprod + fp16: Cortex-A76/A77/A78/X1 class (Snapdragon 855-888, Tensor G1/G2)",
    LEVEL_V9_NEON: "ARMv9-A NEON with i8mm/bf16, SVE off: what Snapdragon 8 Gen 1-3 expose (their kernels hide SVE)",
    LEVEL_V9_SVE2: "ARMv9-A with i8mm/bf16 and 128-bit SVE2 (Cortex-X2+/A710+ with SVE enabled)",
    LEVEL_V9_SME: "ARMv9.2-A with SME (Cortex-X925/C1 class): XNNPACK's SME kernels",
}

# SVE length 128 bits in the v9 levels: every Arm phone core so far implements 128-bit SVE, QEMU's default is 512.
_V9 = "max,sve-default-vector-length=16"
CPUS: dict[str, CpuModel] = {c.name: c for c in (
    CpuModel("cortex-a76", "cortex-a76", LEVEL_V82, (0x41, 4, 0xD0B, 1)),
    CpuModel("neoverse-n1", "neoverse-n1", LEVEL_V82, (0x41, 4, 0xD0C, 1)),
    CpuModel("max-nosve", "max,sve=off,sme=off", LEVEL_V9_NEON, (0x00, 0, 0x051, 0)),
    CpuModel("max-nosme", f"{_V9},sme=off", LEVEL_V9_SVE2, (0x00, 0, 0x051, 0)),
    CpuModel("max", "max", LEVEL_V9_SME, (0x00, 0, 0x051, 0), reliable=False,
             note="unreliable: XNNPACK's SME int8 path disagrees with x86 and every other level under QEMU 7.2 "
                  "(SwiftFormer-XS int8 cosine 0.07-0.44, argmax differs; builtin kernels agree): QEMU or kernel, "
                  "undecided"),
)}
DEFAULT_CPU = "cortex-a76"


def get_cpu(name: str) -> CpuModel:
    try:
        return CPUS[name]
    except KeyError:
        raise EdgeExportError(f"unknown --cpu {name!r}: choose one of {', '.join(CPUS)}") from None


QEMU_DEVICE = "qemu-arm64"  # `profile --device qemu-arm64[:CPU]`


def parse_device(device: str) -> CpuModel | None:
    """The CPU model `--device qemu-arm64[:CPU]` names (DEFAULT_CPU without one); None for any other device."""
    name, sep, cpu = device.partition(":")
    if name != QEMU_DEVICE:
        return None
    if sep and cpu not in CPUS:
        raise EdgeExportError(f"unknown CPU {cpu!r} in --device {device}: use {QEMU_DEVICE}:CPU with CPU one of "
                              f"{', '.join(CPUS)}")
    return CPUS[cpu] if sep else CPUS[DEFAULT_CPU]


# Linux arm64 hwcap bits (arch/arm64/include/uapi/asm/hwcap.h): the ones XNNPACK/cpuinfo dispatch on, by the
# names /proc/cpuinfo's Features line uses.
HWCAP = {"fp": 0, "asimd": 1, "evtstrm": 2, "aes": 3, "pmull": 4, "sha1": 5, "sha2": 6, "crc32": 7, "atomics": 8,
         "fphp": 9, "asimdhp": 10, "cpuid": 11, "asimdrdm": 12, "jscvt": 13, "fcma": 14, "lrcpc": 15, "dcpop": 16,
         "sha3": 17, "asimddp": 20, "sha512": 21, "sve": 22, "asimdfhm": 23, "uscat": 25, "ilrcpc": 26, "flagm": 27}
HWCAP2 = {"sve2": 1, "frint": 8, "svei8mm": 9, "svebf16": 12, "i8mm": 13, "bf16": 14, "sme": 23, "sme_i8i32": 26,
          "sme_f16f32": 27, "sme_f32f32": 29}


def decode_hwcaps(hwcap: int, hwcap2: int) -> list[str]:
    return ([n for n, b in HWCAP.items() if hwcap >> b & 1] + [n for n, b in HWCAP2.items() if hwcap2 >> b & 1])


def cpuinfo_text(cpu: CpuModel, features: list[str], n_cpus: int) -> str:
    """An arm64 /proc/cpuinfo for the guest: the CPU model's MIDR fields and the hwcaps QEMU reports, one block per
    host CPU (cpuinfo counts processors from /sys, which stays the host's). XNNPACK's cpuinfo crashes on the x86
    file (and QEMU 7.2 does not emulate this one for aarch64 guests)."""
    impl, variant, part, rev = cpu.midr
    block = (f"BogoMIPS\t: 50.00\nFeatures\t: {' '.join(features)}\nCPU implementer\t: 0x{impl:02x}\n"
             f"CPU architecture: 8\nCPU variant\t: 0x{variant:x}\nCPU part\t: 0x{part:03x}\nCPU revision\t: {rev}\n")
    return "".join(f"processor\t: {i}\n{block}\n" for i in range(n_cpus))
