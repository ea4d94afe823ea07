"""Cross-check of the single-delegate XNNPACK attribution against XnnpackPartitioner(per_op_mode=True).

A test helper and a dev script (not library code): per-op lowering gives every FX op its own delegate
call, which ExecuTorch's Inspector maps to a module on its own; the two module-time shares must agree.

    python tests/xnnpack_crosscheck.py MODEL.pte RUN.etdump MODEL.etrecord [--depth N] [--events]
"""

from __future__ import annotations

import math
import re
import statistics
from collections import defaultdict
from dataclasses import dataclass
from os import PathLike
from typing import Any, Iterable, Mapping, Sequence

from edge_export.attribution.etrecord import load_etrecord
from edge_export.attribution.xnnpack import Attribution
from edge_export.attribution.xnnpack_program import attribute_program


def rollup(times: Mapping[str, float], depth: int) -> dict[str, float]:
    """Sum module times at a prefix depth: depth 2 folds "a.b.c" and "a.b.d" into "a.b"."""
    out: dict[str, float] = defaultdict(float)
    for path, t in times.items():
        key = ".".join(path.split(".")[:depth]) if path and not path.startswith("<") else path
        out[key] += t
    return dict(out)


def per_op_module_times(
    pte_path: str | PathLike[str],
    etdump_path: str | PathLike[str],
    etrecord: Any,
    *,
    method: str = "forward",
    skip_runs: int = 0,
) -> dict[str, float]:
    """Module times of a program lowered with ``XnnpackPartitioner(per_op_mode=True)``, as the
    ExecuTorch Inspector attributes them (independent of the XNode alignment above).

    Each per-op delegate call is one FX op (sometimes a few); Inspector gives its DELEGATE_CALL
    event a ``module_hierarchy`` from the instruction's debug handles. The XNNPACK operator
    events inside the call (the op plus the layout transposes per-op mode adds around it) are
    summed (median over executions after ``skip_runs``) and charged to the innermost module of
    the call's first FX node. ``pte_path`` is unused but kept for symmetry with
    ``attribute_program``.
    """
    import logging

    from executorch.devtools import Inspector

    etrecord = load_etrecord(etrecord)
    prev = logging.root.manager.disable
    logging.disable(logging.WARNING)  # Inspector floods "Unsupported kwarg encountered"
    try:
        insp = Inspector(etdump_path=str(etdump_path), etrecord=etrecord)
    finally:
        logging.disable(prev)
    op_time: dict[int, float] = defaultdict(float)
    call_module: dict[int, str] = {}
    for block in insp.event_blocks:
        if block.name != "Execute":
            continue
        for ev in block.events:
            iid = ev._instruction_id
            if iid is None:
                continue
            if ev.name == "DELEGATE_CALL":
                for _node, stack in ev.module_hierarchy.items():
                    if stack:
                        path = list(stack.values())[-1][0]
                        call_module.setdefault(iid, re.sub(r"@\d+", "", str(path)))
                        break
            elif ev.is_delegated_op and ev.perf_data is not None:
                raw = list(ev.perf_data.raw)[skip_runs:] or list(ev.perf_data.raw)
                op_time[iid] += statistics.median(raw)
    out: dict[str, float] = defaultdict(float)
    for iid, t in op_time.items():
        out[call_module.get(iid, "<unattributed>")] += t
    return dict(out)


def fold_map(attributions: Iterable[Attribution], debug_handle_to_module: Mapping[int, str]) -> dict[str, str]:
    """{module whose FX nodes were folded away: module of the operator that absorbed them}, e.g.
    {"stem.1": "stem.0"} for a batch norm folded into its convolution. Per-op lowering keeps
    such nodes as separate ops; apply this map to its times before comparing."""
    out: dict[str, str] = {}
    for a in attributions:
        if a.module_path is None:
            continue
        for h in a.fused_debug_handles:
            m = debug_handle_to_module.get(h)
            if m is not None and m != a.module_path:
                out.setdefault(m, a.module_path)
    return out


@dataclass
class ModuleTimeComparison:
    shares_single: dict[str, float]
    shares_per_op: dict[str, float]
    missing_in_single: set[str]  # modules with >= min_share of per-op time that got none here
    missing_in_per_op: set[str]
    rank_correlation: float  # Spearman over modules present in both
    max_share_diff: float

    def format(self, top: int = 20) -> str:
        keys = sorted(set(self.shares_single) | set(self.shares_per_op),
                      key=lambda k: -max(self.shares_single.get(k, 0.0), self.shares_per_op.get(k, 0.0)))
        lines = [f"{'module':60s} {'single %':>9s} {'per-op %':>9s}"]
        for k in keys[:top]:
            lines.append(f"{(k or '<root>'):60s} {100 * self.shares_single.get(k, 0.0):9.2f} "
                         f"{100 * self.shares_per_op.get(k, 0.0):9.2f}")
        lines.append(f"spearman={self.rank_correlation:.3f} max |share diff|={100 * self.max_share_diff:.2f} pp")
        return "\n".join(lines)


