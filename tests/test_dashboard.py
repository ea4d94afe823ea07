"""The offline HTML dashboard: schema tests on synthetic SwiftFormer-XS profiles, and a real browser.

Profiles are built here from the schema (module paths of the transformers SwiftFormer-XS tree, two
backends plus an eager baseline); the end-to-end test on real profiles lives with the collectors.
The browser test loads the report in headless Debian Chromium over the DevTools protocol
(tests/browser.py) and checks that every plot rendered, that real mouse clicks drill the per-layer
heatmap down (stage -> blocks -> layers) and back up, nothing was logged as an error, and no network
request left the file.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("plotly")

from edge_export.artifacts import (  # noqa: E402
    Delegation,
    Manifest,
    Parity,
    Preprocessing,
    SourceSpec,
    TensorSpec,
    write_manifest,
)
from edge_export.errors import EdgeExportError  # noqa: E402
from edge_export.report.dashboard import SIM_MARK, build_dashboard, collect  # noqa: E402
from edge_export.report.dashboard.verdict import verdict  # noqa: E402
from edge_export.profile.rollup import UNATTRIBUTED, ModuleTree, kind_totals, rollup  # noqa: E402
from edge_export.profile.schema import NumericGap, OpRow, Profile, Provenance, Stats, save_profile  # noqa: E402

MODEL = "swiftformer-xs-softmax"
DEPTHS = (3, 3, 6, 4)
DIMS = (48, 56, 112, 220)
SIZES = (56, 28, 14, 7)


# ------------------------------------------------------------------------------------------
# synthetic but realistic profiles
# ------------------------------------------------------------------------------------------


def swiftformer_xs_ops() -> list[tuple[str | None, str, str, float]]:
    """(module_path, op name, kind, relative cost) in runtime order for the transformers XS tree."""
    ops: list[tuple[str | None, str, str, float]] = []
    pe = "swiftformer.patch_embed.patch_embedding"
    ops += [(f"{pe}.0", "Convolution (NHWC, F32) IGEMM", "conv", 6.0), (f"{pe}.2", "Clamp (NC)", "relu", 0.4),
            (f"{pe}.3", "Convolution (NHWC, F32) IGEMM", "conv", 5.0), (f"{pe}.5", "Clamp (NC)", "relu", 0.2)]
    net = 0
    for s, (depth, dim, hw) in enumerate(zip(DEPTHS, DIMS, SIZES)):
        scale = hw * hw * dim / (56 * 56 * 48)
        for b in range(depth):
            blk = f"swiftformer.encoder.network.{net}.blocks.{b}"
            last = b == depth - 1
            conv = f"{blk}.local_representation" if last else blk
            ops += [
                (f"{conv}.depth_wise_conv", "Convolution (NHWC, F32) DWConv", "conv", 1.2 * scale),
                (f"{conv}.point_wise_conv1", "Fully Connected (NC, F32) GEMM", "gemm", 2.5 * scale),
                (f"{conv}.act", "GELU (NC)", "gelu", 0.9 * scale),
                (f"{conv}.point_wise_conv2", "Fully Connected (NC, F32) GEMM", "gemm", 2.5 * scale),
                (conv, "Multiply (ND)", "mul", 0.2 * scale),
                (conv, "Add (ND)", "add", 0.2 * scale),
            ]
            if last:
                ops += [
                    (f"{blk}.attn.to_query", "Fully Connected (NC, F32) GEMM", "gemm", 1.0 * scale),
                    (f"{blk}.attn.to_key", "Fully Connected (NC, F32) GEMM", "gemm", 1.0 * scale),
                    (f"{blk}.attn", "Square Root (NC)", "normalize", 0.5 * scale),
                    (f"{blk}.attn", "Multiply (ND)", "mul", 0.3 * scale),
                    (f"{blk}.attn", "Sum (ND)", "reduce", 0.3 * scale),
                    (f"{blk}.attn.proj", "Fully Connected (NC, F32) GEMM", "gemm", 1.0 * scale),
                    (f"{blk}.attn.final", "Fully Connected (NC, F32) GEMM", "gemm", 1.0 * scale),
                    (f"{blk}.linear.fc1", "Fully Connected (NC, F32) GEMM", "gemm", 3.0 * scale),
                    (f"{blk}.linear.act", "GELU (NC)", "gelu", 1.2 * scale),
                    (f"{blk}.linear.fc2", "Fully Connected (NC, F32) GEMM", "gemm", 3.0 * scale),
                    (blk, "Add (ND)", "add", 0.3 * scale),
                ]
        net += 1
        if s < len(DEPTHS) - 1:
            ds = f"swiftformer.encoder.network.{net}"
            ops += [(f"{ds}.proj", "Convolution (NHWC, F32) IGEMM", "conv", 1.5 * scale)]
            net += 1
    ops += [("norm", "Multiply (ND)", "normalize", 0.05), ("", "Mean (ND)", "pool", 0.05),
            ("head", "Fully Connected (NC, F32) GEMM", "gemm", 0.3), ("dist_head", "Fully Connected (NC, F32) GEMM", "gemm", 0.3),
            ("", "Add (ND)", "add", 0.01)]
    return ops


def make_profile(
    target: str,
    runtime: str,
    *,
    sha: str,
    ms_per_unit: float,
    where: str = "host",
    device: dict | None = None,
    simulator: bool = False,
    runs: int = 30,
    seed: int = 0,
    kind_scale: dict[str, float] | None = None,
    unattributed: int = 0,
    gap: bool = False,
    collector: str = "executorch-etdump",
) -> Profile:
    rng = np.random.default_rng(seed)
    kind_scale = kind_scale or {}
    rows = []
    for i, (path, name, kind, cost) in enumerate(swiftformer_xs_ops()):
        base = cost * ms_per_unit * kind_scale.get(kind, 1.0)
        vals = base * (1 + 0.05 * rng.standard_normal(runs)).clip(0.5)
        rows.append(OpRow(name=f"{name} #{i}", kind=kind, index=i, stats=Stats.of(vals), module_path=path,
                          attribution="exact" if path is not None else "unattributed"))
    for j in range(unattributed):
        vals = 0.2 * ms_per_unit * (1 + 0.05 * rng.standard_normal(runs)).clip(0.5)
        rows.append(OpRow(name=f"Convert (NC, F32, QS8) #{j}", kind="quantize", index=len(rows), stats=Stats.of(vals),
                          module_path=None, attribution="unattributed", reason="inserted by the quantizer"))
    total = sum(r.stats.median for r in rows)
    lat = total * 1.08 * (1 + 0.04 * np.abs(rng.standard_normal(runs)))
    numeric_gap = None
    if gap:
        numeric_gap = []
        net = 0
        for s, depth in enumerate(DEPTHS):
            for b in range(depth):
                err = 1e-3 * (1 + net + b) * (1 + 0.3 * rng.random())
                numeric_gap.append(NumericGap(module_path=f"swiftformer.encoder.network.{net}.blocks.{b}",
                                              cosine=1 - err**2, max_abs=err * 8, rel_l2=err))
            net += 2
    return Profile(
        provenance=Provenance(
            where=where,
            device=device or {"cpu_model": "AMD EPYC 7B13", "cores": "2"},
            runtime=runtime,
            runtime_version={"executorch": "1.5.1", "litert": "2.3.0", "pytorch-eager": "2.13.0", "qnn": "2.37.1"}.get(runtime),
            collector=collector,
            simulator=simulator,
            model_id=MODEL,
            target=target,
            artifact_sha256=sha,
            threads=2,
            runs=runs,
            warmup=3,
            collected_at="2025-11-24T10:00:00Z",
        ),
        latency_ms=[float(x) for x in lat],
        latency=Stats.of(lat),
        load_ms=12.5,
        first_run_ms=float(lat[0] * 1.7),
        rows=rows,
        numeric_gap=numeric_gap,
    )


def make_artifact(root: Path, target: str, runtime: str, *, delegated: int, fallback: int,
                  fallback_ops: dict[str, int] | None = None, cosine: float = 0.99995) -> tuple[Path, str]:
    d = root / f"{MODEL}-{target}"
    d.mkdir(parents=True)
    program = b"\x00PTE" + target.encode() * 4096
    fname = "model.pte" if runtime == "executorch" else "model.tflite"
    (d / fname).write_bytes(program)
    sha = hashlib.sha256(program).hexdigest()
    m = Manifest(
        model_id=MODEL,
        source=SourceSpec(kind="config", model_id=MODEL, seed=0, attention_form="softmax"),
        target=target,
        runtime=runtime,
        program_file=fname,
        file_sha256=sha,
        file_bytes=len(program),
        inputs=[TensorSpec(name="pixel_values", shape=[1, 3, 224, 224], dtype="float32", layout="NCHW")],
        outputs=[TensorSpec(name="logits", shape=[1, 1000], dtype="float32", layout="NC")],
        preprocessing=Preprocessing(image_size=224),
        num_classes=1000,
        params=3_475_560,
        flops=608_000_000,
        package_versions={"torch": "2.13.0", runtime: "1.5.1"},
        export_seconds=41.7,
        created_at="2025-11-24T09:30:00Z",
        delegation=Delegation(backend="XnnpackBackend" if "xnnpack" in target else "QnnBackend", subgraphs=1 + fallback,
                              delegated_nodes=delegated, fallback_nodes=fallback, fallback_ops=fallback_ops or {}),
        parity=Parity(images=64, image_source="skimage.data", threads=2, max_abs=0.004, rel_l2=0.002,
                      cosine_min=cosine, cosine_mean=(1 + cosine) / 2, top1_agree=0.984, top5_overlap=0.99,
                      reference="pytorch-eager fp32", cosine_threshold=0.999, passed=True,
                      measured_at="2025-11-24T09:40:00Z"),
    )
    write_manifest(d, m)
    return d, sha


@pytest.fixture
def workspace(tmp_path: Path) -> dict[str, Path]:
    """Two artifact dirs (XNNPACK fp32 on host, QNN HTP int8 in the simulator) + an eager profile."""
    arts = tmp_path / "artifacts"
    xnn, xnn_sha = make_artifact(arts, "xnnpack-fp32", "executorch", delegated=412, fallback=0)
    qnn, qnn_sha = make_artifact(arts, "qnn-htp-int8", "executorch", delegated=396, fallback=2,
                                 fallback_ops={"aten.mean.dim": 1, "aten.linalg_vector_norm.default": 1}, cosine=0.9962)
    save_profile(make_profile("xnnpack-fp32", "executorch", sha=xnn_sha, ms_per_unit=0.05, seed=1),
                 xnn / "profile-host.json")
    save_profile(make_profile("qnn-htp-int8", "executorch", sha=qnn_sha, ms_per_unit=0.9, seed=2, simulator=True,
                              collector="qnn-htp-simulator", kind_scale={"gelu": 3.0, "normalize": 4.0, "gemm": 0.5},
                              unattributed=6, gap=True), qnn / "profile-host.json")
    eager = tmp_path / "eager.json"
    save_profile(make_profile("eager", "pytorch-eager", sha="0" * 64, ms_per_unit=0.1, seed=3,
                              collector="torch-profiler"), eager)
    return {"root": tmp_path, "artifacts": arts, "xnn": xnn, "qnn": qnn, "eager": eager}


def figures(doc: str) -> dict[str, tuple[list, dict]]:
    """{div id: (traces, layout)} of every Plotly.newPlot call in the report."""
    out = {}
    dec = json.JSONDecoder()
    for m in re.finditer(r'Plotly\.newPlot\(\s*"([^"]+)",\s*', doc):
        data, end = dec.raw_decode(doc, m.end())
        rest = re.match(r",\s*", doc[end:])
        layout, _ = dec.raw_decode(doc, end + rest.end())
        out[m.group(1)] = (data, layout)
    return out


def layers_data(doc: str) -> dict:
    """The per-layer table the page embeds for its heatmap and bars (layers.py)."""
    m = re.search(r'<script type="application/json" id="layers-data">(.*?)</script>', doc, re.S)
    return json.loads(m.group(1).replace("<\\/", "</"))


# ------------------------------------------------------------------------------------------
# roll-ups
# ------------------------------------------------------------------------------------------


def test_rollup_levels_follow_the_module_tree():
    hf = [p for p, *_ in swiftformer_xs_ops()]
    t = ModuleTree(hf)
    q = "swiftformer.encoder.network.6.blocks.3.attn.to_query"
    assert t.key(q, "stage") == "swiftformer.encoder.network.6"
    assert t.key(q, "block") == "swiftformer.encoder.network.6.blocks.3"
    assert t.key(q, "layer") == q
    assert t.key(q, 3) == "swiftformer.encoder.network"
    # downsampling between stages is its own stage and stays whole at block level
    assert t.key("swiftformer.encoder.network.1.proj", "stage") == "swiftformer.encoder.network.1"
    assert t.key("swiftformer.encoder.network.1.proj", "block") == "swiftformer.encoder.network.1"
    # outside the stage list: cut below the deepest ancestor shared with it; numbered leaves are not stages
    assert t.key("swiftformer.patch_embed.patch_embedding.3", "stage") == "swiftformer.patch_embed"
    assert t.key("swiftformer.patch_embed.patch_embedding.3", "block") == "swiftformer.patch_embed"
    assert t.key("head", "stage") == "head"
    assert t.key("", "stage") == "(root)"
    assert t.key(None, "block") == UNATTRIBUTED
    # the original tree (network.N.M...) rolls up the same way
    orig = ["patch_embed.0", "patch_embed.3", "network.0.0.dwconv", "network.0.2.attn.to_query", "network.1.proj",
            "network.2.1.pwconv1", "norm", "head"]
    t2 = ModuleTree(orig)
    assert t2.key("network.0.2.attn.to_query", "stage") == "network.0"
    assert t2.key("network.0.2.attn.to_query", "block") == "network.0.2"
    assert t2.key("patch_embed.3", "stage") == "patch_embed"
    assert t2.key("network.1.proj", "block") == "network.1"


def test_rollup_sums_to_the_op_total_in_model_order():
    p = make_profile("xnnpack-fp32", "executorch", sha="a" * 64, ms_per_unit=0.05, unattributed=3)
    total = p.op_total_ms()
    for level in ("stage", "block", "layer", 2):
        mods = rollup(p.rows, level)
        assert sum(m.ms for m in mods) == pytest.approx(total)
        assert sum(m.ops for m in mods) == len(p.rows)
    stages = [m.key for m in rollup(p.rows, "stage")]
    assert stages[:3] == ["swiftformer.patch_embed", "swiftformer.encoder.network.0", "swiftformer.encoder.network.1"]
    assert stages.index("swiftformer.encoder.network.6") < stages.index("head")
    assert stages[-1] == UNATTRIBUTED
    assert len(rollup(p.rows, "block")) == 1 + 16 + 3 + 4 + 1  # stem, blocks, downsamples, norm/root/head/dist_head, unattributed
    kinds = kind_totals(p.rows)
    assert list(kinds)[0] == "gemm" and sum(kinds.values()) == pytest.approx(total)


# ------------------------------------------------------------------------------------------
# the report
# ------------------------------------------------------------------------------------------


def test_two_backends_both_shown(workspace):
    out = build_dashboard([workspace["xnn"], workspace["qnn"], workspace["eager"]], workspace["root"] / "report.html")
    doc = out.read_text()
    figs = figures(doc)
    assert set(figs) == {"fig-kinds", "fig-latency", "fig-gap"}  # the per-layer figures are drawn by layers.js
    data = layers_data(doc)
    cols = data["cols"]
    assert len(cols) == 3
    assert any(c.startswith("xnnpack-fp32<br>@ host") for c in cols)
    assert any(c.startswith("qnn-htp-int8<br>@ host") and c.endswith("⚠SIM") for c in cols)
    assert any(c.startswith("eager<br>@ host") for c in cols)
    # a simulator next to a CPU (>4x apart in op time): the view starts in shares of each column's op time
    assert data["unit"] == "pct" and 'class="lvl active" data-unit-btn="layers:pct"' in doc
    levels = data["levels"]
    stages = [r["k"] for r in levels["stage"]]
    assert stages[:2] == ["swiftformer.patch_embed", "swiftformer.encoder.network.0"] and stages[-1] == UNATTRIBUTED
    assert len(levels["block"]) == 1 + 16 + 3 + 4 + 1 and data["top"] == 15
    # every module links to its parent one level up (the drill-down), and every level sums to each op total
    assert all(r["p"] is None for r in levels["stage"])
    assert {r["p"] for r in levels["block"]} <= set(stages)
    assert {r["p"] for r in levels["layer"]} <= {r["k"] for r in levels["block"]}
    for rows in levels.values():
        for j, total in enumerate(data["total"]):
            assert sum(r["ms"][j] or 0 for r in rows) == pytest.approx(total, rel=1e-5)
    # the same module keys for every backend, the most expensive XNNPACK block is in stage 0
    xi = next(j for j, c in enumerate(cols) if c.startswith("xnnpack"))
    qi = next(j for j, c in enumerate(cols) if c.startswith("qnn"))
    xnn = {r["k"]: r["ms"][xi] for r in levels["block"]}
    qnn = {r["k"]: r["ms"][qi] for r in levels["block"]}
    assert xnn["swiftformer.encoder.network.6.blocks.3"] > 0 and xnn[UNATTRIBUTED] is None and qnn[UNATTRIBUTED] > 0
    assert max((k for k in xnn if xnn[k]), key=xnn.get).startswith("swiftformer.encoder.network.0.blocks.")
    # the verdict: one line for the model, measured on the host; the simulator is not ranked
    v = doc[doc.index("id='verdict'"):doc.index("</ul>", doc.index("id='verdict'"))]
    assert v.count("<li>") == 1 and "fastest of 1 <b>xnnpack-fp32</b>" in v and "it is the fp32 artifact" in v
    assert re.search(r"<b>0\.\d\d×</b> eager", v) and "cosine min 0.99995" in v and "0.05 MB" in v
    assert "not ranked: 1 simulator profile" in v
    # op kinds: one trace per kind, one bar per backend
    kinds = figs["fig-kinds"][0]
    assert {"gemm", "conv", "gelu", "quantize"} <= {t["name"] for t in kinds} and all(len(t["y"]) == 3 for t in kinds)
    # latency distribution: one box per profile over its runs
    boxes = figs["fig-latency"][0]
    assert [t["type"] for t in boxes] == ["box"] * 3 and all(len(t["y"]) == 30 for t in boxes)
    # numeric gap only from the profile that has it
    assert len(figs["fig-gap"][0]) == 1 and len(figs["fig-gap"][0][0]["y"]) == 16
    # overview: both artifacts, sizes, delegation, parity, simulator mark, ratio to eager on the host run only
    table = doc[doc.index('id="overview"'):doc.index("</table>", doc.index('id="overview"'))]
    rows = table.split("<tr")[2:]
    assert len(rows) == 3  # eager + two artifacts
    xrow = next(r for r in rows if "xnnpack-fp32" in r)
    qrow = next(r for r in rows if "qnn-htp-int8" in r)
    assert "100.0%</b> of nodes delegated (412/412)" in xrow and "cosine min 0.99995" in xrow
    assert re.search(r"<b>0\.\d\d×</b>", xrow), "XNNPACK gets a ratio to the host eager run"
    assert SIM_MARK in qrow and "simulator time: no ratio" in qrow and "aten.mean.dim×1" in qrow
    assert 'class="simrow"' in qrow
    # provenance for every cited source
    for cid in re.findall(r'href="#prov-([AP]\d+)"', doc):
        assert f"id='prov-{cid}'" in doc
    assert "AMD EPYC 7B13" in doc and "qnn-htp-simulator" in doc and "2025-11-24T10:00:00Z" in doc
    assert "id='sim-banner'" in doc
    # offline: plotly.js inline, nothing referenced from elsewhere
    assert "<script src" not in doc and "<link" not in doc and "cdn.plot.ly/plotly" not in doc
    assert len(doc) > 3_000_000  # plotly.js is embedded


def test_directory_of_artifacts_and_explicit_eager(workspace):
    arts, profiles, eager, _ = collect([workspace["artifacts"]], eager_profile=workspace["eager"])
    assert [a.manifest.target for a in arts] == ["qnn-htp-int8", "xnnpack-fp32"]
    assert eager is not None and eager.is_eager and profiles[0] is eager
    assert all(p.artifact is not None for p in profiles if not p.is_eager)
    # an eager profile kept inside an artifact dir is not that artifact's measurement
    (workspace["xnn"] / "profile-eager.json").write_text(workspace["eager"].read_text())
    _, profiles3, _, _ = collect([workspace["xnn"]])
    assert [(p.is_eager, p.artifact is None) for p in profiles3] == [(True, True), (False, False)]
    (workspace["xnn"] / "profile-eager.json").unlink()
    # a loose profile file joins its artifact by program hash; given twice, it counts once
    _, profiles2, _, _ = collect([workspace["xnn"] / "profile-host.json", workspace["xnn"]])
    assert len(profiles2) == 1 and profiles2[0].artifact.manifest.target == "xnnpack-fp32"


def test_eager_ratio_only_at_the_same_place(workspace, tmp_path):
    dev = make_profile("xnnpack-fp32", "executorch", sha="b" * 64, ms_per_unit=0.2, where="adb:R5CT1234",
                       device={"model": "SM-S918B", "soc": "SM8550", "android_version": "14"}, collector="android-app")
    p = tmp_path / "device.json"
    save_profile(dev, p)
    doc = build_dashboard([p, workspace["eager"]], tmp_path / "r.html").read_text()
    assert "eager ran on host, this on adb:R5CT1234" in doc
    assert "SM-S918B" in doc and SIM_MARK not in doc


def test_verdict_compares_with_fp32_and_names_missing_numbers(workspace):
    int8, sha = make_artifact(workspace["artifacts"], "xnnpack-int8", "executorch", delegated=400, fallback=0,
                              cosine=0.998)
    save_profile(make_profile("xnnpack-int8", "executorch", sha=sha, ms_per_unit=0.025, seed=4), int8 / "profile-host.json")
    v = verdict(*collect([workspace["artifacts"]])[:3])
    assert "fastest of 2 <b>xnnpack-int8</b>" in v and re.search(r"<b>0\.\d\d×</b> xnnpack-fp32", v)
    assert "vs eager: no eager profile given" in v and "cosine min 0.99800" in v
    v = verdict(*collect([workspace["artifacts"]], eager_profile=workspace["eager"])[:3])
    assert re.search(r"<b>0\.2\d×</b> eager", v)
    # a loose profile without its manifest, and a model timed only in a simulator
    v = verdict(*collect([int8 / "profile-host.json"])[:3])
    assert "fidelity unknown (no artifact manifest)" in v and "size unknown (no artifact manifest)" in v
    v = verdict(*collect([workspace["qnn"]])[:3])
    assert "no measured artifact profile — 1 artifact, 1 simulator profile (not device latency)" in v


def test_stale_and_incomplete_profiles_are_flagged(workspace):
    p = make_profile("xnnpack-fp32", "executorch", sha="c" * 64, ms_per_unit=0.05)
    p.complete = False
    save_profile(p, workspace["xnn"] / "profiles-old.json")
    doc = build_dashboard([workspace["xnn"]], workspace["root"] / "r.html").read_text()
    assert "the profile is stale" in doc and "INCOMPLETE" in doc


def test_report_written_atomically_and_replaced(workspace):
    out = workspace["root"] / "out" / "report.html"
    build_dashboard([workspace["xnn"]], out)
    first = out.stat().st_ino
    build_dashboard([workspace["qnn"]], out)
    assert out.stat().st_ino != first and "qnn-htp-int8" in out.read_text()
    assert [p.name for p in out.parent.iterdir()] == ["report.html"]


def test_manifest_only_report_has_no_figures(workspace, tmp_path):
    (workspace["xnn"] / "profile-host.json").unlink()
    doc = build_dashboard([workspace["xnn"]], tmp_path / "r.html").read_text()
    assert figures(doc) == {} and "not profiled" in doc and "No profile has per-op rows" in doc


@pytest.mark.parametrize(
    "case, match",
    [
        ("empty", "no inputs"),
        ("missing", "does not exist"),
        ("nothing-found", "no profiles or artifact manifests found"),
        ("future-schema", "schema_version 2, expected 1"),
        ("bad-field", "field provenance"),
        ("not-json", "not a readable profile JSON"),
        ("bad-manifest", "schema_version 7"),
        ("out-is-dir", "is a directory"),
    ],
)
def test_bad_inputs_give_one_line_errors(workspace, tmp_path, case, match):
    good = workspace["xnn"] / "profile-host.json"
    data = json.loads(good.read_text())
    out = tmp_path / "r.html"
    if case == "empty":
        inputs = []
    elif case == "missing":
        inputs = [tmp_path / "nope.json"]
    elif case == "nothing-found":
        (tmp_path / "empty").mkdir()
        (tmp_path / "empty" / "other.json").write_text('{"hello": 1}')
        inputs = [tmp_path / "empty"]
    elif case == "future-schema":
        data["schema_version"] = 2
        (tmp_path / "p.json").write_text(json.dumps(data))
        inputs = [tmp_path / "p.json"]
    elif case == "bad-field":
        del data["provenance"]["where"]
        # inside an artifact dir: a JSON that looks like a profile but does not parse is an error, not skipped
        (workspace["qnn"] / "profile-broken.json").write_text(json.dumps(data))
        inputs = [workspace["qnn"]]
    elif case == "not-json":
        (tmp_path / "p.json").write_text("{not json")
        inputs = [tmp_path / "p.json"]
    elif case == "bad-manifest":
        m = json.loads((workspace["qnn"] / "manifest.json").read_text())
        m["schema_version"] = 7
        (workspace["qnn"] / "manifest.json").write_text(json.dumps(m))
        inputs = [workspace["artifacts"]]
    elif case == "out-is-dir":
        inputs, out = [good], tmp_path
    with pytest.raises(EdgeExportError, match=re.escape(match)) as ei:
        build_dashboard(inputs, out)
    assert "\n" not in str(ei.value)
    assert not (tmp_path / "r.html").exists()


# ------------------------------------------------------------------------------------------
# a real browser
# ------------------------------------------------------------------------------------------


# the module keys the heatmap shows, set by layers.js once the heatmap and the bars are drawn
HEAT_ROWS = "(document.getElementById('fig-layers-heat').getAttribute('data-rows') || '').split('\\n')"


def heat_row(i: int) -> str:
    """JS for the viewport point of row i's first cell in the heatmap (scrolled into view first)."""
    return (
        "(() => { const g = document.getElementById('fig-layers-heat'); g.scrollIntoView({block: 'start'});"
        " const r = g.querySelector('.nsewdrag').getBoundingClientRect(), n = g.data[0].y.length;"
        f" return [r.x + r.width / 6, r.y + ({i} + 0.5) * r.height / n]; }})()"
    )


