"""Benchmark suite: our artifacts vs eager PyTorch, torch.compile and ONNX Runtime, against the compute floor.

    python benchmarks/suite.py --out artifacts            # what `make bench` runs
    python benchmarks/suite.py --out artifacts --models swiftformer-xs --threads 2 --rounds 4

Writes <bench-dir>/bench.json and bench.md (default <out>/bench/) and prints the table.

What it does, in order (nothing is timed while anything else runs):
1. Artifacts: every (model, target) asked for that is missing from --out, or stale (exported with other
   rewrites, model options or package versions), is exported with the edge-export CLI in a child process;
   its wall time and peak RSS (os.wait4 on that child: the child and its own children) are the export cost.
   Costs persist in <bench-dir>/export-cost.json so a later run that reuses the artifact still reports them.
2. ONNX: the user's (stock) model is exported with torch.onnx.export(dynamo=False) - the legacy TorchScript
   exporter, whose graph ran ~10 % faster in ONNX Runtime here than the dynamo exporter's - opset 17.
3. Latency: one worker process per contestant (benchmarks/worker.py: eager, torch.compile, ONNX Runtime
   CPU EP with ORT_ENABLE_ALL, each artifact in its own runtime, and an fp32 GEMM). Rounds are interleaved
   across processes and only one process computes at a time; each turn does 1 untimed warm-up run then
   --per-round timed runs, for each thread count. The GEMM (torch.mm, n x n fp32) is a contestant like the
   others, so the compute peak is measured under the same load as the models.
4. Ratios per (model, threads), from this run only: to eager, to ONNX Runtime, to the fastest runtime;
   achieved GFLOP/s (manifest FLOPs = 2 x MACs / median time) and % of the GEMM peak (median GEMM GFLOP/s at
   the same thread count). The load average is sampled after every round and stored.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import Contestant, Worker, interleave, load_all, stats, unload_all  # noqa: E402
from results import (  # noqa: E402,F401  (tests reach them as suite.*)
    COMPILE,
    CPU_TARGETS,
    EAGER,
    GEMM,
    ORT,
    TF_ROUTE,
    _precision,
    add_ratios,
    evaluate_goals,
    markdown,
    peak_table,
    row_order,
    size_rows,
    source_model,
)

SCHEMA = "edge-export-bench/1"
DEFAULT_MODELS = ["swiftformer-xs", "swiftformer-s", "swiftformer-l1", "swiftformer-l3"]
BASE_TARGETS = ["xnnpack-fp32", "tflite-fp32"]
MODEL_OPTS = {"layer_scale_init_value": "1.0"}  # as `make run`: random weights with non-trivial outputs


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------------------------- artifacts


def _current_rewrites(model: str) -> list[str]:
    from edge_export.models import load_model
    from edge_export.models.export_form import export_form

    return export_form(load_model(model, options=dict(MODEL_OPTS)))[1]


def _package_versions() -> dict[str, str]:
    from edge_export.versions import package_versions

    return package_versions()


def artifact_state(path: Path, model: str, rewrites: list[str], versions: dict[str, str]) -> str:
    """'ok', 'missing' or 'stale: why'."""
    from edge_export.artifacts import read_manifest

    if not (path / "manifest.json").is_file():
        return "missing"
    try:
        m = read_manifest(path)
    except Exception as e:  # unreadable manifest: re-export
        return f"stale: unreadable manifest ({type(e).__name__})"
    if m.model_id != model or m.source.kind != "config" or m.source.seed != 0:
        return "stale: another model source"
    if {k: str(v) for k, v in m.source.options.items()} != MODEL_OPTS:
        return f"stale: model options {m.source.options}"
    if m.rewrites != rewrites:
        return "stale: exported with other rewrites"
    for pkg in ("torch", "executorch", "litert-torch", "ai-edge-litert"):
        if m.package_versions.get(pkg) != versions.get(pkg):
            return f"stale: {pkg} {m.package_versions.get(pkg)} != {versions.get(pkg)}"
    if not (path / m.program_file).is_file():
        return "missing"
    return "ok"


def run_measured(cmd: list[str], log_path: Path, timeout: float, env: dict | None = None) -> dict:
    """Run cmd as a child process (output to log_path): exit code, wall seconds, peak RSS and CPU seconds of
    that child including its own waited-for children (os.wait4: the kernel's RUSAGE_BOTH for that pid; unlike
    getrusage(RUSAGE_CHILDREN) it does not mix in earlier children of this process)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with open(log_path, "wb") as logf:
        proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, env=env)
        deadline = start + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.1)
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here: keep Popen from waiting again
    return {
        "exit_code": proc.returncode,
        "wall_s": round(time.perf_counter() - start, 2),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),  # Linux reports KiB
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
    }




