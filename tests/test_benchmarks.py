"""The benchmark suite's machinery on the tiny config: structure and arithmetic, never wall-clock values."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCH))

import harness  # noqa: E402
import suite  # noqa: E402

TINY = "swiftformer-test"


# ------------------------------------------------------------------ pure arithmetic on synthetic rows


def _row(contestant, median, kind="artifact", threads=2, flops=1_000_000_000, **kw):
    return {"model": "m", "contestant": contestant, "threads": threads, "kind": kind, "flops": flops,
            "median_ms": median, "min_ms": median * 0.9, **kw}


def test_ratios_are_consistent():
    rows = [_row("eager", 40.0, kind="eager"), _row("onnxruntime", 16.0, kind="onnxruntime"),
            _row("xnnpack-fp32", 14.0, target="xnnpack-fp32", file_bytes=14_000_000),
            _row("tflite-fp32", 10.0, target="tflite-fp32", file_bytes=14_000_000)]
    peak = {"2": {"gflops_median": 125.0}}
    suite.add_ratios(rows, peak)
    by = {r["contestant"]: r for r in rows}
    assert by["eager"]["x_eager"] == 1.0 and by["onnxruntime"]["x_ort"] == 1.0
    assert [r["contestant"] for r in rows if r["best"]] == ["tflite-fp32"]
    for r in rows:
        assert r["x_eager"] == pytest.approx(r["median_ms"] / 40.0)
        assert r["x_ort"] == pytest.approx(r["median_ms"] / 16.0)
        assert r["x_best"] == pytest.approx(r["median_ms"] / 10.0)
        assert r["gflops"] == pytest.approx(1e9 / (r["median_ms"] / 1e3) / 1e9)
        assert r["pct_of_peak"] == pytest.approx(100 * r["gflops"] / 125.0)
    assert by["tflite-fp32"]["pct_of_peak"] == pytest.approx(80.0)


def test_goals_and_sizes():
    rows = [_row("onnxruntime", 16.0, kind="onnxruntime"),
            _row("xnnpack-fp32", 12.0, target="xnnpack-fp32", file_bytes=14_000_000),
            _row("tflite-fp32", 11.0, target="tflite-fp32", file_bytes=14_000_000),
            _row("xnnpack-int8", 13.0, target="xnnpack-int8", file_bytes=3_500_000)]
    suite.add_ratios(rows, {"2": {"gflops_median": 100.0}})
    sizes = suite.size_rows(rows)
    assert {s["target"]: s["x_fp32"] for s in sizes}["xnnpack-int8"] == pytest.approx(0.25)
    own = [t for t in suite.CPU_TARGETS if t != suite.TF_ROUTE]
    costs = [{"model": "m", "targets": own, "wall_s": 70.0, "export_seconds": {t: 10.0 for t in own}},
             {"model": "m-softmax", "targets": [suite.TF_ROUTE], "wall_s": 40.0, "export_seconds": {suite.TF_ROUTE: 30.0}},
             {"model": "other", "targets": own, "wall_s": 99.0}]
    goals = {g["goal"].split(": ", 1)[1]: g for g in suite.evaluate_goals(rows, {}, costs, sizes, model="m", threads=2)}
    assert goals["xnnpack-fp32 / tflite-fp32 (median)"]["value"] == pytest.approx(12 / 11)
    assert goals["xnnpack-fp32 / tflite-fp32 (median)"]["holds"] is False
    assert goals["xnnpack-fp32 / onnxruntime (median)"]["holds"] is True
    assert goals["export of all CPU targets, s (wall of the edge-export calls)"]["value"] == 110.0
    partial = suite.evaluate_goals(rows, {}, costs[:1], sizes, model="m", threads=2)
    assert [g["value"] for g in partial if "export of all" in g["goal"]] == [None]  # the TF route is missing
    assert goals["xnnpack-int8 size / fp32"]["holds"] is True
    fastest = goals["fastest artifact, % of GEMM peak"]
    assert fastest["detail"] == "tflite-fp32" and fastest["value"] == pytest.approx(1e9 / 0.011 / 1e9)


def test_run_measured_reports_the_childs_peak_rss(tmp_path):
    code = "b = bytearray(200 * 1024 * 1024); b[::4096] = b'x' * len(b[::4096]); print('done')"
    rec = suite.run_measured([sys.executable, "-c", code], tmp_path / "child.log", timeout=120)
    assert rec["exit_code"] == 0 and rec["wall_s"] > 0 and rec["cpu_s"] >= 0
    assert rec["peak_rss_mb"] >= 200
    assert (tmp_path / "child.log").read_text().strip() == "done"
    rec = suite.run_measured([sys.executable, "-c", "import sys; sys.exit(3)"], tmp_path / "fail.log", timeout=120)
    assert rec["exit_code"] == 3


# ------------------------------------------------------------------ worker protocol


def test_worker_keeps_serving_after_an_error(tmp_path):
    w = harness.Worker("gemm", tmp_path)
    try:
        assert w.call(cmd="load", model="g", n=64, threads=[1])["ok"]
        reply = w.call(cmd="run", model="g", threads=1, n=3, warmup=0)
        assert reply["ok"] and len(reply["times_ms"]) == 3 and all(t > 0 for t in reply["times_ms"])
        bad = w.call(cmd="run", model="not-loaded", threads=1, n=1)
        assert not bad["ok"] and "not-loaded" in bad["error"]
        assert not w.call(cmd="frobnicate")["ok"]
        assert w.call(cmd="run", model="g", threads=1, n=1, warmup=0)["ok"]  # still serving
        assert w.call(cmd="unload", model="g")["ok"]
    finally:
        w.close()
    assert w.proc.returncode == 0


# ------------------------------------------------------------------ the whole suite, tiny and quick


@pytest.fixture(scope="module")
def tiny_bench(tiny_artifacts, tmp_path_factory):
    """Suite run on the session's tiny XNNPACK artifacts (reused: --no-export), 1 thread, 2 rounds."""
    out = tmp_path_factory.mktemp("bench")
    for name in ("xnnpack-fp32", "xnnpack-int8"):
        shutil.copytree(tiny_artifacts[name], out / f"{TINY}-{name}")
    code = suite.main([
        "--out", str(out), "--models", TINY, "--all-targets-models", TINY,
        "--all-targets", "xnnpack-fp32,xnnpack-int8", "--threads", "1", "--rounds", "2", "--per-round", "2",
        "--gemm-n", "128", "--compile-models", "", "--no-export", "--goal-model", TINY, "--goal-threads", "1",
    ])
    assert code == 0
    bench = out / "bench"
    return json.loads((bench / "bench.json").read_text()), (bench / "bench.md").read_text(), out