@pytest.mark.timeout(120)
def test_report_renders_offline_in_chromium(workspace, tmp_path):
    import browser

    if browser.find_chromium() is None:
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium): browser check not run")
    t0 = time.monotonic()
    out = build_dashboard([workspace["artifacts"], workspace["eager"]], tmp_path / "report.html")
    doc = out.read_text()
    n_figs = int(re.search(r'name="edge-export-figures" content="(\d+)"', doc).group(1))
    assert n_figs == 5  # module heatmap, top-N bars, op kinds, latency, numeric gap
    with browser.Chromium.launch(tmp_path / "chromium", width=1400, height=1000) as b:
        page = b.open(out.resolve().as_uri())
        rendered = page.wait_for(
            "(() => { const d = document.querySelectorAll('.plotly-graph-div');"
            " const r = [...d].filter(g => g.classList.contains('js-plotly-plot') && g.querySelector('svg.main-svg'));"
            f" return d.length === {n_figs} && r.length === d.length ? r.length : 0; }})()",
            timeout=20,
        )
        assert rendered == n_figs
        marks = page.evaluate(
            "Object.fromEntries([...document.querySelectorAll('.js-plotly-plot')].map(g => [g.id,"
            " g.querySelectorAll('.trace .point path, .trace path.box, .trace path.point, .hm image').length]))"
        )
        assert all(v > 0 for v in marks.values()), marks
        # the heatmap: stages in model order, one column per profile, cells as % of each column's op time
        page.wait_for(f"{HEAT_ROWS}.length === 13", timeout=10)
        assert page.evaluate(HEAT_ROWS) == [r["k"] for r in layers_data(doc)["levels"]["stage"]]
        box = page.evaluate("(() => { const r = document.getElementById('fig-layers-heat').getBoundingClientRect();"
                            " return [r.width, r.height]; })()")
        assert box[0] > 1000 and box[1] < 1000, box  # the page's width, a screen's height
        cells = page.evaluate("[...document.querySelectorAll('#fig-layers-heat .heatmap-label')].map(t => t.textContent)")
        assert len(cells) == 13 * 3 - 2 and all(c.endswith("%") for c in cells)  # 2: nothing unattributed on CPU
        # a real click (CDP mouse events) on the stage-0 row opens its blocks; a block opens its layers
        page.click_at(heat_row(1))
        page.wait_for(f"{HEAT_ROWS}.length === 3", timeout=10, interval=0.02)
        assert page.evaluate(HEAT_ROWS) == [f"swiftformer.encoder.network.0.blocks.{i}" for i in range(3)]
        assert "whole model › swiftformer.encoder.network.0 — blocks" in page.evaluate(
            "document.getElementById('layers-crumbs').innerText")
        assert page.evaluate("document.querySelector('[data-level-btn=block]').classList.contains('active')")
        page.click_at(heat_row(2))
        page.wait_for(f"{HEAT_ROWS}.length > 3", timeout=10, interval=0.02)
        layers = page.evaluate(HEAT_ROWS)
        assert all(k.startswith("swiftformer.encoder.network.0.blocks.2") for k in layers), layers
        assert "swiftformer.encoder.network.0.blocks.2.attn.to_query" in layers
        bars = page.evaluate("document.querySelectorAll('#fig-layers-bars .trace.bars .point path').length")
        assert bars == 3 * 15, bars  # the top 15 layers of the whole model, one bar per profile
        # back up: the blocks again; the depth control: the whole model's stages
        page.click_at("#layers-up")
        page.wait_for(f"{HEAT_ROWS}.length === 3 && {HEAT_ROWS}[0].endsWith('network.0.blocks.0')", timeout=10, interval=0.02)
        page.click_at("[data-level-btn=stage]")
        page.wait_for(f"{HEAT_ROWS}.length === 13", timeout=10, interval=0.02)
        assert not page.evaluate("document.getElementById('layers-up')")
        # the unit switch: cell text and bars in ms
        page.click_at('[data-unit-btn="layers:ms"]')
        page.wait_for("[...document.querySelectorAll('#fig-layers-heat .heatmap-label')].every(t => t.textContent.endsWith(' ms'))"
                      " && document.querySelector('#fig-layers-bars .g-xtitle').textContent.startsWith('ms')", timeout=10,
                      interval=0.02)
        assert page.evaluate("document.getElementById('sim-banner').innerText").startswith(SIM_MARK)
        assert "fastest of 1 xnnpack-fp32" in page.evaluate("document.getElementById('verdict').innerText")
        page.evaluate("window.scrollTo(0, 0)")
        top = page.screenshot(tmp_path / "report-top.png", full_page=False)
        full = page.screenshot(tmp_path / "report.png", full_page=True)
        assert page.exceptions == [], page.exceptions
        assert page.console_errors == [], page.console_errors
        remote = [u for u in page.requests if not u.startswith(("file:", "data:", "blob:", "about:"))]
        assert remote == [], f"the report fetched {remote}"
    for png in (top, full):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000
    print(f"\nscreenshots: {full} {top} ({time.monotonic() - t0:.1f} s)")