def artifact_dir(out: Path, model: str, target: str) -> Path:
    return out / f"{source_model(model, target)}-{target}"


def export_child(model: str, targets: list[str], out: Path, images: int, threads: int, timeout: float) -> dict:
    """Export `targets` of `model` with ONE edge-export CLI call in a child process (what a user runs: the
    model is loaded once): wall time and peak RSS of that call, and each target's in-process seconds."""
    import shutil

    cli = Path(sys.executable).parent / "edge-export"
    cmd = [str(cli)] if cli.exists() else [sys.executable, "-m", "edge_export.cli"]
    cmd += ["export", model, "--out", str(out), "--images", str(images), "--threads", str(threads)]
    for t in targets:
        cmd += ["-t", t]
    for k, v in MODEL_OPTS.items():
        cmd += ["--opt", f"{k}={v}"]
    for t in targets:
        final = out / f"{model}-{t}"
        if final.exists():
            shutil.rmtree(final)  # stale or forced: a failed export must not leave the old artifact looking current
    log_path = out / "bench" / "logs" / f"export-{model}-{'+'.join(targets)}.log"
    rec = {"model": model, "targets": targets,
           **run_measured(cmd, log_path, timeout, env={**os.environ, "COLUMNS": "200"}),
           "log": str(log_path), "validation_images": images,
           "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    from edge_export.artifacts import read_manifest

    rec["export_seconds"] = {t: read_manifest(out / f"{model}-{t}").export_seconds
                             for t in targets if (out / f"{model}-{t}" / "manifest.json").is_file()}
    if rec["exit_code"] != 0 or len(rec["export_seconds"]) != len(targets):
        tail = log_path.read_text(errors="replace").strip().splitlines()[-3:]
        rec["error"] = " | ".join(tail)[-400:] or f"exit code {rec['exit_code']}"
    return rec


def ensure_artifacts(plan: dict[str, list[str]], out: Path, bench_dir: Path, args) -> list[dict]:
    """Export what is missing or stale, one CLI call per source model; return the export-cost records
    (one per CLI call, `targets` it exported) covering every planned artifact."""
    cost_file = bench_dir / "export-cost.json"
    cached: list[dict] = []
    if cost_file.is_file():
        try:
            cached = [c for c in json.loads(cost_file.read_text()) if "targets" in c]
        except Exception:
            cached = []
    versions = _package_versions()
    records, keep = [], []
    for model, targets in plan.items():
        groups: dict[str, list[str]] = {}
        for t in targets:
            groups.setdefault(source_model(model, t), []).append(t)
        for source, ts in groups.items():
            rewrites = _current_rewrites(source)
            states = {t: artifact_state(out / f"{source}-{t}", source, rewrites, versions) for t in ts}
            fresh = model in args.fresh_export_models
            todo = [t for t in ts if states[t] != "ok" or fresh]
            if todo and args.no_export:
                records.append({"model": source, "targets": todo, "error": f"artifacts {states} and --no-export given"})
                todo = []
            if todo:
                why = "; ".join(f"{t}: {'forced by --fresh-export' if fresh and states[t] == 'ok' else states[t]}" for t in todo)
                log(f"exporting {source} -> {', '.join(todo)} ({why})")
                rec = export_child(source, todo, out, args.validate_images, max(args.threads), args.export_timeout)
                rec.update(measured_in_this_run=True, reason=why)
                if "error" in rec:
                    log(f"  FAILED: {rec['error']}")
                else:
                    log(f"  {rec['wall_s']} s wall, {rec['peak_rss_mb']} MB peak RSS")
                records.append(rec)
                keep.append({k: v for k, v in rec.items() if k != "measured_in_this_run"})
            reused = [t for t in ts if t not in todo and states[t] == "ok"]
            for c in cached:  # earlier calls that exported what is reused now
                if c["model"] == source and set(c["targets"]) & set(reused) and c not in keep:
                    keep.append(c)
                    records.append(dict(c, measured_in_this_run=False))
                    reused = [t for t in reused if t not in c["targets"]]
            if reused:
                records.append({"model": source, "targets": reused, "measured_in_this_run": False,
                                "note": "artifact reused; no cost record"})
    bench_dir.mkdir(parents=True, exist_ok=True)
    cost_file.write_text(json.dumps(keep, indent=2))
    return records


# ----------------------------------------------------------------------------------------------------- ONNX


def ensure_onnx(model: str, onnx_dir: Path, exporter: str) -> dict:
    """The user's (stock) module, exported for ONNX Runtime. Cached by model/options/torch version/exporter."""
    import torch

    onnx_dir.mkdir(parents=True, exist_ok=True)
    path = onnx_dir / f"{model}-{exporter}.onnx"
    meta_path = path.with_suffix(".json")
    key = {"model": model, "options": MODEL_OPTS, "torch": torch.__version__, "exporter": exporter, "opset": 17}
    if path.is_file() and meta_path.is_file():
        meta = json.loads(meta_path.read_text())
        if meta.get("key") == key:
            return meta
    from edge_export.models import load_model

    loaded = load_model(model, options=dict(MODEL_OPTS))
    from edge_export.models.loaded import LogitsOnly

    module = LogitsOnly(loaded.module).eval()
    x = torch.zeros(loaded.input_shape())
    start = time.perf_counter()
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (x,), str(path), dynamo=(exporter == "dynamo"), opset_version=17,
                          input_names=["input"], output_names=["logits"])
    meta = {"key": key, "path": str(path), "export_s": round(time.perf_counter() - start, 2),
            "bytes": path.stat().st_size + sum(p.stat().st_size for p in onnx_dir.glob(f"{path.name}.data"))}
    meta_path.write_text(json.dumps(meta, indent=2))
    return meta


