"""Why ExecuTorch's XNNPACK convolutions are slower than LiteRT's on this CPU: a kernel check.

    python benchmarks/igemm_kernel.py [--out artifacts/bench] [--threads 1] [--rounds 8] [--no-perf]

The per-op profiles of SwiftFormer-XS (benchmarks/gap_analysis.py) show every k x k convolution
("Convolution (NHWC, F32) IGEMM") 2-2.5x slower in ExecuTorch than in LiteRT, while the 1x1 convolutions
and linears ("Fully Connected (NC, F32) GEMM") run at about the same speed - same XNNPACK operators, same
shapes. This script isolates it from SwiftFormer and from our export code:

1. two plain PyTorch models, 8 stacked 3x3 convolutions (IGEMM) and 8 stacked 1x1 convolutions (GEMM),
   48 channels at 56x56, are exported with the stock APIs (ExecuTorch XnnpackPartitioner, litert-torch);
2. both runtimes run them in turn (interleaved rounds, one computing at a time): ratio ExecuTorch / LiteRT;
3. with `perf` (Linux), the hottest loop of each runtime's 3x3 run is disassembled and checked for
   accumulators kept on the stack (FMA with a (%rsp) operand, a store to the stack in the same loop).

Measured here (AMD EPYC, AVX2/FMA3, 1 thread): 3x3 stack ExecuTorch/LiteRT 2.6-2.9x, 1x1 stack 1.2x; the
hot loop of ExecuTorch 1.5.1's wheel is XNNPACK's 5x16 FMA3 IGEMM micro-kernel compiled with one of its 10
accumulators spilled to the stack (`vfmadd213ps 0x28(%rsp)` + `vmovaps %ymm1,0x28(%rsp)` every iteration),
LiteRT 2.3's build of the same kernel (xnn_f32_igemm_minmax_ukernel_5x16__fma3_broadcast_prfm) keeps them
in registers. It is the prebuilt runtime, not the exported program: not ours to fix in the export. On
Arm devices (the deployment target) other micro-kernels run.
Writes <out>/igemm.json and igemm.md.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CHANNELS, SIZE, DEPTH = 48, 56, 8


def build(kernel: int, work: Path) -> tuple[Path, Path]:
    import litert_torch
    import torch
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower
    from torch import nn

    torch.manual_seed(0)
    m = nn.Sequential(*[nn.Conv2d(CHANNELS, CHANNELS, kernel, 1, kernel // 2) for _ in range(DEPTH)]).eval()
    x = torch.randn(1, CHANNELS, SIZE, SIZE)
    pte = work / f"conv{kernel}x{kernel}.pte"
    prog = to_edge_transform_and_lower(torch.export.export(m, (x,)), partitioner=[XnnpackPartitioner()]).to_executorch()
    pte.write_bytes(prog.buffer)

    class NHWC(nn.Module):  # what litert-torch ships for images: channels-last I/O
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, y):
            return self.inner(y.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)

    tfl = work / f"conv{kernel}x{kernel}.tflite"
    litert_torch.convert(NHWC(m).eval(), (x.permute(0, 2, 3, 1).contiguous(),)).export(str(tfl))
    return pte, tfl


RUNNER = r'''
import sys, time, numpy as np
pte, tfl, threads, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
which = sys.argv[5] if len(sys.argv) > 5 else "both"
import torch
from executorch.extension.pybindings.portable_lib import _unsafe_reset_threadpool
from executorch.runtime import Runtime
_unsafe_reset_threadpool(threads)
meth = Runtime.get().load_program(pte).load_method("forward")
x = torch.randn(1, %d, %d, %d)
from ai_edge_litert.interpreter import Interpreter
it = Interpreter(tfl, num_threads=threads); it.allocate_tensors()
idx = it.get_input_details()[0]["index"]; xn = x.permute(0, 2, 3, 1).contiguous().numpy()
def et(): meth.execute([x])
def tf(): it.set_tensor(idx, xn); it.invoke()
if which != "both":  # for perf: one runtime only, for `seconds`
    f = et if which == "et" else tf
    t = time.time()
    while time.time() - t < seconds: f()
    sys.exit(0)
rounds, per = int(seconds), 10
res = {"executorch": [], "litert": []}
for f in (et, tf):
    for _ in range(3): f()
for _ in range(rounds):
    for name, f in (("executorch", et), ("litert", tf)):
        for _ in range(per):
            t = time.perf_counter(); f(); res[name].append((time.perf_counter() - t) * 1e3)
import json; print(json.dumps(res))
''' % (CHANNELS, SIZE, SIZE)


def time_both(py: str, pte: Path, tfl: Path, threads: int, rounds: int, runner: Path) -> dict:
    out = subprocess.run([py, str(runner), str(pte), str(tfl), str(threads), str(rounds)], capture_output=True,
                         text=True, check=True).stdout.strip().splitlines()[-1]
    res = json.loads(out)
    stats = {k: {"median_ms": float(np.median(v)), "min_ms": float(np.min(v)), "n": len(v)} for k, v in res.items()}
    stats["ratio_median"] = stats["executorch"]["median_ms"] / stats["litert"]["median_ms"]
    stats["ratio_min"] = stats["executorch"]["min_ms"] / stats["litert"]["min_ms"]
    return stats


def _hot_loop(perf_data: Path, dso_part: str) -> dict | None:
    """The hottest sampled address in a DSO, and the disassembly of the loop around it."""
    rep = subprocess.run(["perf", "report", "-i", str(perf_data), "--sort", "dso,sym", "--stdio"],
                         capture_output=True, text=True).stdout
    for line in rep.splitlines():
        m = re.match(r"\s*([\d.]+)%\s+(\S+)\s+\[\.\]\s+(\S+)", line)
        if m and dso_part in m.group(2):
            pct, dso, sym = float(m.group(1)), m.group(2), m.group(3)
            break
    else:
        return None
    lib = next((p for p in _dso_paths(perf_data) if p.endswith(dso)), None)
    if lib is None:
        return None
    if sym.startswith("0x"):
        addr = int(sym, 16)
        dis = subprocess.run(["objdump", "-d", f"--start-address={addr - 0xa0:#x}", f"--stop-address={addr + 0x60:#x}", lib],
                             capture_output=True, text=True).stdout
        name = f"{dso}+{sym} (stripped)"
    else:
        dis = subprocess.run(["objdump", "-d", f"--disassemble={sym}", lib], capture_output=True, text=True).stdout
        name = sym
    fma = [ln.strip() for ln in dis.splitlines() if "vfmadd" in ln]
    spilled = [ln for ln in fma if "(%rsp)" in ln]
    stores = [ln.strip() for ln in dis.splitlines() if re.search(r"vmovaps\s+%ymm\d+,0x[0-9a-f]+\(%rsp\)", ln)]
    return {"dso": dso, "symbol": name, "samples_pct": pct, "fma_instructions": len(fma),
            "fma_with_stack_operand": [" ".join(s.split("\t")[-1:]) for s in spilled],
            "ymm_stores_to_stack": [" ".join(s.split("\t")[-1:]) for s in stores]}


def _dso_paths(perf_data: Path) -> list[str]:
    out = subprocess.run(["perf", "report", "-i", str(perf_data), "--sort", "dso", "--stdio", "-v"],
                         capture_output=True, text=True).stdout
    return re.findall(r"(/\S+\.so[\.\d]*)", out)


def perf_check(py: str, pte: Path, tfl: Path, runner: Path, work: Path) -> dict:
    if shutil.which("perf") is None or shutil.which("objdump") is None:
        return {"skipped": "perf or objdump not installed"}
    out = {}
    for which, dso in (("et", "libexecutorch_backend_xnnpack"), ("tf", "libpywrap_litert_common")):
        data = work / f"perf-{which}.data"
        r = subprocess.run(["perf", "record", "-q", "-o", str(data), py, str(runner), str(pte), str(tfl), "1", "4", which],
                           capture_output=True, text=True)
        if r.returncode != 0:
            return {"skipped": f"perf record failed: {r.stderr.strip()[-200:]}"}
        out["executorch" if which == "et" else "litert"] = _hot_loop(data, dso)
    return out


def markdown(result: dict) -> str:
    lines = ["# Kernel check: ExecuTorch vs LiteRT on the same XNNPACK operators", "",
             f"{DEPTH} stacked convolutions, {CHANNELS} channels at {SIZE}x{SIZE}, batch 1, {result['threads']} thread(s); "
             f"{result['rounds']} interleaved rounds x 10 runs; stock export APIs, no edge-export code.", "",
             "| model | XNNPACK operator | ExecuTorch median ms | LiteRT median ms | ratio (median) | ratio (min) |",
             "|---|---|---|---|---|---|"]
    for k, op in (("3x3", "Convolution (NHWC, F32) IGEMM"), ("1x1", "Fully Connected (NC, F32) GEMM")):
        s = result["timing"][k]
        lines.append(f"| {k} x{DEPTH} | {op} | {s['executorch']['median_ms']:.2f} | {s['litert']['median_ms']:.2f} | "
                     f"{s['ratio_median']:.2f} | {s['ratio_min']:.2f} |")
    lines.append("")
    p = result.get("perf", {})
    if "skipped" in p:
        lines.append(f"perf check skipped: {p['skipped']}")
    for rt in ("executorch", "litert"):
        h = p.get(rt)
        if h:
            spill = h["fma_with_stack_operand"]
            lines.append(f"- {rt} 3x3 hot loop: {h['symbol']} in {h['dso']} ({h['samples_pct']:.0f} % of samples): "
                         f"{h['fma_instructions']} FMAs, {len(spill)} with a stack operand"
                         + (f" (`{spill[0]}`; stack stores: `{'`, `'.join(h['ymm_stores_to_stack'][:2])}`)" if spill else ""))
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("artifacts/bench"))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--no-perf", action="store_true")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="igemm-") as tmp:
        work = Path(tmp)
        runner = work / "runner.py"
        runner.write_text(RUNNER)
        result = {"threads": args.threads, "rounds": args.rounds, "timing": {}}
        files = {}
        for k in (3, 1):
            pte, tfl = build(k, work)
            files[k] = (pte, tfl)
            result["timing"][f"{k}x{k}"] = time_both(sys.executable, pte, tfl, args.threads, args.rounds, runner)
        result["perf"] = {"skipped": "--no-perf"} if args.no_perf else perf_check(sys.executable, *files[3], runner, work)
    result["seconds"] = round(time.perf_counter() - t0, 1)
    (args.out / "igemm.json").write_text(json.dumps(result, indent=2))
    md = markdown(result)
    (args.out / "igemm.md").write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
