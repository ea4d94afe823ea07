"""The benchmark suite's results: ratios, sizes, goals and the markdown report (benchmarks/suite.py measures)."""

from __future__ import annotations

from harness import stats

CPU_TARGETS = ["xnnpack-fp32", "xnnpack-int8", "tflite-fp32", "tflite-int8", "tflite-dynamic-int8", "tf-tflite-fp32"]
TF_ROUTE = "tf-tflite-fp32"
ORT = "onnxruntime"
EAGER = "eager"
COMPILE = "torch.compile"
GEMM = "gemm-peak"


def source_model(model: str, target: str) -> str:
    """The model id a target is exported from: the TF-native route reproduces only transformers' (softmax)
    attention form, so it gets <model>-softmax (same layers, shapes and FLOPs)."""
    return f"{model}-softmax" if target == TF_ROUTE else model


def row_order(r: dict, plan: dict[str, list[str]]) -> tuple:
    models = list(plan)
    names = [EAGER, COMPILE, ORT, *plan.get(r["model"], [])]
    c = r["contestant"]
    return (models.index(r["model"]) if r["model"] in models else len(models), r["threads"],
            names.index(c) if c in names else len(names), c)


def _precision(target: str) -> str:
    return "int8" if "int8" in target else "fp32"


# ---------------------------------------------------------------------------------------------- reporting


def peak_table(gemm_times: dict[int, list[float]], n: int) -> dict:
    flops = 2 * n**3
    out = {}
    for t, times in gemm_times.items():
        if not times:
            continue
        s = stats(times)
        out[str(t)] = {**s, "n": n, "flops": flops, "gflops_median": flops / (s["median_ms"] / 1e3) / 1e9,
                       "gflops_best": flops / (s["min_ms"] / 1e3) / 1e9}
    return out


def add_ratios(rows: list[dict], peak: dict) -> None:
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["model"], r["threads"]), []).append(r)
    for (model, t), rs in groups.items():
        ok = [r for r in rs if "median_ms" in r]
        by = {r["contestant"]: r for r in ok}
        best = min(ok, key=lambda r: r["median_ms"]) if ok else None
        for r in ok:
            r["x_eager"] = r["median_ms"] / by[EAGER]["median_ms"] if EAGER in by else None
            r["x_ort"] = r["median_ms"] / by[ORT]["median_ms"] if ORT in by else None
            r["x_best"] = r["median_ms"] / best["median_ms"]
            r["best"] = r is best
            if r.get("flops"):
                r["gflops"] = r["flops"] / (r["median_ms"] / 1e3) / 1e9
                pk = peak.get(str(t))
                r["pct_of_peak"] = 100 * r["gflops"] / pk["gflops_median"] if pk else None


def size_rows(rows: list[dict]) -> list[dict]:
    seen, out = set(), []
    arts = {(r["model"], r["target"]): r for r in rows if r.get("kind") == "artifact"}
    for (model, target), r in sorted(arts.items()):
        if (model, target) in seen:
            continue
        seen.add((model, target))
        fp32 = None
        if "int8" in target:
            base = "xnnpack-fp32" if target.startswith("xnnpack") else "tflite-fp32"
            fp32 = arts.get((model, base), {}).get("file_bytes")
        out.append({"model": model, "target": target, "bytes": r["file_bytes"],
                    "x_fp32": (r["file_bytes"] / fp32) if fp32 else None})
    return out


def evaluate_goals(rows, peak, export_costs, sizes, model="swiftformer-xs", threads=2) -> list[dict]:
    by = {r["contestant"]: r for r in rows if r["model"] == model and r["threads"] == threads and "median_ms" in r}
    goals = []

    def goal(name, value, op, limit, detail=""):
        holds = None if value is None else (value <= limit if op == "<=" else value >= limit)
        goals.append({"goal": name, "value": value, "limit": f"{op} {limit}", "holds": holds, "detail": detail})

    et, tfl, ort = by.get("xnnpack-fp32"), by.get("tflite-fp32"), by.get(ORT)
    goal(f"{model} {threads}T: xnnpack-fp32 / tflite-fp32 (median)",
         et["median_ms"] / tfl["median_ms"] if et and tfl else None, "<=", 1.05)
    goal(f"{model} {threads}T: xnnpack-fp32 / onnxruntime (median)",
         et["median_ms"] / ort["median_ms"] if et and ort else None, "<=", 0.75)
    arts = [r for r in by.values() if r.get("kind") == "artifact" and r.get("pct_of_peak") is not None]
    fastest = min(arts, key=lambda r: r["median_ms"]) if arts else None
    goal(f"{model} {threads}T: fastest artifact, % of GEMM peak", fastest["pct_of_peak"] if fastest else None, ">=", 85,
         fastest["contestant"] if fastest else "")
    calls = [c for c in export_costs if c["model"] in (model, source_model(model, TF_ROUTE)) and "wall_s" in c
             and set(c["targets"]) & set(CPU_TARGETS)]
    covered = sorted({t for c in calls for t in c["targets"] if t in CPU_TARGETS})
    total = sum(c["wall_s"] for c in calls) if calls and covered == sorted(CPU_TARGETS) else None
    goal(f"{model}: export of all CPU targets, s (wall of the edge-export calls)", total, "<=", 120,
         f"{len(calls)} call(s) for {len(covered)}/{len(CPU_TARGETS)} targets; in-process per target: "
         + ", ".join(f"{t} {s:.1f}" for c in calls for t, s in c.get("export_seconds", {}).items()))
    for s in sizes:
        if s["model"] == model and s["x_fp32"] is not None:
            goal(f"{model}: {s['target']} size / fp32", s["x_fp32"], "<=", 0.3)
    return goals