# -------------------------------------------------------------------------------------------------- latency


def model_flops(model: str, out: Path, targets: list[str]) -> int:
    from edge_export.artifacts import read_manifest

    for t in targets:
        p = artifact_dir(out, model, t)
        if (p / "manifest.json").is_file():
            m = read_manifest(p)
            if m.flops:
                return int(m.flops)
    from edge_export.models import load_model

    return int(load_model(model, options=dict(MODEL_OPTS)).flops())


def image_size(model: str) -> int:
    from edge_export.models import load_model

    return int(load_model(model, options=dict(MODEL_OPTS)).preprocessing.image_size)


class Workers:
    """One long-lived worker per contestant kind; started lazily, all closed at the end."""

    def __init__(self, log_dir: Path):
        self.log_dir = log_dir
        self.by_kind: dict[str, Worker] = {}

    def get(self, kind: str) -> Worker:
        if kind not in self.by_kind:
            self.by_kind[kind] = Worker(kind, self.log_dir)
        return self.by_kind[kind]

    def close(self) -> None:
        for w in self.by_kind.values():
            w.close()


def run_latency(plan, args, out: Path, bench_dir: Path, onnx: dict, loads: list) -> tuple[list[dict], dict, list[dict]]:
    """Rows (model x contestant x threads), GEMM samples per thread count, and extras (compile/ORT info)."""
    from edge_export.artifacts import read_manifest

    workers = Workers(bench_dir / "logs")
    rows, gemm_times, extras = [], {t: [] for t in args.threads}, []
    try:
        for model, targets in plan.items():
            size = image_size(model)
            flops = model_flops(model, out, targets)
            cs: list[Contestant] = []
            if not args.no_eager:
                cs.append(Contestant(EAGER, workers.get("eager"), {"model": model, "options": MODEL_OPTS, "image_size": size}, flops))
            if model in args.compile_models:
                for t in args.threads:
                    cs.append(Contestant(COMPILE, workers.get(f"compile@{t}"),
                                         {"model": model, "options": MODEL_OPTS, "image_size": size}, flops, only_threads=[t]))
            if model in onnx and "path" in onnx[model]:
                cs.append(Contestant(ORT, workers.get("ort"), {"model": model, "onnx": onnx[model]["path"], "image_size": size}, flops))
            for t in targets:
                p = artifact_dir(out, model, t)
                if (p / "manifest.json").is_file():
                    cs.append(Contestant(t, workers.get(f"artifact:{t}"), {"model": model, "artifact": str(p), "image_size": size}, flops))
            gemm = Contestant(GEMM, workers.get("gemm"), {"model": f"gemm-{model}", "n": args.gemm_n})
            cs.append(gemm)
            log(f"{model}: loading {len(cs)} contestants ({', '.join(c.name for c in cs)})")
            load_all(cs, args.threads, progress=log)
            log(f"{model}: {args.rounds} interleaved rounds x {args.per_round} runs, threads {args.threads}")
            interleave(cs, args.threads, args.rounds, args.per_round, warmup=1, progress=log, loads=loads)
            unload_all(cs)
            for t in args.threads:
                gemm_times[t].extend(gemm.times.get(t, []))
            for c in cs:
                if c.name == GEMM:
                    continue
                info = {"kind": "artifact" if c.name not in (EAGER, COMPILE, ORT) else c.name}
                if info["kind"] == "artifact":
                    m = read_manifest(Path(c.load["artifact"]))
                    info.update(target=m.target, runtime=m.runtime, precision=_precision(m.target), file_bytes=m.file_bytes)
                elif c.name == ORT:
                    info.update(runtime="onnxruntime", precision="fp32", file_bytes=onnx[model].get("bytes"),
                                exporter=args.ort_exporter)
                else:
                    info.update(runtime="pytorch", precision="fp32")
                if c.extra or c.load_s is not None:
                    extras.append({"model": model, "contestant": c.name, "threads": c.only_threads or args.threads,
                                   "load_s": c.load_s, **c.extra})
                for t in c.thread_counts(args.threads):
                    row = {"model": model, "contestant": c.name, "threads": t, **info, "flops": c.flops}
                    if c.error or not c.times.get(t):
                        row["error"] = c.error or "no samples"
                    else:
                        row.update(stats(c.times[t]))
                    rows.append(row)
    finally:
        workers.close()
    return rows, gemm_times, extras