@pytest.mark.timeout(900)
def test_arm_kernels_column_and_emulated_times_in_chromium(tflite, tmp_path, cli):
    """The "Arm kernels (emulated)" column from a real Arm run (validate --arch arm64 --cpu cortex-a76 on a copy of
    the tiny int8 .tflite) beside an unreliable level's entry, "not run" for an artifact without any, and a
    `profile --device qemu-arm64` profile whose times the views label as emulated; in Chromium."""
    import shutil

    import browser

    from edge_export.arm import EMULATED, setup
    from edge_export.arm.cpus import LEVEL_V9_SME
    from edge_export.arm.validate import validate_on_arm
    from edge_export.artifacts import read_manifest
    from edge_export.report.dashboard.arm import ARM_TITLE

    setup()  # provisioned before the suite (make arm-setup): a no-op then
    arts = tmp_path / "artifacts"
    skip = shutil.ignore_patterns("profile*.json", "eval.json")  # what other tests may have left beside them
    int8 = Path(shutil.copytree(tflite["tflite-int8"], arts / "int8", ignore=skip))
    fp32 = Path(shutil.copytree(tflite["tflite-fp32"], arts / "fp32", ignore=skip))
    a76 = validate_on_arm(int8, cpu="cortex-a76", images=4)
    # an unreliable level's entry as validate records it (the SME level when setup's SMOPA check failed under the
    # runtime's QEMU): whether `max` is unreliable depends on the QEMU provisioned, so it is written here
    m = read_manifest(int8)
    sme = a76.model_copy(update={"cpu": "max", "qemu_cpu": "max", "feature_level": LEVEL_V9_SME, "reliable": False,
                                 "note": "unreliable: SMOPA check failed", "cosine_min": 0.07, "passed": False})
    write_manifest(int8, m.model_copy(update={"arm_parity": {**m.arm_parity, "max": sme}}))
    assert a76.reliable
    code, _, err = cli("profile", str(int8), "--device", "qemu-arm64", "--runs", "3", "--warmup", "1")
    assert code == 0, err
    doc = build_dashboard([arts], tmp_path / "report.html").read_text()
    assert doc.count("Arm kernels, ") == 2  # both levels in the artifact's provenance
    if browser.find_chromium() is None:
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium): browser check not run")
    with browser.Chromium.launch(tmp_path / "chromium", width=1400, height=1000) as b:
        page = b.open((tmp_path / "report.html").resolve().as_uri())
        page.wait_for("document.querySelectorAll('#overview tr').length === 3", timeout=20)
        head = page.evaluate("(() => { const h = document.querySelector('#overview th.arm');"
                             " return [h.innerText, h.title]; })()")
        assert head == ["Arm kernels (emulated)", ARM_TITLE] and "not device latency" in head[1]
        cells = page.evaluate("[...document.querySelectorAll('#overview tr')].slice(1).map(r => {"
                              " const c = [...r.cells]; const i = [...r.parentNode.rows[0].cells]"
                              ".findIndex(h => h.classList.contains('arm'));"
                              " return {target: c[1].innerText, arm: c[i].innerText, lat: c[i + 2].innerText}; })")
        by_target = {c["target"].split(" ")[0]: c for c in cells}
        arm = by_target["tflite-int8"]["arm"]
        assert f"cortex-a76 armv8.2-dotprod-fp16\ncosine min {a76.cosine_min:.5f} top-1 " in arm
        assert "of 4 images pass\nmax armv9-sme" in arm  # the verdict against the bar
        assert f"max armv9-sme unreliable\ncosine min 0.07000 top-1 " in arm and arm.endswith("below the bar")
        assert arm.index("cortex-a76") < arm.index("max")  # in the CPU table's order
        assert page.evaluate("document.querySelector('.armcpu[data-cpu=max] .badge.warn').title") == sme.note
        assert by_target["tflite-fp32"]["arm"] == "not run"
        # the emulated profile's times carry the collector's own label, beside the simulator mark
        assert EMULATED in by_target["tflite-int8"]["lat"] and SIM_MARK in by_target["tflite-int8"]["lat"]
        assert EMULATED in page.evaluate("document.getElementById('top-layers').innerText")
        assert page.exceptions == [] and page.console_errors == [], (page.exceptions, page.console_errors)
        remote = [u for u in page.requests if not u.startswith(("file:", "data:", "blob:", "about:"))]
        assert remote == [], f"the report fetched {remote}"
        shot = page.screenshot(tmp_path / "arm.png", full_page=False)
    print(f"\nscreenshot: {shot}")
