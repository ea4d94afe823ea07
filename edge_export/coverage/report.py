"""The coverage matrix as markdown: one row per cell, the goals, and the paper's comparison on our backends."""

from __future__ import annotations

from edge_export.coverage.arm import arm_text
from edge_export.coverage.models import COMMUNITY_QNN, PAPER_PAIRS, PAPER_SOURCE, known_entries

NOT_A_PHONE = ("measured on this host's CPU (or QNN's x86 HTP simulator), not on a phone: compare ratios, "
               "not milliseconds")


def _cells(result: dict) -> dict[tuple[str, str], dict]:
    return {(c["model"], c["target"]): c for c in result["cells"]}


def paper_comparison(result: dict) -> list[dict]:
    """Per target and thread count: the measured latency ratio of each paper pair, beside the paper's figure."""
    cells = _cells(result)
    known = known_entries()
    rows = []
    for slow, fast in PAPER_PAIRS:
        paper_slow, paper_fast = (known[n].paper_iphone14_ms if n in known else None for n in (slow, fast))
        for target in result["targets"]:
            a, b = cells.get((slow, target)), cells.get((fast, target))
            for t in map(str, result["threads"]):
                if not (a and b and a.get("median_ms", {}).get(t) and b.get("median_ms", {}).get(t)):
                    continue
                rows.append({
                    "pair": f"{slow} / {fast}", "target": target, "threads": int(t),
                    "measured_ratio": round(a["median_ms"][t] / b["median_ms"][t], 2),
                    "paper_ratio": round(paper_slow / paper_fast, 2) if paper_slow and paper_fast else None,
                    "note": NOT_A_PHONE,
                })
    return rows


def goals(result: dict) -> dict:
    cpu = [c for c in result["cells"] if not c["target"].startswith("qnn-")]
    ok = [c for c in cpu if c["ok"]]
    one = {c["model"] for c in result["cells"] if c["target"] == "xnnpack-fp32" and c["ok"] and c["subgraphs"] == 1
           and not c["fallback_ops"]}
    return {"cells": len(cpu), "exported_and_validated": len(ok),
            "share": round(100 * len(ok) / len(cpu), 1) if cpu else None,
            "xnnpack_fp32_one_subgraph_no_fallback": sorted(one)}


def _f(v, spec=".2f") -> str:
    return "–" if v is None else format(v, spec)


def markdown(result: dict) -> str:
    t = [str(x) for x in result["threads"]]
    host = result["host"]
    arm = result.get("arm")
    arm_head = f"Arm kernels (emulated, {arm['cpu']})" if arm and arm.get("cpu") else "Arm kernels (emulated)"
    lines = [
        "# Coverage matrix",
        "",
        f"{result['created']} on {host.get('cpu_model')} ({host.get('cpu_flags')}), {host.get('logical_cpus')} CPUs; "
        f"median of {result['runs']} runs per cell and thread count, one process per contestant, interleaved rounds; "
        f"1-minute load average at the end {result.get('load_average_1min_at_end', '?')}. "
        f"Parity on {result.get('validate_images', '?')} photographs, int8 calibrated on "
        f"{result.get('calibration_images', '?')}. "
        f"fp32 GEMM peak (ExecuTorch XNNPACK, same run): "
        + ", ".join(f"{v} GFLOP/s at {k} thread(s)" for k, v in result["gemm_peak_gflops"].items()) + ".",
        "",
        "| model | target | ok | export s | MB | subgraphs | % delegated | fallback ops | cosine min | top-1 | "
        + " | ".join(f"ms @{x}t" for x in t) + " | " + " | ".join(f"% peak @{x}t" for x in t) + f" | {arm_head} |",
        "|" + "---|" * (11 + 2 * len(t)),
    ]
    for c in result["cells"]:
        if not c["ok"]:
            lines.append(f"| {c['model']} | {c['target']} | **failed** | {c['error']} |" + " |" * (7 + 2 * len(t)))
            continue
        fb = ", ".join(f"{k}×{v}" for k, v in sorted(c["fallback_ops"].items(), key=lambda kv: -kv[1])) or "none"
        lines.append(
            f"| {c['model']} | {c['target']} | yes | {_f(c['export_s'], '.1f')} | {_f(c['mb'])} | {c['subgraphs']} | "
            f"{_f(c['delegated_pct'], '.1f')} | {fb} | {_f(c['cosine_min'], '.5f')} | {_f(c['top1_agree'], '.0%')} | "
            + " | ".join(_f(c["median_ms"].get(x), ".3f") for x in t) + " | "
            + " | ".join(_f(c["pct_of_peak"].get(x), ".1f") for x in t) + f" | {arm_text(c, arm)} |"
        )
    if arm:
        lines += ["", f"{arm_head}: each .tflite cell that exported and validated, run by LiteRT's aarch64 build "
                  f"under QEMU ({arm.get('feature_level') or 'no CPU'}) on as many images as its host validation, "
                  "against PyTorch (cosine, top-1) and against this host's x86 kernels on the same file; numerics of "
                  "the Arm kernels only: emulated times are not device latency and are not shown"
                  + (f". Status: {arm['status']}" + (f" ({arm['error']})" if arm.get("error") else "") + "."
                     if arm["status"] != "ran" else ".")]
    g = goals(result)
    lines += ["", "## Goals", "",
              f"- cells that export and validate: {g['exported_and_validated']} of {g['cells']} ({_f(g['share'], '.1f')} %)",
              f"- xnnpack-fp32 with one subgraph and no fallback: {len(g['xnnpack_fp32_one_subgraph_no_fallback'])} "
              f"models ({', '.join(g['xnnpack_fp32_one_subgraph_no_fallback']) or 'none'})"]
    lines += ["", "## The paper's comparison on these backends", "",
              f"Paper figures: {PAPER_SOURCE}. Community figure: {COMMUNITY_QNN}. Ours are {NOT_A_PHONE}.", "",
              "| pair | target | threads | measured ratio | paper ratio (iPhone 14 NE) |", "|---|---|---|---|---|"]
    for r in result.get("paper", []):
        lines.append(f"| {r['pair']} | {r['target']} | {r['threads']} | {r['measured_ratio']} | "
                     f"{_f(r['paper_ratio']) if r['paper_ratio'] else 'see Table 1'} |")
    return "\n".join(lines) + "\n"