def host_info() -> dict:
    from edge_export.profile.host_info import host_device

    return {**host_device(), "python": platform.python_version()}


# ----------------------------------------------------------------------------------------------------- main


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("artifacts"), help="dir of <model>-<target> artifact dirs")
    ap.add_argument("--bench-dir", type=Path, default=None, help="results/ONNX/logs (default OUT/bench)")
    ap.add_argument("--models", default=",".join(DEFAULT_MODELS))
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--all-targets-models", default="swiftformer-xs", help="models that get every CPU target")
    ap.add_argument("--all-targets", default=",".join(CPU_TARGETS))
    ap.add_argument("--targets", default=",".join(BASE_TARGETS), help="targets for the other models")
    ap.add_argument("--compile-models", default="swiftformer-xs", help="models also run with torch.compile ('' = none)")
    ap.add_argument("--ort-exporter", choices=["legacy", "dynamo"], default="legacy")
    ap.add_argument("--no-ort", action="store_true")
    ap.add_argument("--no-eager", action="store_true")
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--per-round", type=int, default=5)
    ap.add_argument("--gemm-n", type=int, default=2048)
    ap.add_argument("--no-export", action="store_true", help="use what is in --out; never export")
    ap.add_argument("--fresh-export", default="swiftformer-xs",
                    help="models whose targets are re-exported in this run, so their export cost is measured now and "
                         "their artifacts follow the current recipes ('' = reuse what is up to date)")
    ap.add_argument("--validate-images", type=int, default=8, help="images each export validates on (the CLI default)")
    ap.add_argument("--export-timeout", type=float, default=1800)
    ap.add_argument("--goal-model", default="swiftformer-xs")
    ap.add_argument("--goal-threads", type=int, default=2)
    args = ap.parse_args(argv)
    split = lambda s: [x for x in (i.strip() for i in s.split(",")) if x]  # noqa: E731
    args.models = split(args.models)
    args.threads = [int(t) for t in split(args.threads)]
    args.all_targets_models = split(args.all_targets_models)
    args.all_targets = split(args.all_targets)
    args.targets = split(args.targets)
    args.compile_models = split(args.compile_models)
    args.fresh_export_models = split(args.fresh_export)
    args.bench_dir = args.bench_dir or args.out / "bench"
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("USE_TF", "0")
    t0 = time.perf_counter()
    out, bench_dir = args.out, args.bench_dir
    out.mkdir(parents=True, exist_ok=True)
    bench_dir.mkdir(parents=True, exist_ok=True)
    load_start = list(os.getloadavg())
    plan = {m: (args.all_targets if m in args.all_targets_models else args.targets) for m in args.models}

    export_costs = ensure_artifacts(plan, out, bench_dir, args)
    t_export = time.perf_counter() - t0

    onnx = {}
    if not args.no_ort:
        for m in args.models:
            try:
                onnx[m] = ensure_onnx(m, bench_dir / "onnx", args.ort_exporter)
            except Exception as e:
                onnx[m] = {"error": f"{type(e).__name__}: {str(e)[:200]}"}
                log(f"ONNX export of {m} failed: {onnx[m]['error']}")

    loads: list[float] = []
    t1 = time.perf_counter()
    rows, gemm_times, extras = run_latency(plan, args, out, bench_dir, onnx, loads)
    t_latency = time.perf_counter() - t1
    peak = peak_table(gemm_times, args.gemm_n)
    rows.sort(key=lambda r: row_order(r, plan))
    add_ratios(rows, peak)
    sizes = size_rows(rows)
    goals = (evaluate_goals(rows, peak, export_costs, sizes, args.goal_model, args.goal_threads)
             if args.goal_model in args.models else [])
    import numpy as np

    result = {
        "schema": SCHEMA,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "host": host_info(),
        "packages": _package_versions() | _extra_versions(),
        "config": {"models": args.models, "threads": args.threads, "rounds": args.rounds, "per_round": args.per_round,
                   "gemm_n": args.gemm_n, "ort_exporter": args.ort_exporter, "model_options": MODEL_OPTS,
                   "compile_models": args.compile_models, "plan": plan, "batch": 1},
        "load": {"start": load_start, "end": list(os.getloadavg()), "per_round": loads,
                 "rounds_median": float(np.median(loads)) if loads else load_start[0],
                 "rounds_max": float(max(loads)) if loads else load_start[0]},
        "gemm_peak": peak,
        "rows": rows,
        "export_cost": export_costs,
        "onnx": onnx,
        "contestant_info": extras,
        "sizes": sizes,
        "goals": goals,
        "seconds": {"export": round(t_export, 1), "latency": round(t_latency, 1), "total": round(time.perf_counter() - t0, 1)},
        "notes": [
            f"ONNX Runtime runs the user's (stock) model exported with torch.onnx.export(dynamo={args.ort_exporter == 'dynamo'}), "
            "opset 17, CPU execution provider, ORT_ENABLE_ALL, intra-op threads = threads, sequential execution.",
            "eager and torch.compile run the user's (stock) model under torch.inference_mode(); artifacts run the "
            "export form (edge_export.models.export_form) in their own runtime through edge_export.runtimes.",
            "FLOPs = 2 x MACs of the model (manifest, FlopCounterMode); % peak = achieved GFLOP/s / median GEMM GFLOP/s "
            "at the same thread count in this run.",
            f"{TF_ROUTE} is exported from <model>-softmax (transformers' TF port computes only that attention form): "
            "same layers, shapes and FLOPs.",
            "ExecuTorch's XNNPACK threadpool is process-global: its worker reloads the method (untimed) when the "
            "thread count changes.",
        ],
    }
    kernel = bench_dir / "igemm.json"  # benchmarks/igemm_kernel.py (make bench runs it first)
    if kernel.is_file():
        result["kernel_check"] = json.loads(kernel.read_text())
        result["kernel_check_md"] = (bench_dir / "igemm.md").read_text() if (bench_dir / "igemm.md").is_file() else ""
    (bench_dir / "bench.json").write_text(json.dumps(result, indent=2))
    md = markdown(result)
    (bench_dir / "bench.md").write_text(md)
    print(md)
    log(f"wrote {bench_dir / 'bench.json'} and {bench_dir / 'bench.md'} in {result['seconds']['total']:.0f} s "
        f"(exports {t_export:.0f} s, latency {t_latency:.0f} s)")
    failed = [r for r in rows if "error" in r]
    return 1 if failed and len(failed) == len(rows) else 0


def _extra_versions() -> dict[str, str]:
    from edge_export.versions import package_versions

    return package_versions(("onnx", "onnxruntime"))


if __name__ == "__main__":
    sys.exit(main())