def _md_table(lines: list[str], title: str, header: list[str], rows: list[list[str]]) -> None:
    """Append a '## title' section holding a markdown table to lines."""
    lines += [f"## {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["|" + "|".join(f" {c} " if c else " " for c in r) + "|" for r in rows]
    lines.append("")


def _fmt(v, spec=".2f", none="-"):
    return none if v is None else format(v, spec)


def markdown(result: dict) -> str:
    lines = []
    h = result["host"]
    lines.append(f"# Benchmark: {', '.join(result['config']['models'])}")
    lines.append("")
    lines.append(f"{h['cpu_model']} ({h['logical_cpus']} logical CPUs, {h.get('cpu_flags', '')}), "
                 f"{result['created_at']}; load average start {result['load']['start'][0]:.2f}, "
                 f"during rounds median {result['load']['rounds_median']:.2f} (max {result['load']['rounds_max']:.2f}). "
                 f"{result['config']['rounds']} interleaved rounds x {result['config']['per_round']} runs per contestant, "
                 "one process per contestant, one computing at a time. Ratios are from this run only; "
                 "differences under ~10 % are noise on this shared box.")
    lines.append("")
    pk = result["gemm_peak"]
    lines.append("GEMM peak (torch.mm fp32, n={}): ".format(result["config"]["gemm_n"]) + "; ".join(
        f"{t} thread(s) {p['gflops_median']:.1f} GFLOP/s median ({p['gflops_best']:.1f} best)" for t, p in pk.items()))
    lines.append("")
    lines.append("| model | threads | contestant | median ms | min ms | x eager | x ORT | x best | GFLOP/s | % peak | MB |")
    lines.append("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in result["rows"]:
        if "median_ms" not in r:
            lines.append(f"| {r['model']} | {r['threads']} | {r['contestant']} | failed: {r.get('error', '')[:60]} | | | | | | | |")
            continue
        name = f"**{r['contestant']}**" if r.get("best") else r["contestant"]
        mb = _fmt(r["file_bytes"] / 1e6, ".2f") if r.get("file_bytes") else "-"
        lines.append(f"| {r['model']} | {r['threads']} | {name} | {r['median_ms']:.2f} | {r['min_ms']:.2f} | "
                     f"{_fmt(r.get('x_eager'))} | {_fmt(r.get('x_ort'))} | {r['x_best']:.2f} | "
                     f"{_fmt(r.get('gflops'), '.1f')} | {_fmt(r.get('pct_of_peak'), '.0f')} | {mb} |")
    lines.append("")
    if result["export_cost"]:
        rows = []
        for c in result["export_cost"]:
            targets = ", ".join(c.get("targets", []))
            if "wall_s" not in c:
                rows.append([c["model"], targets, c.get("error") or c.get("note", ""), "", "", ""])
                continue
            when = "this run" if c.get("measured_in_this_run") else f"cached {c.get('measured_at', '')}"
            per = ", ".join(f"{t} {v:.1f}" for t, v in c.get("export_seconds", {}).items())
            rows.append([c["model"], targets, f"{c['wall_s']:.1f}", per, f"{c['peak_rss_mb']:.0f}", when])
        _md_table(lines, "Export cost (one edge-export CLI call per model in a child process: start-up, export, validation)",
                  ["model", "targets", "wall s", "in-process s per target", "peak RSS MB", "measured"], rows)
    if result["sizes"]:
        _md_table(lines, "Sizes", ["model", "target", "MB", "/ fp32"],
                  [[s["model"], s["target"], f"{s['bytes'] / 1e6:.2f}", _fmt(s["x_fp32"])] for s in result["sizes"]])
    if result["goals"]:
        rows = []
        for g in result["goals"]:
            v = _fmt(g["value"], ".2f") if isinstance(g["value"], (int, float)) else "-"
            holds = {True: "yes", False: "**no**", None: "n/a"}[g["holds"]]
            detail = f" ({g['detail']})" if g.get("detail") else ""
            rows.append([f"{g['goal']}{detail}", v, g["limit"], holds])
        _md_table(lines, "Goals", ["goal", "value", "limit", "holds"], rows)
    for n in result.get("notes", []):
        lines.append(f"- {n}")
    if result.get("kernel_check_md"):
        lines.append("")
        lines.append("#" + result["kernel_check_md"].strip())
    return "\n".join(lines) + "\n"