def _spearman(xs: Sequence[float], ys: Sequence[float]) -> float:
    def ranks(v: Sequence[float]) -> list[float]:
        order = sorted(range(len(v)), key=lambda i: v[i])
        r = [0.0] * len(v)
        i = 0
        while i < len(order):
            j = i
            while j + 1 < len(order) and v[order[j + 1]] == v[order[i]]:
                j += 1
            for k in range(i, j + 1):
                r[order[k]] = (i + j) / 2.0
            i = j + 1
        return r

    if len(xs) < 2:
        return 1.0
    rx, ry = ranks(xs), ranks(ys)
    mx, my = sum(rx) / len(rx), sum(ry) / len(ry)
    cov = sum((a - mx) * (b - my) for a, b in zip(rx, ry))
    vx = math.sqrt(sum((a - mx) ** 2 for a in rx))
    vy = math.sqrt(sum((b - my) ** 2 for b in ry))
    return cov / (vx * vy) if vx and vy else 1.0


def compare_module_times(
    single: Mapping[str, float],
    per_op: Mapping[str, float],
    *,
    depth: int | None = None,
    fold: Mapping[str, str] | None = None,
    min_share: float = 0.01,
) -> ModuleTimeComparison:
    """Compare per-module time shares of the single-delegate attribution with per-op mode.

    Absolute times differ (per-op mode adds a layout transpose pair around most ops and a
    delegate call per op), so shares of each side's total are compared. ``fold`` maps modules
    folded away in the single delegate onto their absorber (``fold_map``); ``depth`` rolls
    paths up to a prefix depth first. Modules below ``min_share`` on one side are not reported
    as missing on the other.
    """
    def prep(t: Mapping[str, float]) -> dict[str, float]:
        d: dict[str, float] = defaultdict(float)
        for k, v in t.items():
            if k.startswith("<"):
                continue
            d[(fold or {}).get(k, k)] += v
        d = rollup(d, depth) if depth is not None else dict(d)
        tot = sum(d.values()) or 1.0
        return {k: v / tot for k, v in d.items()}

    a, b = prep(single), prep(per_op)
    both = sorted(set(a) & set(b))
    return ModuleTimeComparison(
        shares_single=a,
        shares_per_op=b,
        missing_in_single={k for k, v in b.items() if v >= min_share and a.get(k, 0.0) == 0.0},
        missing_in_per_op={k for k, v in a.items() if v >= min_share and b.get(k, 0.0) == 0.0},
        rank_correlation=_spearman([a[k] for k in both], [b[k] for k in both]),
        max_share_diff=max((abs(a.get(k, 0.0) - b.get(k, 0.0)) for k in set(a) | set(b)), default=0.0),
    )


def format_attributions(attributions: Sequence[Attribution], unit_scale: float = 1e-3, unit: str = "us") -> str:
    lines = []
    for a in attributions:
        mod = a.module_path if a.module_path is not None else "-"
        mod = mod or "<root>"
        extra = f"  [{a.how}]" if a.how not in ("matched",) else ""
        if a.reason and not a.attributed:
            extra += f"  reason: {a.reason}"
        lines.append(
            f"{a.event_index:4d} {a.name:45s} {a.duration * unit_scale:10.1f}{unit} "
            f"x={','.join(map(str, a.xnode_indices)) or '-':5s} {mod}{extra}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m edge_export.attribution.xnnpack MODEL.pte RUN.etdump MODEL.etrecord``"""
    import argparse

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("pte")
    ap.add_argument("etdump")
    ap.add_argument("etrecord")
    ap.add_argument("--method", default="forward")
    ap.add_argument("--skip-runs", type=int, default=1, help="warm-up executions to ignore")
    ap.add_argument("--depth", type=int, default=None, help="roll module paths up to this depth")
    ap.add_argument("--events", action="store_true", help="list every operator event")
    args = ap.parse_args(argv)
    pa = attribute_program(args.pte, args.etdump, args.etrecord, method=args.method, skip_runs=args.skip_runs)
    if args.events:
        for d in pa.delegates:
            print(f"# delegate {d.graph.delegate_index} (instruction {d.instruction_id}), {d.runs} runs")
            print(format_attributions(d.attributions))
    times = pa.time_by_module(include_portable=True)
    if args.depth is not None:
        times = rollup(times, args.depth)
    total = sum(times.values()) or 1.0
    for mod, t in sorted(times.items(), key=lambda kv: -kv[1]):
        print(f"{t / 1e3:10.1f} us {100 * t / total:6.2f} %  {mod or '<root>'}")
    cov = pa.coverage()
    print(f"XNNPACK operator time attributed: {100 * pa.attributed_fraction():.2f} %")
    if "attributed_share_of_method" in cov:
        print(f"share of Method::execute attributed: {100 * cov['attributed_share_of_method']:.2f} %")
    for w in pa.warnings:
        print("warning:", w)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
