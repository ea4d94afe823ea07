"""`profile --model-explorer`: Model Explorer node-data overlays of real profiles of a tiny model's .tflite and .pte.

The files are checked against the node data format as ai-edge-model-explorer's source defines it (below, from
google-ai-edge/model-explorer src/server/package/src/model_explorer/node_data_builder.py at c0f8dbac5cf2 = the
0.1.34 wheel), and their node ids against the real graphs: the flatbuffer's ops, the ETRecord's edge program,
the .pte's XNNPACK delegate. (The package itself is not in the pinned set: it brings Flask, IPython and a native
adapter.)
"""

from __future__ import annotations

import json
import re

import jsonschema
import pytest

from edge_export.errors import EdgeExportError

MODEL = "module:helpers:tiny_cnn"  # tests/helpers.py: conv-BN-ReLU, conv-GELU, pool, linear at 32 px
NAME = "module_helpers_tiny_cnn"

# node_data_builder.py: ModelNodeData.to_json_string() = {graph id: remove_none(asdict(GraphNodeData))}.
_NUM = {"type": "number"}
_COLOR = {"type": "string"}
NODE_DATA_SCHEMA = {
    "type": "object",
    "minProperties": 1,
    "additionalProperties": {  # GraphNodeData
        "type": "object",
        "required": ["results"],
        "additionalProperties": False,
        "properties": {
            "results": {"type": "object", "additionalProperties": {  # NodeDataResult
                "type": "object", "required": ["value"], "additionalProperties": False,
                "properties": {"value": _NUM, "bgColor": _COLOR, "textColor": _COLOR}}},
            "name": {"type": "string"},
            "thresholds": {"type": "array", "items": {  # ThresholdItem
                "type": "object", "required": ["value", "bgColor"], "additionalProperties": False,
                "properties": {"value": _NUM, "bgColor": _COLOR, "textColor": _COLOR}}},
            "gradient": {"type": "array", "items": {  # GradientItem
                "type": "object", "required": ["stop"], "additionalProperties": False,
                "properties": {"stop": {"type": "number", "minimum": 0, "maximum": 1}, "bgColor": _COLOR,
                               "textColor": _COLOR}}},
            "hideInAggregatedStatsTable": {"type": "boolean"},
            "hideInChildrenStatsTable": {"type": "boolean"},
            "hideAggregatedStats": {"type": "array", "items": {"enum": ["min", "max", "sum", "avg"]}},
            "showExpandedSummaryOnGroupNode": {"type": "boolean"},
            "showLabelCountColumnsInChildrenStatsTable": {"type": "boolean"},
        },
    },
}


def _read(path) -> dict:
    data = json.loads(path.read_text())
    jsonschema.validate(data, NODE_DATA_SCHEMA)
    for graph in data.values():  # "Stops for 0 and 1 should always be provided"; hex colors or names only
        assert {g["stop"] for g in graph["gradient"]} >= {0, 1}
        assert all(re.fullmatch(r"#[0-9a-f]{6}", g["bgColor"]) for g in graph["gradient"])
    return data


# The op a row of each kind runs as, in the .tflite and in the XNNPACK delegate (tiny_cnn's ops).
TFLITE_OPS = {"conv": "CONV_2D", "gelu": "GELU", "pool": "MEAN", "gemm": "FULLY_CONNECTED"}
XNODES = {"conv": "XNNConv2d", "gelu": "XNNGelu", "pool": "XNNGlobalAvgPooling2d", "gemm": "XNNFullyConnected",
          "transpose": "XNNStaticTranspose", "reshape": "XNNStaticReshape"}


def _values(graph: dict) -> dict[str, float]:
    return {node: r["value"] for node, r in graph["results"].items()}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """The tiny model's .tflite and .pte (validated by export), profiled on the host with the numeric gap."""
    from edge_export.export import ExportRequest, export
    from edge_export.profile.dispatch import profile_artifact

    out = tmp_path_factory.mktemp("model-explorer")
    paths = {p.name.removeprefix(f"{NAME}-"): p for p in export(ExportRequest(
        model=MODEL, targets=["xnnpack-fp32", "tflite-fp32"], out_dir=out, calib=2))}
    profiles = {t: profile_artifact(paths[t], runs=3, warmup=1, numeric_gap=True, gap_images=1)[0] for t in paths}
    return paths, profiles


