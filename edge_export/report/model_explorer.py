"""Model Explorer node-data overlays of a profile: each graph node's measured latency (and numeric gap).

``edge-export profile ARTIFACT_DIR --model-explorer FILE`` (or :func:`write_overlay`) writes FILE for
Google's Model Explorer (``pip install ai-edge-model-explorer``): open the program and add FILE as node data
(UI: "Add per-node data"; Python: ``model_explorer.visualize("model.tflite", node_data={"node_data_path":
FILE})``). Every node an op row was measured on is coloured by its median latency in ms (the sum of the rows
charged to it: an XNNPACK operator that prepares the next op's input, or an NCHW<->NHWC transpose the
delegate inserted, counts where the profile attributed it). With a numeric gap (``--numeric-gap``) a second
file, ``<FILE stem>.numeric-gap<suffix>``, holds each reported module's rel_l2 vs PyTorch on the node that
computes that module's output (a node-data file holds one value per node, so one metric per file).

The format is the one ``model_explorer.node_data_builder`` writes (google-ai-edge/model-explorer,
``src/server/package/src/model_explorer/node_data_builder.py`` at commit c0f8dbac5cf2, identical in the
0.1.34 wheel): ``ModelNodeData.to_json_string()`` = ``{graph id: GraphNodeData}`` with ``None`` fields
dropped, ``GraphNodeData`` = ``{"results": {node id: {"value": number}}, "name", "thresholds": [],
"gradient": [{"stop": 0..1, "bgColor": hex}], "hideInAggregatedStatsTable", "hideInChildrenStatsTable",
["hideAggregatedStats"], "showExpandedSummaryOnGroupNode", "showLabelCountColumnsInChildrenStatsTable"}``.
The UI (``node_data_provider_extension_service.ts``) applies the entry whose key is the shown graph's id.

Node ids, per graph the file names (what each adapter calls a node):

* ``.tflite``: Model Explorer's built-in TFLite adapter (``direct_flatbuffer_to_json_graph_convert.cc``)
  names a subgraph by its name, else its signature key, else ``main`` / ``subgraph_<i>``, and a node by its
  op index in the subgraph (``"0"``, ``"1"``, ...; the GraphInputs/const/GraphOutputs nodes take the ids
  after the ops). The graph is the signature's subgraph, the one LiteRT profiled. A builtin-kernel row
  carries that op index (``OpRow.index``); an XNNPACK-operator row (delegate mode, the default) names the
  TFLite op the collector aligned it to in its ``reason`` ("... aligned to TFLite op 3 CONV_2D"): that
  index is used, and its op code is checked against the flatbuffer. Ops fused into a neighbour's operator
  (a PAD before a convolution) get no value: their time is inside that operator's.
* ``.pte``: the node names of the ETRecord's edge-dialect program (the program the XNNPACK delegate was
  cut from, whose debug handles the attribution follows), under two graph ids: ``forward`` with ids
  ``<FX node name>_`` (Arm's ``etrecord-adapter-model-explorer``, part of
  ``executorch-extension-model-explorer``: opens ``model.etrecord``; ids from
  ``executorch.devtools``' ``FXOperatorGraph``), and ``graph`` with the bare FX node names (Model
  Explorer's built-in PyTorch adapter: ``model_explorer.visualize_pytorch(name,
  parse_etrecord(...).edge_dialect_program, ...)``). And the delegate's own graph, ``<program file
  name>::forward_<chain>_<instruction>`` with XNode indices as ids (Arm's ``pte-adapter-model-explorer``
  opening ``model.pte``; that adapter also calls its instruction graph ``forward``, with ids
  ``forward_<chain>_<instruction>`` that this file does not use, so there the values show on the delegate's
  graph). Profile rows keep no debug handle, so the XNNPACK rows' operator names are aligned
  with the delegate's XNodes again exactly as the collector does
  (:func:`edge_export.attribution.xnnpack.attribute_delegate_events`; durations play no part in it) and the
  result must give every row the module path the profile has (in the profile's canonical module names,
  edge_export.attribution.module_names); a portable row ("portable instruction N")
  goes through the ETRecord's instruction -> debug handle map. A handle's node is the first call_function
  node that carries it, not a getitem (the ETRecord adapter shows a getitem's value on the node it reads).
  Only a program with one XNNPACK delegate call (what export makes) can be mapped that way: with several,
  the rows do not say which call each operator came from, and they are left out (counted in
  :class:`Overlay`.unmapped).

Numeric gap: a module's node is the one the numeric gap itself chooses as the module's output
(``select_outputs`` over the runtime's program values, which needs the PyTorch export form's call order:
the model is rebuilt from the manifest and run once), on the TFLite subgraph or on the edge-dialect program
(the gap instruments the ETRecord's exported program; the same selection over the edge program, whose ops
carry the same module stacks, names the corresponding node). The whole model (``""``) is the node producing
the program's output.

Other profiles: rows of other runtimes (QNN) have no graph here (refused, one line); device (adb) profiles
carry the same row names and reasons as host ones, so they map the same way.
"""

