"""Whether the emulated SME level computes int8 outer products right: one SMOPA instruction, checked at setup.

QEMU before 9.0 (Debian bookworm's 7.2 included; fixed in 9.0 and backported to 8.2.3, declined for 7.2) computes
SME's 4-way int8 -> int32 outer product `SMOPA za<t>.s` wrong: QEMU issue #2083. Only even rows of the tile are
written and their odd columns hold the next row's result, 48 of 64 outputs of an 8x8 tile (SVL 256 bit). Every int8
GEMM XNNPACK sends to an SME kernel (KleidiAI's *_sme_mopa: static int8 FC and conv, dynamic int8 FC with M > 1)
runs SMOPA, so on such a QEMU the `max` level computes garbage for int8 while its fp32 (FMOPA) is right.

The check is evidence, not a version string: `smopa_check(env)` runs the instruction in the guest on `-cpu max`
with seeded int8 vectors (the guest runs raw machine code through ctypes, nothing imported) and compares each
za0.s-za3.s tile with the exact product computed on the host. `edge-export arm setup` stores the verdict in its
stamp and cpus.get_cpu(name, env) marks `max` reliable only when it passed.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from edge_export.errors import EdgeExportError

ISSUE = "QEMU issue #2083"
FIXED_IN = "9.0 (8.2.3)"
CPU = "max"  # the --cpu level whose kernels use SMOPA
SEED = 0

# smopa_test(int32 *za_out, const int8 *a, const int8 *b, long tile) -> SVL bytes, assembled with
# `llvm-mc -triple=aarch64 -mattr=+sme` from:
#   stp d8..d15 (callee-saved; SMSTART zeroes them); smstart; ptrue p0.b; ld1b {z0.b}, p0/z, [x1];
#   ld1b {z1.b}, p0/z, [x2]; zero {za}; smopa za<tile>.s, p0/m, p0/m, z0.b, z1.b (tile 0-3, a branch per tile);
#   rdvl x4, #1; for w12 in 0..SVL-1: str za[w12, 0], [x0], x0 += SVL; smstop; x0 = SVL; restore d8..d15; ret
SMOPA_CODE = (
    "e827bc6dea2f016dec37026dee3f036d7f4703d5e0e3182520a000a441a000a4ff0008c07f0400f1e00000547f0800f1e00000547f0c00"
    "f1e0000054000081a006000014010081a004000014020081a002000014030081a00c0080522450bf04000020e10000048b8c0500119f01"
    "04eb8bffff547f4603d5e00304aaee3f436dec37426dea2f416de827c46cc0035fd6")
MAX_SVL = 256  # bytes (SVL 2048 bit, the architectural maximum): the vectors' length and the ZA dump's row count


def vectors(seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return (rng.integers(-128, 128, MAX_SVL).astype(np.int8), rng.integers(-128, 128, MAX_SVL).astype(np.int8))


def expected(a: np.ndarray, b: np.ndarray, svl: int) -> np.ndarray:
    """SMOPA za.s, p0/m, p0/m, z0.b, z1.b on a zeroed tile with all lanes active: C[i, j] = sum_k a[4i+k] b[4j+k]."""
    n = svl // 4
    return a[:svl].astype(np.int32).reshape(n, 4) @ b[:svl].astype(np.int32).reshape(n, 4).T


def verdict(guest_result: dict, a: np.ndarray, b: np.ndarray) -> dict:
    """The guest's tiles ({"svl_bytes", "tiles": [[row, ...] per tile]}) against the exact product."""
    svl = int(guest_result["svl_bytes"])
    want = expected(a, b, svl)
    tiles = {}
    for t, got in enumerate(guest_result["tiles"]):
        got = np.asarray(got, np.int64)
        wrong = int(want.size) if got.shape != want.shape else int((got != want).sum())
        tiles[f"za{t}.s"] = {"wrong": wrong, "of": int(want.size)}
    wrong, of = sum(v["wrong"] for v in tiles.values()), sum(v["of"] for v in tiles.values())
    return {"passed": wrong == 0 and of > 0, "wrong": wrong, "of": of, "svl_bits": svl * 8, "tiles": tiles}


def smopa_check(env) -> dict:
    """Run SMOPA on each za.s tile in the guest on -cpu max under env's QEMU. Returns the record the stamp keeps:
    {"cpu", "qemu", "passed", "wrong", "of", "svl_bits", "tiles", "seconds"} or, when the guest could not run it,
    {"cpu", "qemu", "passed": False, "error"}."""
    from edge_export.arm.cpus import get_cpu
    from edge_export.arm.run import guest

    a, b = vectors()
    base = {"cpu": CPU, "qemu": env.versions.get("qemu", "")}
    t = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="edge-export-arm-") as job_dir:
        spec = {"mode": "smopa", "code": SMOPA_CODE, "a": a.tolist(), "b": b.tolist(), "features": ["fp", "asimd"]}
        try:
            result, _ = guest(env, Path(job_dir), spec, get_cpu(CPU), 120)
        except EdgeExportError as e:  # e.g. SIGILL: the model has no SME
            return {**base, "passed": False, "error": str(e)}
    return {**base, **verdict(result, a, b), "seconds": round(time.perf_counter() - t, 1)}


def describe(check: dict | None) -> str:
    """One phrase for a stamp's check record."""
    if not check:
        return "SMOPA not checked"
    if "error" in check:
        return f"SMOPA check did not run under QEMU {check.get('qemu')}: {check['error']}"
    return (f"SMOPA (SME int8 -> int32 outer product) {check['wrong']} of {check['of']} outputs wrong under QEMU "
            f"{check.get('qemu')} -cpu {check.get('cpu', CPU)} (SVL {check.get('svl_bits')} bit)")