def test_bench_json_structure(tiny_bench):
    result, _, _ = tiny_bench
    assert result["schema"] == suite.SCHEMA
    for key in ("created_at", "host", "packages", "config", "load", "gemm_peak", "rows", "export_cost", "sizes",
                "goals", "seconds", "notes"):
        assert key in result, key
    assert result["config"]["threads"] == [1] and result["config"]["batch"] == 1
    assert set(result["load"]) >= {"start", "end", "per_round", "rounds_median"}
    assert len(result["load"]["per_round"]) == 2 and len(result["load"]["start"]) == 3
    assert {"onnxruntime", "onnx"} <= set(result["packages"])
    peak = result["gemm_peak"]["1"]
    assert peak["n"] == 128 and peak["flops"] == 2 * 128**3 and peak["gflops_best"] >= peak["gflops_median"] > 0
    assert result["onnx"][TINY]["key"]["exporter"] == "legacy"


def test_bench_rows_and_ratios(tiny_bench):
    result, _, _ = tiny_bench
    rows = result["rows"]
    assert [r["contestant"] for r in rows] == ["eager", "onnxruntime", "xnnpack-fp32", "xnnpack-int8"]
    by = {r["contestant"]: r for r in rows}
    for r in rows:
        assert "error" not in r, r
        assert r["model"] == TINY and r["threads"] == 1 and r["n"] == 4  # 2 rounds x 2 runs
        assert 0 < r["min_ms"] <= r["median_ms"]
        assert r["x_eager"] == pytest.approx(r["median_ms"] / by["eager"]["median_ms"])
        assert r["x_ort"] == pytest.approx(r["median_ms"] / by["onnxruntime"]["median_ms"])
        assert r["x_best"] >= 1.0
        assert r["pct_of_peak"] == pytest.approx(100 * r["gflops"] / result["gemm_peak"]["1"]["gflops_median"])
        assert r["flops"] == by["eager"]["flops"] > 0
    assert sum(r["best"] for r in rows) == 1 and min(r["x_best"] for r in rows) == 1.0
    assert by["xnnpack-int8"]["runtime"] == "executorch" and by["xnnpack-int8"]["precision"] == "int8"
    assert by["onnxruntime"]["exporter"] == "legacy" and by["onnxruntime"]["file_bytes"] > 0