from __future__ import annotations

import json
import operator
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from edge_export.errors import EdgeExportError
from edge_export.profile.schema import PSEUDO_MODULES, NumericGap, Profile

SUPPORTED_RUNTIMES = ("litert", "executorch")

# Low -> high, light -> dark red (the UI picks white or dark text by background luminance).
GRADIENT = [
    {"stop": 0, "bgColor": "#fff5f0"},
    {"stop": 0.5, "bgColor": "#fb6a4a"},
    {"stop": 1, "bgColor": "#a50f15"},
]

_TFLITE_OP = re.compile(r"\bTFLite op (\d+)(?: ([A-Z][A-Z0-9_]*(?::\S+)?))?")
_PORTABLE = re.compile(r"portable instruction (\d+)")
_XNNPACK_ROW = "XnnpackBackend"  # OpRow.delegate of the ExecuTorch collector's XNNPACK operator rows
ET_GRAPH_ETRECORD = "forward"  # etrecord-adapter-model-explorer: the edge program of method "forward"
ET_GRAPH_EXPORTED_PROGRAM = "graph"  # model_explorer's built-in PyTorch ExportedProgram adapter


# --------------------------------------------------------------------------------------------
# The format (model_explorer.node_data_builder).


def graph_node_data(values: dict[str, float], name: str, *, hide_aggregated_stats: Sequence[str] | None = None
                    ) -> dict[str, Any]:
    """A ``GraphNodeData`` as ``remove_none(asdict(...))`` gives it: values keyed by node id, a gradient."""
    out: dict[str, Any] = {
        "results": {node: {"value": float(v)} for node, v in values.items()},
        "name": name,
        "thresholds": [],
        "gradient": [dict(g) for g in GRADIENT],
        "hideInAggregatedStatsTable": False,
        "hideInChildrenStatsTable": False,
    }
    if hide_aggregated_stats is not None:
        out["hideAggregatedStats"] = list(hide_aggregated_stats)
    out["showExpandedSummaryOnGroupNode"] = False
    out["showLabelCountColumnsInChildrenStatsTable"] = False
    return out


def model_node_data_json(graphs: dict[str, dict[str, Any]]) -> str:
    """``ModelNodeData(graphsData=...).to_json_string(indent=2)``, what ``save_to_file`` writes."""
    return json.dumps(graphs, indent=2)


# --------------------------------------------------------------------------------------------
# Results.


@dataclass
class Overlay:
    """What :func:`write_overlay` wrote and how much of the profile it covers."""

    path: Path
    graphs: dict[str, int]  # graph id -> nodes with a latency
    rows: int
    rows_mapped: int
    op_ms: float  # sum of the rows' medians
    op_ms_mapped: float
    unmapped: Counter = field(default_factory=Counter)  # why -> rows
    gap_path: Path | None = None
    gap_modules: int = 0  # modules of the profile's numeric gap (the whole model included)
    gap_mapped: int = 0
    gap_unmapped: dict[str, str] = field(default_factory=dict)  # module -> why

    def summary(self) -> str:
        share = 100 * self.op_ms_mapped / self.op_ms if self.op_ms > 0 else 100.0
        graphs = ", ".join(f"{g!r} {n} nodes" for g, n in self.graphs.items())
        line = (f"Model Explorer node data: {self.rows_mapped}/{self.rows} op rows ({share:.1f} % of op time) on "
                f"graph {graphs}")
        if self.unmapped:
            line += "; not on a node: " + "; ".join(f"{n} {why}" for why, n in self.unmapped.most_common())
        if self.gap_path is not None:
            line += f"; numeric gap of {self.gap_mapped}/{self.gap_modules} modules"
        return line


