"""Latency of eager PyTorch vs each artifact of one model: same process, same threads, interleaved rounds.

These 2-core machines are noisy: only ratios measured in one run mean something. Each round runs every
contestant `--per-round` times in turn; medians and minimums are over all rounds.

    python benchmarks/latency.py --model swiftformer-xs --out artifacts [--threads 2] [--rounds 10]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch


def _contestants(artifacts: list[Path], threads: int):
    from edge_export.artifacts import read_manifest
    from edge_export.models import load_from_source
    from edge_export.runners import open_runner

    out = {}
    first = read_manifest(artifacts[0])
    eager = load_from_source(first.source).module
    torch.set_num_threads(threads)
    x = torch.randn(first.inputs[0].shape if first.inputs[0].layout != "NHWC" else [1, 3, first.preprocessing.image_size, first.preprocessing.image_size])
    with torch.no_grad():
        out["eager"] = lambda: eager(x)
    for art in artifacts:
        m = read_manifest(art)
        runner = open_runner(art, m, threads=threads)
        prepared = runner.prepare_input(x.numpy())
        out[m.target] = (lambda r=runner, p=prepared: r.run_raw([p]))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="swiftformer-xs")
    ap.add_argument("--out", type=Path, default=Path("artifacts"), help="dir holding <model>-<target> artifact dirs")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--per-round", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--json", type=Path, default=None, help="also write results here")
    args = ap.parse_args(argv)

    artifacts = sorted(p for p in args.out.glob(f"{args.model}-*") if (p / "manifest.json").is_file())
    if not artifacts:
        print(f"no artifacts for {args.model} in {args.out}: run `edge-export export {args.model} -t ...` first", file=sys.stderr)
        return 2
    contestants = _contestants(artifacts, args.threads)
    with torch.no_grad():
        for fn in contestants.values():
            for _ in range(args.warmup):
                fn()
        times = {name: [] for name in contestants}
        for _ in range(args.rounds):
            for name, fn in contestants.items():
                for _ in range(args.per_round):
                    t = time.perf_counter()
                    fn()
                    times[name].append((time.perf_counter() - t) * 1e3)
    med = {k: float(np.median(v)) for k, v in times.items()}
    best = min(med, key=med.get)
    rows = [
        {"name": k, "median_ms": med[k], "min_ms": float(np.min(v)), "vs_eager": med[k] / med["eager"], "vs_best": med[k] / med[best]}
        for k, v in times.items()
    ]
    print(f"{args.model}, {args.threads} thread(s), {args.rounds} interleaved rounds x {args.per_round} runs")
    print(f"{'contestant':<22}{'median ms':>11}{'min ms':>9}{'x eager':>9}{'x best':>8}")
    for r in rows:
        print(f"{r['name']:<22}{r['median_ms']:>11.2f}{r['min_ms']:>9.2f}{r['vs_eager']:>9.2f}{r['vs_best']:>8.2f}")
    if args.json:
        args.json.write_text(json.dumps({"model": args.model, "threads": args.threads, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
