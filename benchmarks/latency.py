"""Latency of one model's artifacts vs eager PyTorch and ONNX Runtime: the benchmark suite for one model.

    python benchmarks/latency.py --model swiftformer-xs --out artifacts [--threads 2] [--rounds 6]

Kept for the old `make bench` line; benchmarks/suite.py is the full suite (all variants, torch.compile,
GEMM peak, export cost, sizes, goals). Like the suite, every contestant runs in its own process and rounds
are interleaved (the earlier version ran eager and every runtime in one process, where eager's OpenMP
threads and XNNPACK's pool fought over the 2 cores). Only artifacts already in --out are used.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import suite  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="swiftformer-xs")
    ap.add_argument("--out", type=Path, default=Path("artifacts"))
    ap.add_argument("--threads", default="2")
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--per-round", type=int, default=5)
    args = ap.parse_args(argv)
    targets = sorted(p.name.removeprefix(f"{args.model}-") for p in args.out.glob(f"{args.model}-*")
                     if (p / "manifest.json").is_file())
    if not targets:
        print(f"no artifacts for {args.model} in {args.out}: run `edge-export export {args.model} -t ...` first",
              file=sys.stderr)
        return 2
    return suite.main([
        "--out", str(args.out), "--models", args.model, "--all-targets-models", args.model,
        "--all-targets", ",".join(targets), "--threads", args.threads, "--rounds", str(args.rounds),
        "--per-round", str(args.per_round), "--compile-models", "", "--no-export",
        "--bench-dir", str(args.out / "bench" / f"latency-{args.model}"),
    ])


if __name__ == "__main__":
    sys.exit(main())