@dataclass
class _Mapped:
    """Node ids per graph for each mapped row (row index -> {graph id: node id})."""

    rows: dict[int, dict[str, str]] = field(default_factory=dict)
    unmapped: dict[int, str] = field(default_factory=dict)  # row index -> why
    gap_nodes: dict[str, dict[str, str]] = field(default_factory=dict)  # module -> {graph id: node id}
    gap_unmapped: dict[str, str] = field(default_factory=dict)


def gap_path_for(path: Path) -> Path:
    """Where the numeric-gap overlay goes next to the latency one: ``x.json`` -> ``x.numeric-gap.json``."""
    path = Path(path)
    return path.with_name(f"{path.stem}.numeric-gap{path.suffix or '.json'}")


# --------------------------------------------------------------------------------------------


def _check_runtime(runtime: str) -> None:
    if runtime not in SUPPORTED_RUNTIMES:
        raise EdgeExportError(f"--model-explorer overlays .tflite and ExecuTorch XNNPACK programs, not runtime "
                              f"{runtime!r}: profile without it")


def check_supported(artifact_dir: Path, path: Path | None = None, profile_path: Path | None = None) -> None:
    """One-line EdgeExportError, before profiling, when the artifact's runtime has no graph to overlay or the
    overlay would overwrite the profile JSON."""
    from edge_export.artifacts import read_manifest

    _check_runtime(read_manifest(artifact_dir).runtime)
    if path is not None and profile_path is not None:
        if Path(profile_path).resolve() in (Path(path).resolve(), gap_path_for(path).resolve()):
            raise EdgeExportError(f"--model-explorer {path} would overwrite the profile JSON: name another file")


def write_overlay(profile: Profile, artifact_dir: Path, path: Path,
                  numeric_gap: Sequence[NumericGap] | None = None) -> Overlay:
    """Write the latency overlay of ``profile`` (a profile of the program in ``artifact_dir``) to ``path`` and,
    when there is a numeric gap (``numeric_gap``, else the profile's own), its overlay to
    :func:`gap_path_for` ``(path)``. Each file is written to a temporary sibling and renamed into place."""
    from edge_export.artifacts import check_program_file, read_manifest, write_text_atomic

    artifact_dir = Path(artifact_dir)
    manifest = read_manifest(artifact_dir)
    _check_runtime(manifest.runtime)
    program = check_program_file(artifact_dir, manifest)
    if profile.provenance.artifact_sha256 != manifest.file_sha256:
        raise EdgeExportError(f"the profile was measured on another program than {program} (sha256 differs): "
                              "profile this artifact again")
    gaps = list(profile.numeric_gap or []) if numeric_gap is None else list(numeric_gap)
    if manifest.runtime == "litert":
        mapped, names = _tflite(profile, artifact_dir, manifest, program, gaps)
    else:
        mapped, names = _executorch(profile, artifact_dir, manifest, program, gaps)

    per_graph: dict[str, dict[str, float]] = {g: {} for g in names}
    for k, nodes in mapped.rows.items():
        for g, node in nodes.items():
            per_graph[g][node] = per_graph[g].get(node, 0.0) + profile.rows[k].stats.median
    where = profile.provenance.where
    title = (f"latency ms, median of {profile.latency.n} runs ({profile.provenance.runtime} on {where}, "
             f"{profile.provenance.threads} thread(s))")
    out = {g: graph_node_data(v, title) for g, v in per_graph.items() if v}
    if not out:
        why = "; ".join(sorted(set(mapped.unmapped.values()))) or "the profile has no op rows"
        raise EdgeExportError(f"no op row of the profile maps to a node of the program's graph ({why})")
    path = Path(path)
    write_text_atomic(path, model_node_data_json(out))
    total = sum(r.stats.median for r in profile.rows)
    done = sum(profile.rows[k].stats.median for k in mapped.rows)
    result = Overlay(path=path, graphs={g: len(per_graph[g]) for g in out}, rows=len(profile.rows),
                     rows_mapped=len(mapped.rows), op_ms=total, op_ms_mapped=done,
                     unmapped=Counter(mapped.unmapped.values()))
    if gaps:
        per_gap: dict[str, dict[str, float]] = defaultdict(dict)
        for gap in sorted(gaps, key=lambda gp: gp.module_path == ""):  # a module's own value before the whole
            for g, node in mapped.gap_nodes.get(gap.module_path, {}).items():  # model's, on a shared node
                per_gap[g].setdefault(node, gap.rel_l2)
        result.gap_modules = len(gaps)
        result.gap_mapped = sum(1 for gap in gaps if gap.module_path in mapped.gap_nodes)
        result.gap_unmapped = dict(mapped.gap_unmapped)
        if per_gap:
            gap_title = (f"numeric gap rel_l2 vs PyTorch of the module whose output the node computes "
                         f"({profile.provenance.runtime})")
            gap_out = {g: graph_node_data(per_gap[g], gap_title, hide_aggregated_stats=["sum"])
                       for g in names if per_gap.get(g)}
            result.gap_path = gap_path_for(path)
            write_text_atomic(result.gap_path, model_node_data_json(gap_out))
    return result


