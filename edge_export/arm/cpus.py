"""The `--cpu` choices: QEMU CPU models grouped into the ISA feature levels XNNPACK picks micro-kernels by.

QEMU (Debian trixie's 10.0.x, provision.py) has cortex-a76 and neoverse-n1 (ARMv8.2-A + dotprod + fp16) as the
v8.2 levels; its `max` has every feature QEMU implements (ARMv9-A: i8mm, bf16, SVE2, and SME; SME2 too from QEMU
11). The v9 levels are `max` with features switched off. What a model really exposes is read in the guest
(getauxval AT_HWCAP/AT_HWCAP2) at setup and recorded: the table below is what we ask for, the recorded hwcaps are
what the kernels saw.

`max` (the SME level) is reliable only on evidence: setup runs one SMOPA instruction under the provisioned QEMU
(sme.py; QEMU < 9.0 computes it wrong, QEMU issue #2083) and get_cpu(name, env) reads the verdict from env.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

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
LEVEL_V9_SME2 = "armv9-sme2"  # `max` when the QEMU exposes SME2 (QEMU 11): XNNPACK's *_neonsme2 kernels

LEVEL_NOTES = {
    LEVEL_V82: "ARMv8.2-A + dotprod + fp16: Cortex-A76/A77/A78/X1 class (Snapdragon 855-888, Tensor G1/G2)",
    LEVEL_V9_NEON: "ARMv9-A NEON with i8mm/bf16, SVE off: what Snapdragon 8 Gen 1-3 expose (their kernels hide SVE)",
    LEVEL_V9_SVE2: "ARMv9-A with i8mm/bf16 and 128-bit SVE2 (Cortex-X2+/A710+ with SVE enabled)",
    LEVEL_V9_SME: "ARMv9.2-A with SME (SME1: Cortex-X925 class): XNNPACK's SME kernels",
    LEVEL_V9_SME2: "ARMv9.2-A with SME2 (Arm C1 class): XNNPACK's SME2 kernels",
}

# SVE length 128 bits in the v9 levels: every Arm phone core so far implements 128-bit SVE, QEMU's default is 512.
_V9 = "max,sve-default-vector-length=16"
CPUS: dict[str, CpuModel] = {c.name: c for c in (
    CpuModel("cortex-a76", "cortex-a76", LEVEL_V82, (0x41, 4, 0xD0B, 1)),
    CpuModel("neoverse-n1", "neoverse-n1", LEVEL_V82, (0x41, 4, 0xD0C, 1)),
    CpuModel("max-nosve", "max,sve=off,sme=off", LEVEL_V9_NEON, (0x00, 0, 0x051, 0)),
    CpuModel("max-nosme", f"{_V9},sme=off", LEVEL_V9_SVE2, (0x00, 0, 0x051, 0)),
    # reliable only on the evidence of setup's SMOPA check (get_cpu(name, env)); without an env, not known
    CpuModel("max", "max", LEVEL_V9_SME, (0x00, 0, 0x051, 0), reliable=False,
             note="unreliable until `edge-export arm setup` checks SMOPA under its QEMU (QEMU < 9.0 computes SME "
                  "int8 outer products wrong: QEMU issue #2083)"),
)}
DEFAULT_CPU = "cortex-a76"
SME_CPUS = ("max",)  # the levels whose int8 kernels use SMOPA: reliable only when setup's check passed


def get_cpu(name: str, env=None) -> CpuModel:
    """The CPU model for --cpu `name`. With `env` (a provisioned ArmEnv), as that runtime really has it: the SME
    level's reliability from setup's SMOPA check under env's QEMU, and its level from the hwcaps recorded (SME2)."""
    try:
        cpu = CPUS[name]
    except KeyError:
        raise EdgeExportError(f"unknown --cpu {name!r}: choose one of {', '.join(CPUS)}") from None
    return cpu if env is None else resolve(cpu, env)


def resolve(cpu: CpuModel, env) -> CpuModel:
    if cpu.name not in SME_CPUS:
        return cpu
    from edge_export.arm.sme import FIXED_IN, ISSUE, describe

    features = set((getattr(env, "cpus", {}) or {}).get(cpu.name, {}).get("features", []))
    level = LEVEL_V9_SME2 if "sme2" in features else cpu.level
    check = getattr(env, "sme_check", None) or {}
    qemu = (getattr(env, "versions", {}) or {}).get("qemu", "?")
    if check.get("passed") and check.get("qemu") == qemu:
        note = f"SME int8 checked at setup: {describe(check)}"
        return replace(cpu, level=level, reliable=True, note=note)
    if check and check.get("qemu") == qemu and "error" not in check:  # the check ran and failed
        why = (f"{describe(check)} ({ISSUE}, fixed in QEMU {FIXED_IN}): XNNPACK's SME int8 kernels (KleidiAI, "
               f"SMOPA) compute wrong results here")
    else:
        why = (describe(check) if check and check.get("qemu") == qemu else
               f"SMOPA not checked under this QEMU ({qemu})") + f" (QEMU < 9.0 computes it wrong: {ISSUE})"
    note = (f"unreliable: {why}; fp32 (FMOPA) and builtin kernels are not affected; `edge-export arm setup "
            f"--force` provisions a QEMU that passes (Debian trixie's 10.0)")
    return replace(cpu, level=level, reliable=False, note=note)


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
HWCAP2 = {"sve2": 1, "frint": 8, "svei8mm": 9, "svebf16": 12, "i8mm": 13, "bf16": 14, "sme": 23, "sme_i16i64": 24,
          "sme_f64f64": 25, "sme_i8i32": 26, "sme_f16f32": 27, "sme_b16f32": 28, "sme_f32f32": 29, "sme_fa64": 30,
          "sve2p1": 36, "sme2": 37, "sme2p1": 38}


def decode_hwcaps(hwcap: int, hwcap2: int) -> list[str]:
    return ([n for n, b in HWCAP.items() if hwcap >> b & 1] + [n for n, b in HWCAP2.items() if hwcap2 >> b & 1])


def cpuinfo_text(cpu: CpuModel, features: list[str], n_cpus: int) -> str:
    """An arm64 /proc/cpuinfo for the guest: the CPU model's MIDR fields and the hwcaps QEMU reports, one block per
    host CPU (cpuinfo counts processors from /sys, which stays the host's). XNNPACK's cpuinfo crashes on the x86
    file. QEMU 10 emulates an aarch64 one (QEMU 7.2 did not), but its MIDR is QEMU's: this one keeps the CPU id
    per model as above, whatever the QEMU version."""
    impl, variant, part, rev = cpu.midr
    block = (f"BogoMIPS\t: 50.00\nFeatures\t: {' '.join(features)}\nCPU implementer\t: 0x{impl:02x}\n"
             f"CPU architecture: 8\nCPU variant\t: 0x{variant:x}\nCPU part\t: 0x{part:03x}\nCPU revision\t: {rev}\n")
    return "".join(f"processor\t: {i}\n{block}\n" for i in range(n_cpus))