def test_bench_sizes_costs_goals(tiny_bench):
    result, _, _ = tiny_bench
    sizes = {s["target"]: s for s in result["sizes"]}
    assert sizes["xnnpack-int8"]["x_fp32"] == pytest.approx(sizes["xnnpack-int8"]["bytes"] / sizes["xnnpack-fp32"]["bytes"])
    assert sorted(t for c in result["export_cost"] for t in c["targets"]) == ["xnnpack-fp32", "xnnpack-int8"]
    assert all(c["measured_in_this_run"] is False for c in result["export_cost"])  # --no-export: reused
    names = [g["goal"] for g in result["goals"]]
    assert any("xnnpack-int8 size / fp32" in n for n in names)
    for g in result["goals"]:
        assert g["holds"] in (True, False, None) and g["limit"].split()[0] in ("<=", ">=")


def test_bench_markdown_table(tiny_bench):
    result, md, _ = tiny_bench
    assert "| model | threads | contestant | median ms |" in md
    table = [line for line in md.splitlines() if line.startswith(f"| {TINY} | 1 |")]
    assert len(table) == len(result["rows"])
    assert "GEMM peak" in md and "## Sizes" in md and "## Goals" in md


def test_tf_route_comes_from_the_softmax_model(tmp_path):
    assert suite.source_model("swiftformer-xs", suite.TF_ROUTE) == "swiftformer-xs-softmax"
    assert suite.source_model("swiftformer-xs", "xnnpack-fp32") == "swiftformer-xs"
    assert suite.artifact_dir(tmp_path, "swiftformer-s", suite.TF_ROUTE) == tmp_path / "swiftformer-s-softmax-tf-tflite-fp32"


def test_missing_artifacts_are_exported_in_one_measured_call(tmp_path):
    """ensure_artifacts exports what is missing with one edge-export call per model (real export, tiny)."""
    args = suite.parse_args(["--out", str(tmp_path), "--threads", "1", "--validate-images", "2"])
    records = suite.ensure_artifacts({TINY: ["xnnpack-fp32"]}, tmp_path, tmp_path / "bench", args)
    assert len(records) == 1, records
    rec = records[0]
    assert "error" not in rec, rec
    assert rec["targets"] == ["xnnpack-fp32"] and rec["measured_in_this_run"] is True and rec["exit_code"] == 0
    assert rec["wall_s"] > rec["export_seconds"]["xnnpack-fp32"] > 0 and rec["peak_rss_mb"] > 100
    assert (tmp_path / f"{TINY}-xnnpack-fp32" / "manifest.json").is_file()
    # a second run reuses the artifact and reports the cached cost of the call that made it
    again = suite.ensure_artifacts({TINY: ["xnnpack-fp32"]}, tmp_path, tmp_path / "bench", args)
    assert [r["measured_in_this_run"] for r in again] == [False] and again[0]["wall_s"] == rec["wall_s"]


@pytest.mark.timeout(180)
def test_dashboard_shows_the_benchmark_in_a_browser(tiny_bench, tmp_path):
    """The dashboard of the bench's --out folder shows bench.json: table, goals and plots, in Chromium."""
    import re

    import browser

    from edge_export.report.dashboard import build_dashboard

    result, _, out = tiny_bench
    html_path = build_dashboard([out], tmp_path / "report.html")
    doc = html_path.read_text()
    table = doc[doc.index("id='bench-table'"):]
    table = table[: table.index("</table>")]
    assert table.count("<tr>") == 1 + len(result["rows"])
    for r in result["rows"]:
        assert f"<td class='num'>{r['median_ms']:.2f}</td>" in table
    fig_ids = re.findall(r"id=\"(bench1-[a-z]+-1)\"", doc)
    assert sorted(set(fig_ids)) == ["bench1-latency-1", "bench1-peak-1"]
    if browser.find_chromium() is None:
        pytest.skip("Debian's chromium is not installed: browser check not run")
    with browser.Chromium.launch(tmp_path / "chromium", width=1400, height=1000) as b:
        page = b.open(html_path.resolve().as_uri())
        bars = page.wait_for(
            "(() => { const g = document.getElementById('bench1-latency-1');"
            " return g && g.querySelector('svg.main-svg') ? g.querySelectorAll('.trace.bars .point path').length : 0; })()",
            timeout=20)
        assert bars == len(result["rows"])  # one bar per contestant (one model, one thread count)
        assert page.exceptions == [] and page.console_errors == [], (page.exceptions, page.console_errors)