# --------------------------------------------------------------------------------------------
# .tflite


def tflite_graph_id(data: bytes, subgraph: int) -> str:
    """The id Model Explorer's TFLite adapter gives subgraph ``subgraph`` (GetSubgraphName in
    direct_flatbuffer_to_json_graph_convert.cc): its name, else its signature key, else main / subgraph_<i>."""
    from ai_edge_litert import schema_py_generated as S

    model = S.Model.GetRootAs(data, 0)
    name = (model.Subgraphs(subgraph).Name() or b"").decode("utf-8", "replace")
    if name:
        return name
    for i in range(model.SignatureDefsLength()):
        sig = model.SignatureDefs(i)
        if sig.SubgraphIndex() == subgraph:
            key = (sig.SignatureKey() or b"").decode("utf-8", "replace")
            if key:
                return key
            break
    return "main" if subgraph == 0 else f"subgraph_{subgraph}"


def tflite_op_of_row(row, ops: Sequence, builtin_mode: bool) -> tuple[int | None, str]:
    """(TFLite op index the row was measured on or charged to, or None; why not)."""
    m = _TFLITE_OP.search(row.reason or "")
    named = int(m.group(1)) if m else None
    code = m.group(2).rstrip(":") if m and m.group(2) else None
    if builtin_mode and row.index is not None:  # builtin-kernel rows: one per TFLite op, index = op index
        i = row.index
        if named != i:
            code = None
    elif named is not None:
        i = named
    else:
        return None, "operators aligned to no TFLite op"
    if not 0 <= i < len(ops):
        return None, "naming a TFLite op the flatbuffer does not have"
    if code is not None and code != ops[i].opcode:
        return None, "naming a TFLite op whose op code differs in the flatbuffer"
    return i, ""


def _tflite(profile: Profile, artifact_dir: Path, manifest, program: Path, gaps: list[NumericGap]):
    from edge_export.attribution.tflite_graph import read_tflite_graph

    data = program.read_bytes()
    try:
        graph = read_tflite_graph(program, data)
    except ValueError as e:
        raise EdgeExportError(f"{e}: re-export the artifact") from None
    gid = tflite_graph_id(data, graph.subgraph)
    builtin = profile.provenance.options.get("kernel_mode") == "builtin"
    mapped = _Mapped()
    for k, row in enumerate(profile.rows):
        i, why = tflite_op_of_row(row, graph.ops, builtin)
        if i is None:
            mapped.unmapped[k] = why
        else:
            mapped.rows[k] = {gid: str(i)}
    if gaps:
        _tflite_gap_nodes(graph, data, manifest, gid, gaps, mapped)
    return mapped, [gid]


def _tflite_gap_nodes(graph, data: bytes, manifest, gid: str, gaps: list[NumericGap], mapped: _Mapped) -> None:
    from ai_edge_litert import schema_py_generated as S

    from edge_export.runtimes.litert.numeric_gap import _values

    sg = S.ModelT.InitFromPackedBuf(data, 0).subgraphs[graph.subgraph]
    graph_outputs = [int(t) for t in sg.outputs]

    def values(hooks):
        return _values(graph, sg, hooks, graph_outputs)

    by_module = _gap_outputs(manifest, values, channels_last=True, gaps=gaps, mapped=mapped)
    if by_module is None:
        return
    producer = {t: op.index for op in graph.ops for t in op.output_ids}
    for gap in gaps:
        if gap.module_path == "":
            op = producer.get(graph_outputs[0]) if graph_outputs else None
            node = None if op is None else str(op)
        else:
            v = by_module.get(gap.module_path)
            node = None if v is None else str(v.order)  # litert's Value.order is the op index
        if node is None:
            mapped.gap_unmapped[gap.module_path] = "no op of the subgraph computes its output"
        else:
            mapped.gap_nodes[gap.module_path] = {gid: node}