# ------------------------------------------------------------------------------------------------ .tflite


def _flatbuffer_ops(path):
    """(subgraph 0's name, its op codes), read with LiteRT's own schema module."""
    from ai_edge_litert import schema_py_generated as S

    model = S.Model.GetRootAs(path.read_bytes(), 0)
    names = {v: k for k, v in vars(S.BuiltinOperator).items() if isinstance(v, int)}
    sg = model.Subgraphs(0)
    codes = [names[max(model.OperatorCodes(sg.Operators(i).OpcodeIndex()).BuiltinCode(),
                       model.OperatorCodes(sg.Operators(i).OpcodeIndex()).DeprecatedBuiltinCode())]
             for i in range(sg.OperatorsLength())]
    return sg.Name().decode(), codes


def test_tflite_overlay_puts_each_row_on_its_flatbuffer_op(tiny, tmp_path):
    from edge_export.profile.dispatch import profile_artifact
    from edge_export.report.model_explorer import write_overlay

    paths, profiles = tiny
    art, profile = paths["tflite-fp32"], profiles["tflite-fp32"]
    sub_name, codes = _flatbuffer_ops(art / "model.tflite")
    overlay = write_overlay(profile, art, tmp_path / "me.json")
    data = _read(overlay.path)
    # Model Explorer's TFLite adapter: graph id = the subgraph's name, node id = op index in the subgraph
    assert list(data) == [sub_name] == ["main"]
    values = _values(data["main"])
    assert all(0 <= int(n) < len(codes) for n in values)
    # delegate mode: each XNNPACK operator's time on the TFLite op the collector aligned it to
    expected: dict[str, float] = {}
    for r in profile.rows:
        op = re.search(r"TFLite op (\d+) (\w+)", r.reason).group(1, 2)
        assert codes[int(op[0])] == op[1]
        expected[op[0]] = expected.get(op[0], 0.0) + r.stats.median
    assert values == pytest.approx(expected)
    assert overlay.rows_mapped == len(profile.rows) and sum(values.values()) == pytest.approx(profile.op_total_ms())
    kinds = {int(re.search(r"TFLite op (\d+)", r.reason).group(1)): r.kind for r in profile.rows}
    assert all(codes[i] == TFLITE_OPS[kind] for i, kind in kinds.items())  # every row on an op of its kind
    assert codes[int(max(values, key=values.get))] == TFLITE_OPS[max(profile.rows, key=lambda r: r.stats.median).kind]
    assert "PAD" in codes and not any(codes[int(n)] == "PAD" for n in values)  # fused into the conv's operator

    # builtin kernels: one row per TFLite op, the row's index is the op index: values are exactly the rows'
    builtin, _ = profile_artifact(art, runs=2, warmup=1, out=tmp_path / "builtin.json",
                                  options={"kernel_mode": "builtin"})
    data = _read(write_overlay(builtin, art, tmp_path / "builtin-me.json").path)
    assert _values(data["main"]) == {str(r.index): r.stats.median for r in builtin.rows}
    assert {codes[r.index] for r in builtin.rows} == set(codes) and len(builtin.rows) == len(codes)

    elsewhere = profile.provenance.model_copy(update={"artifact_sha256": "0" * 64})
    other = profile.model_copy(update={"provenance": elsewhere})
    with pytest.raises(EdgeExportError, match="another program"):
        write_overlay(other, art, tmp_path / "x.json")


def test_tflite_numeric_gap_is_on_the_op_computing_each_module_output(tiny, tmp_path):
    from edge_export.report.model_explorer import write_overlay

    paths, profiles = tiny
    art, profile = paths["tflite-fp32"], profiles["tflite-fp32"]
    _, codes = _flatbuffer_ops(art / "model.tflite")
    overlay = write_overlay(profile, art, tmp_path / "me.json")
    assert overlay.gap_path == tmp_path / "me.numeric-gap.json" and overlay.gap_mapped == len(profile.numeric_gap)
    gaps = _values(_read(overlay.gap_path)["main"])
    by_module = {g.module_path: g.rel_l2 for g in profile.numeric_gap}
    # module 2 = the ReLU fused into the first conv (its BN folded in too), 3 the second conv, 4 the GELU, 5 the
    # pool; "" = the logits. (0 and 1 have no tensor of their own, 6 (Flatten) no op, 7's output is the logits.)
    assert set(by_module) == {"2", "3", "4", "5", ""}
    assert gaps == {"1": by_module["2"], "3": by_module["3"], "4": by_module["4"], "5": by_module["5"],
                    "6": by_module[""]}
    assert [codes[int(n)] for n in gaps] == ["CONV_2D", "CONV_2D", "GELU", "MEAN", "FULLY_CONNECTED"]


