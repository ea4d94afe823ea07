"""Explain a latency gap between two artifacts from their per-op profiles (`edge-export profile`).

    python benchmarks/gap_analysis.py A/profile-host.json B/profile-host.json [--stat min] [--peak-gflops 130]

Both profiles come from the runtimes' own per-operator timers (ExecuTorch ETDump XNNPACK events, LiteRT's
C-API profiler), attributed to PyTorch modules. The report:
- per op kind: count and summed per-op time in A and B, and the difference (where the gap is);
- for matrix ops (conv, gemm) matched by module path: A/B time ratio (same math, same shapes: a ratio far
  from 1 points at the kernel, not at the graph);
- kinds only one side has (layout transposes, unfused multiplies...): what the graph adds;
- with --peak-gflops and the model FLOPs (manifest next to each profile): the ceiling on % of the GEMM peak
  if every matrix op ran at the peak while the other ops kept their measured time.
Per-op `min` is the default statistic: on a shared machine it is the least disturbed by other processes.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

MATRIX_KINDS = {"conv", "gemm"}


def load(path: Path, stat: str) -> dict:
    d = json.loads(Path(path).read_text())
    rows = [(r["kind"], r.get("module_path") or "", r["name"], float(r["stats"][stat])) for r in d["rows"]]
    manifest = Path(path).parent / "manifest.json"
    flops = json.loads(manifest.read_text()).get("flops") if manifest.is_file() else None
    prov = d["provenance"]
    return {"rows": rows, "latency": d["latency"], "flops": flops, "target": prov["target"], "threads": prov["threads"],
            "runtime": prov["runtime"]}


def analyse(a: dict, b: dict, peak_gflops: float | None = None) -> dict:
    kinds = defaultdict(lambda: {"a_n": 0, "a_ms": 0.0, "b_n": 0, "b_ms": 0.0})
    for side, prof in (("a", a), ("b", b)):
        for kind, _, _, ms in prof["rows"]:
            kinds[kind][f"{side}_n"] += 1
            kinds[kind][f"{side}_ms"] += ms
    by_module = defaultdict(lambda: {"a": 0.0, "b": 0.0, "kind": None})
    for side, prof in (("a", a), ("b", b)):
        for kind, path, _, ms in prof["rows"]:
            if kind in MATRIX_KINDS and path:
                by_module[path][side] += ms
                by_module[path]["kind"] = kind
    matched = {p: v for p, v in by_module.items() if v["a"] > 0 and v["b"] > 0}
    ratio_by_kind = {}
    for kind in MATRIX_KINDS:
        ms = [v for v in matched.values() if v["kind"] == kind]
        if ms:
            ratio_by_kind[kind] = {"modules": len(ms), "a_ms": sum(v["a"] for v in ms), "b_ms": sum(v["b"] for v in ms),
                                   "ratio": sum(v["a"] for v in ms) / sum(v["b"] for v in ms)}
    out = {
        "a": {"target": a["target"], "runtime": a["runtime"], "threads": a["threads"], "ops": len(a["rows"]),
              "op_sum_ms": sum(r[3] for r in a["rows"]), "median_run_ms": a["latency"]["median"]},
        "b": {"target": b["target"], "runtime": b["runtime"], "threads": b["threads"], "ops": len(b["rows"]),
              "op_sum_ms": sum(r[3] for r in b["rows"]), "median_run_ms": b["latency"]["median"]},
        "kinds": {k: {**v, "delta_ms": v["a_ms"] - v["b_ms"]} for k, v in sorted(kinds.items(), key=lambda kv: -(kv[1]["a_ms"] - kv[1]["b_ms"]))},
        "matrix_ratio": ratio_by_kind,
        "worst_matrix_modules": sorted(({"module": p, **v, "ratio": v["a"] / v["b"]} for p, v in matched.items()),
                                       key=lambda r: -(r["a"] - r["b"]))[:8],
    }
    if peak_gflops:
        for side, prof in (("a", a), ("b", b)):
            if not prof["flops"]:
                continue
            other = sum(ms for kind, _, _, ms in prof["rows"] if kind not in MATRIX_KINDS)
            matrix = sum(ms for kind, _, _, ms in prof["rows"] if kind in MATRIX_KINDS)
            at_peak = prof["flops"] / (peak_gflops * 1e9) * 1e3
            out[side].update(
                non_matrix_ms=other, matrix_ms=matrix, matrix_at_peak_ms=at_peak,
                matrix_pct_of_peak=100 * at_peak / matrix if matrix else None,
                pct_of_peak_op_sum=100 * at_peak / (matrix + other),
                pct_of_peak_ceiling=100 * at_peak / (at_peak + other),
            )
    return out


def render(res: dict, stat: str) -> str:
    a, b = res["a"], res["b"]
    lines = [f"A = {a['target']} ({a['runtime']}), B = {b['target']} ({b['runtime']}), {a['threads']}/{b['threads']} thread(s); "
             f"per-op {stat}",
             f"A: {a['ops']} ops, sum {a['op_sum_ms']:.2f} ms (median run {a['median_run_ms']:.2f}); "
             f"B: {b['ops']} ops, sum {b['op_sum_ms']:.2f} ms (median run {b['median_run_ms']:.2f}); "
             f"op-sum ratio A/B {a['op_sum_ms'] / b['op_sum_ms']:.2f}", "",
             f"{'kind':<16}{'A n':>5}{'A ms':>9}{'B n':>5}{'B ms':>9}{'A-B ms':>9}"]
    for k, v in res["kinds"].items():
        lines.append(f"{k:<16}{v['a_n']:>5}{v['a_ms']:>9.3f}{v['b_n']:>5}{v['b_ms']:>9.3f}{v['delta_ms']:>9.3f}")
    lines.append("")
    for k, v in res["matrix_ratio"].items():
        lines.append(f"{k}: {v['modules']} modules matched by path, A {v['a_ms']:.3f} ms vs B {v['b_ms']:.3f} ms: A/B {v['ratio']:.2f}")
    lines.append("largest matrix-op differences (module, kind, A ms, B ms, A/B):")
    for r in res["worst_matrix_modules"]:
        lines.append(f"  {r['module']:<45} {r['kind']:<5} {r['a']:.3f} {r['b']:.3f} {r['ratio']:.2f}")
    for side in ("a", "b"):
        s = res[side]
        if "pct_of_peak_ceiling" in s:
            lines.append(f"{s['target']}: matrix ops {s['matrix_ms']:.2f} ms ({s['matrix_pct_of_peak']:.0f} % of the GEMM peak), "
                         f"other ops {s['non_matrix_ms']:.2f} ms; op sum = {s['pct_of_peak_op_sum']:.0f} % of peak; "
                         f"ceiling with matrix ops AT the peak: {s['pct_of_peak_ceiling']:.0f} %")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("a", type=Path)
    ap.add_argument("b", type=Path)
    ap.add_argument("--stat", default="min", choices=["min", "median", "p10", "mean"])
    ap.add_argument("--peak-gflops", type=float, default=None, help="GEMM peak at the profiles' thread count")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    res = analyse(load(args.a, args.stat), load(args.b, args.stat), args.peak_gflops)
    print(render(res, args.stat))
    if args.json:
        args.json.write_text(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