def _gap_outputs(manifest, values, *, channels_last: bool, gaps, mapped: _Mapped):
    """{module (the profile's name for it): Value} the numeric gap reports as each module's output (its own
    selection rule), or None with every gap marked unmapped when the PyTorch model cannot be rebuilt."""
    from edge_export.images import validation_batch
    from edge_export.models import load_from_source
    from edge_export.models.export_form import export_form
    from edge_export.profile.numeric_gap import ReferenceHooks, select_outputs

    try:
        module, _ = export_form(load_from_source(manifest.source))
        _, batch = validation_batch(manifest.preprocessing, 1)
    except Exception as e:  # noqa: BLE001 - the latency overlay does not need the model
        for gap in gaps:
            mapped.gap_unmapped[gap.module_path] = f"the PyTorch model could not be rebuilt ({type(e).__name__})"
        return None
    hooks = ReferenceHooks(module)
    try:
        hooks.run(batch[:1])  # call counts, completion order and output shapes: what the selection reads
        sel = select_outputs(values(hooks), hooks, channels_last)
    finally:
        hooks.close()
    names = module_names(manifest)
    return {names(m): v for m, v in sel.exposed}


# --------------------------------------------------------------------------------------------
# .pte (ExecuTorch, XNNPACK)


def _is_getitem(node) -> bool:
    return node.target is operator.getitem


def _handles(node) -> tuple[int, ...]:
    dh = node.meta.get("debug_handle")
    if dh is None:
        return ()
    return tuple(int(h) for h in dh) if isinstance(dh, (tuple, list)) else (int(dh),)


def handle_nodes(ep) -> dict[int, Any]:
    """{debug handle: the first call_function FX node (not a getitem) of the edge program carrying it}."""
    out: dict[int, Any] = {}
    for node in ep.graph.nodes:
        if node.op == "call_function" and not _is_getitem(node):
            for h in _handles(node):
                out.setdefault(h, node)
    return out


def et_node_ids(fx_name: str) -> dict[str, str]:
    """The node's id in each ExecuTorch graph the overlay names."""
    return {ET_GRAPH_ETRECORD: fx_name + "_", ET_GRAPH_EXPORTED_PROGRAM: fx_name}


def module_names(manifest) -> Callable[[str], str | None]:
    """The export form's module path -> the one profiles name it by (the manifest's canonical names,
    edge_export.attribution.module_names; None: a wrapper of the whole model)."""
    from edge_export.attribution.module_names import module_name_map

    mapping, _ = module_name_map(manifest)
    if mapping is None:
        return lambda path: path
    return lambda path: path if not path or path in PSEUDO_MODULES else (mapping(path) or None)


def _executorch(profile: Profile, artifact_dir: Path, manifest, program: Path, gaps: list[NumericGap]):
    from edge_export.attribution.xnnpack_blob import read_xnnpack_delegates

    method = "forward"
    mapped = _Mapped()
    calls = sorted((ci_ii, g) for g in read_xnnpack_delegates(program) if g.plan_name == method
                   for ci_ii in g.instruction_ids)
    etrecord_path = artifact_dir / manifest.etrecord_file if manifest.etrecord_file else None
    etrecord = ep = None
    if etrecord_path is not None and etrecord_path.is_file():
        from edge_export.attribution.etrecord import edge_program

        try:
            etrecord, ep = edge_program(str(etrecord_path), method)
        except Exception as e:  # noqa: BLE001 - any parse failure is a bad file
            raise EdgeExportError(f"{etrecord_path} is not a readable ETRecord ({type(e).__name__}): "
                                  "re-export the artifact") from None
    names: list[str] = [ET_GRAPH_ETRECORD, ET_GRAPH_EXPORTED_PROGRAM] if ep is not None else []
    by_handle = handle_nodes(ep) if ep is not None else {}

    xrows = [k for k, r in enumerate(profile.rows) if r.delegate == _XNNPACK_ROW]
    if xrows and len(calls) != 1:
        why = (f"XNNPACK operators of a program with {len(calls)} delegate calls (the rows do not say which call "
               "each came from)")
        mapped.unmapped.update({k: why for k in xrows})
    elif xrows:
        (ci, ii), g = calls[0]
        delegate_graph = f"{program.name}::{method}_{ci}_{ii}"
        names.append(delegate_graph)
        attrs = _realign(profile, xrows, g, etrecord, method, ii, module_names(manifest))
        if attrs is None:
            why = "XNNPACK operators that no longer align with the program's XNodes as the profile did"
            mapped.unmapped.update({k: why for k in xrows})
        else:
            for k, a in zip(xrows, attrs):
                nodes: dict[str, str] = {}
                if a.xnode_indices:
                    nodes[delegate_graph] = str(a.xnode_indices[0])
                fx = next((by_handle[h] for h in a.debug_handles if h in by_handle), None)
                if fx is not None:
                    nodes.update(et_node_ids(fx.name))
                if nodes:
                    mapped.rows[k] = nodes
                else:
                    mapped.unmapped[k] = "XNNPACK operators with no XNode (created by XNNPACK)"
    instr = None
    for k, row in enumerate(profile.rows):
        if k in mapped.rows or k in mapped.unmapped:
            continue
        m = _PORTABLE.fullmatch(row.name)
        if m is None or row.delegate is not None:
            mapped.unmapped[k] = f"rows of another delegate ({row.delegate})" if row.delegate else "unknown rows"
            continue
        if etrecord is None:
            mapped.unmapped[k] = "portable ops (mapping them needs the artifact's ETRecord)"
            continue
        if instr is None:
            from edge_export.attribution.etrecord import instruction_handles

            instr = instruction_handles(etrecord, method)
        fx = next((by_handle[h] for h in instr.get(int(m.group(1)), []) if h in by_handle), None)
        if fx is None:
            mapped.unmapped[k] = "portable ops whose instruction has no FX node in the ETRecord"
        else:
            mapped.rows[k] = et_node_ids(fx.name)
    if gaps:
        if ep is None:
            mapped.gap_unmapped.update({gap.module_path: "no ETRecord in the artifact" for gap in gaps})
        else:
            _executorch_gap_nodes(ep, manifest, gaps, mapped)
    return mapped, names


