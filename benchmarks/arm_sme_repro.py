"""QEMU's SME int8 outer product (SMOPA) per QEMU binary: the `max` level's evidence, in seconds.

    python benchmarks/arm_sme_repro.py                          # the provisioned QEMU (edge-export arm setup)
    python benchmarks/arm_sme_repro.py --qemu /path/to/qemu-aarch64 [--qemu ...]   # other QEMU binaries too
    python benchmarks/arm_sme_repro.py --shape 64 64 64         # a bigger FULLY_CONNECTED

QEMU before 9.0 (Debian bookworm's 7.2.22 included) computes `SMOPA za<t>.s` (4-way int8 -> int32 outer product)
wrong: QEMU issue #2083, fixed by "target/arm: Fix 32-bit SMOPA" in 9.0 and 8.2.3, not backported to 7.2. Every
int8 GEMM XNNPACK sends to an SME kernel (KleidiAI's *_sme_mopa) then gives wrong results on `-cpu max`, while
the same file is right on the levels without SME and with the builtin kernels. Two checks per QEMU:

1. SMOPA: the single instruction on seeded int8 vectors in the guest, against the exact product (edge_export.arm's
   smopa_check, the one `edge-export arm setup` runs and stores; with_qemu re-runs it for another binary).
2. The smallest op: one int8 FULLY_CONNECTED, 4x4x4 (nn.Linear(4, 4) -> litert_torch -> ai-edge-quantizer
   static_wi8_ai8 calibrated on 8 random batches, as tflite-int8 is made) on LiteRT's aarch64 build: -cpu max
   (XNNPACK: SME), max-nosme (XNNPACK: SVE2/NEON) and max with the builtin kernels, cosine vs x86 XNNPACK.

Measured (Debian bookworm host, LiteRT 2.3.0, 1 thread):
  QEMU 7.2.22 (bookworm):   SMOPA 192/256 wrong; max 0.332 (max abs 227, argmax differs), max-nosme and builtin
                            bit-exact
  QEMU 10.0.13 (trixie, the provisioned one): SMOPA 0/256 wrong; all three bit-exact
Exit status 0 when every QEMU's SMOPA is exact and its -cpu max output equals x86's, 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np

RUNS = (("max", "xnnpack"), ("max-nosme", "xnnpack"), ("max", "builtin"))


def fc_int8(M: int, K: int, N: int, workdir: Path, n_calib: int = 8) -> Path:
    """One int8 FULLY_CONNECTED (M x K @ K x N): fp32 conversion with litert_torch, static int8 (static_wi8_ai8,
    min/max calibrated on random batches) with ai-edge-quantizer, as edge_export's tflite-int8 path does."""
    import litert_torch
    import torch
    from ai_edge_litert.interpreter import Interpreter
    from ai_edge_quantizer import quantizer, recipe

    os.environ["LITERT_TORCH_SHOW_PROGRESS"] = "n"
    torch.manual_seed(0)
    module, sample = torch.nn.Linear(K, N).eval(), torch.randn(M, K)
    fp32 = bytes(litert_torch.convert(module, (sample,)).model_content())
    sig = Interpreter(model_content=fp32).get_signature_list()
    key = next(iter(sig))
    arg = sig[key]["inputs"][0]
    g = torch.Generator().manual_seed(1)
    calib = [{arg: torch.randn(sample.shape, generator=g).numpy()} for _ in range(n_calib)]
    q = quantizer.Quantizer(fp32)
    q.load_quantization_recipe(recipe.static_wi8_ai8())
    result = q.calibrate({key: calib}, num_threads=1)
    path = workdir / f"fc_{M}x{K}x{N}.int8.tflite"
    path.write_bytes(bytes(q.quantize(result, enable_progress_bar=False, enable_progress_report=False).quantized_model))
    return path


def check(env, model: Path) -> tuple[list[dict], bool]:
    """The SMOPA verdict and the op on each of RUNS under env's QEMU, vs the host (x86) run of the same input."""
    from edge_export.arm import get_cpu, run_tflite
    from edge_export.arm.smoke import parity, random_inputs, run_host

    x = random_inputs(model)
    host = run_host(model, x)[0]
    rows, ok = [], bool(env.sme_check.get("passed"))
    for cpu, kernels in RUNS:
        run = run_tflite(env, model, x, cpu=cpu, kernels=kernels)
        p = parity(run.outputs[0], host)
        exact = bool(np.array_equal(run.outputs[0], host))
        if cpu == "max" and kernels == "xnnpack":
            ok &= exact
        rows.append({"cpu": cpu, "kernels": f"{kernels} ({run.delegate_partitions} partitions)", "level":
                     run.level, "reliable": get_cpu(cpu, env).reliable, "cosine": p["cosine"], "exact": exact,
                     "max_abs": p["max_abs"], "argmax": p["argmax_match"]})
    return rows, ok


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--qemu", action="append", default=[], metavar="BIN",
                    help="another qemu-aarch64 binary (repeatable); the provisioned one always runs first")
    ap.add_argument("--shape", nargs=3, type=int, default=[4, 4, 4], metavar=("M", "K", "N"))
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore", message="os.fork")  # JAX (imported by litert_torch) warns at each guest start

    from edge_export.arm import setup, with_qemu
    from edge_export.arm.sme import describe
    from edge_export.errors import EdgeExportError

    try:
        base = setup()
        envs = [base] + [with_qemu(base, q) for q in args.qemu]
    except EdgeExportError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    all_ok, notes = True, []
    with tempfile.TemporaryDirectory(prefix="edge-export-sme-") as d:
        model = fc_int8(*args.shape, Path(d))
        print(f"one int8 FULLY_CONNECTED {'x'.join(map(str, args.shape))} ({model.name}), LiteRT aarch64 vs x86 "
              f"XNNPACK, 1 thread\n")
        print("| QEMU | SMOPA check | -cpu | kernels | level | reliable | cosine vs x86 | |")
        print("|---|---|---|---|---|---|---|---|")
        for env in envs:
            rows, ok = check(env, model)
            all_ok &= ok
            sme = env.sme_check
            verdict = (f"{sme['wrong']}/{sme['of']} wrong" if "wrong" in sme else "did not run") if sme else "-"
            for i, r in enumerate(rows):
                qemu = f"{env.versions['qemu']} ({env.qemu})" if i == 0 else ""
                same = "bit-exact" if r["exact"] else (f"max abs {r['max_abs']:g}, argmax "
                                                       f"{'same' if r['argmax'] else 'DIFFERS'}")
                print(f"| {qemu} | {verdict if i == 0 else ''} | {r['cpu']} | {r['kernels']} | {r['level']} | "
                      f"{'yes' if r['reliable'] else 'no'} | {r['cosine']:.6f} | {same} |")
            if not ok:
                notes.append(f"QEMU {env.versions['qemu']}: {describe(sme)}: QEMU issue #2083, fixed in 9.0 / 8.2.3")
    for n in notes:
        print(f"\n{n}")
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