# ------------------------------------------------------------------------------------------------ .pte


def test_pte_overlay_names_the_edge_program_and_delegate_nodes(tiny, tmp_path):
    from executorch.devtools.etrecord import parse_etrecord

    from edge_export.attribution.xnnpack_blob import read_xnnpack_delegates
    from edge_export.report.model_explorer import write_overlay

    paths, profiles = tiny
    art, profile = paths["xnnpack-fp32"], profiles["xnnpack-fp32"]
    overlay = write_overlay(profile, art, tmp_path / "me.json")
    data = _read(overlay.path)
    (delegate,) = read_xnnpack_delegates(art / "model.pte")
    assert delegate.instruction_ids == [(0, 0)]
    assert set(data) == {"forward", "graph", "model.pte::forward_0_0"}
    ep = parse_etrecord(str(art / "model.etrecord")).edge_dialect_program
    fx = {n.name: n for n in ep.graph.nodes if n.op == "call_function"}
    graph, etrecord_ids, xnodes = (_values(data[g]) for g in ("graph", "forward", "model.pte::forward_0_0"))
    # the built-in ExportedProgram adapter names nodes by FX name; the ETRecord adapter appends "_"
    assert set(graph) <= set(fx) and etrecord_ids == {n + "_": v for n, v in graph.items()}
    assert all(0 <= int(n) < len(delegate.xnodes) for n in xnodes)
    for values in (graph, xnodes):  # every row is on a node of each graph
        assert sum(values.values()) == pytest.approx(profile.op_total_ms())
    assert overlay.rows_mapped == len(profile.rows) and not overlay.unmapped
    # every row on an XNode of its kind (one runtime operator per XNode here, in order), the slowest one too
    assert [delegate.xnodes[int(n)].kind for n in xnodes] == [XNODES[r.kind] for r in profile.rows]
    slowest = max(profile.rows, key=lambda r: r.stats.median)
    assert delegate.xnodes[int(max(xnodes, key=xnodes.get))].kind == XNODES[slowest.kind]
    assert list(xnodes.values()) == [r.stats.median for r in profile.rows]
    # an XNode's time is on the FX node it was serialised for (that node carries its debug handle), together with
    # what the profile charged to the same node (the layout transposes XNNPACK inserted: no FX node of their own)
    for i, v in xnodes.items():
        h = delegate.xnodes[int(i)].debug_handle
        if h is not None:
            assert any(n.meta.get("debug_handle") == h and graph.get(name, -1) >= v for name, n in fx.items())
    assert {str(fx[n].target).split(".")[1] for n in graph} == {"convolution", "gelu", "mean", "view_copy", "linear"}

    from edge_export.attribution.etrecord import innermost_module

    gaps = _values(_read(overlay.gap_path)["graph"])
    assert overlay.gap_mapped == len(profile.numeric_gap) >= 5
    for g in profile.numeric_gap:  # on the node computing the module's output: a node inside that module
        if g.module_path:
            nodes = [n for n, v in gaps.items() if v == g.rel_l2]
            inside = [innermost_module(fx[n]) for n in nodes]
            assert any(m == g.module_path or m.startswith(g.module_path + ".") for m in inside), g.module_path


# ------------------------------------------------------------------------------------------------ CLI


def test_cli_profile_writes_the_overlay_and_refuses_to_overwrite_the_profile(tiny, cli, tmp_path):
    paths, _ = tiny
    art = paths["tflite-fp32"]
    out = tmp_path / "nodes.json"
    code, stdout, stderr = cli("profile", str(art), "--runs", "2", "--warmup", "1", "--model-explorer", str(out))
    assert code == 0, stderr
    assert "Model Explorer node data:" in stdout and f"wrote {out}" in stdout
    assert list(_read(out)) == ["main"] and not list(tmp_path.glob(".*.tmp"))

    code, _, stderr = cli("profile", str(art), "--model-explorer", str(art / "profile-host.json"))
    assert code == 2 and "would overwrite the profile JSON" in stderr