def _realign(profile: Profile, xrows: list[int], g, etrecord, method: str, instruction: int, names):
    """The collector's attributions of the one delegate call's operators (attribute_program's, for one call),
    recomputed from the rows' names; None when they do not give every row the module path the profile has."""
    from edge_export.attribution.etrecord import (
        debug_handle_module_map,
        fused_handle_map,
        instruction_handles,
        model_io_handles,
    )
    from edge_export.attribution.xnnpack import attribute_delegate_events
    from edge_export.attribution.xnnpack_program import infer_missing_handles

    events = [(profile.rows[k].name, profile.rows[k].stats.median) for k in xrows]
    dh_map: dict[int, str] = {}
    model_io: dict[int, str] = {}
    inferred: dict[int, int] = {}
    fused = None
    if etrecord is not None:
        dh_map = debug_handle_module_map(etrecord, method)
        model_io = model_io_handles(etrecord, method)
        handles = instruction_handles(etrecord, method).get(instruction)
        if handles:
            inferred = infer_missing_handles(etrecord, g, handles, method)
            xh = [x.debug_handle for x in g.xnodes if x.debug_handle is not None] + list(inferred.values())
            fused = fused_handle_map(etrecord, handles, xh, method)
    attrs = attribute_delegate_events(events, g, dh_map, inferred_handles=inferred, fused_handles=fused,
                                      model_io=model_io)

    def row_path(a) -> str | None:  # what the collector writes (host_collector._row), in the profile's names
        return names(a.module_path) if a.attributed and a.module_path else None

    if any(row_path(a) != profile.rows[k].module_path for k, a in zip(xrows, attrs)):
        return None
    return attrs


def _executorch_gap_nodes(ep, manifest, gaps: list[NumericGap], mapped: _Mapped) -> None:
    from edge_export.runtimes.executorch.numeric_gap import _values

    nodes = list(ep.graph.nodes)
    by_module = _gap_outputs(manifest, lambda hooks: _values(nodes), channels_last=False, gaps=gaps, mapped=mapped)
    if by_module is None:
        return

    def shown(node):
        while _is_getitem(node):  # the adapters show a getitem's value on the node it reads
            node = node.args[0]
        return node

    out_node = next(n for n in nodes if n.op == "output")
    outs = out_node.args[0]
    outs = list(outs) if isinstance(outs, (tuple, list)) else [outs]
    for gap in gaps:
        if gap.module_path == "":
            node = shown(outs[0]) if outs and hasattr(outs[0], "op") else None
        else:
            v = by_module.get(gap.module_path)
            node = None if v is None else shown(nodes[v.key])  # executorch's Value.key is the node's position
        if node is None or node.op != "call_function":
            mapped.gap_unmapped[gap.module_path] = "no op of the edge program computes its output"
        else:
            mapped.gap_nodes[gap.module_path] = et_node_ids(node.name)

