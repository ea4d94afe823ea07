"""Numeric gap on TFLite: the shipped kernels made to return every module's output.

A delegate hides intermediate tensors but must hand back every subgraph output, so the shipped
flatbuffer gets the module-output tensors appended to its subgraph outputs (nothing else changes) and
runs in LiteRT's Interpreter with its default XNNPACK delegate, as shipped. Quantized tensors are
dequantized with their own scale and zero point. Which tensor is a module's output: litert-torch's
tensor names, resolved by `edge_export.attribution.tflite.ModulePathResolver` (a fused op carries
several modules' locations and belongs to the one whose forward finished last).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from edge_export.artifacts import Manifest, program_path
from edge_export.errors import EdgeExportError, first_line
from edge_export.profile.numeric_gap import (
    GRAPH_OUTPUT,
    Instrumented,
    ReferenceHooks,
    Value,
    dequantize,
    select_outputs,
    skip_notes,
)
from edge_export.versions import package_version


def _values(graph, sg, hooks: ReferenceHooks, graph_outputs: list[int]) -> list[Value]:
    """Every tensor an op computes, with the module its name resolves to and who reads it."""
    from edge_export.attribution.tflite_names import ModulePathResolver, keras_scope_path, tensor_locations

    resolver = ModulePathResolver(hooks.root)

    def owner(name: str) -> str | None:
        paths = []
        for loc in tensor_locations(name):
            r = resolver.resolve(loc)
            if r.complete and r.path:
                paths.append(r.path)
        if not paths:
            k = keras_scope_path(name, resolver)
            paths = [k] if k else []
        return max(paths, key=lambda p: hooks.completion.get(p, -1)) if paths else None

    readers: dict[int, list[int]] = defaultdict(list)
    for op in graph.ops:
        key = next((t for t in op.output_ids if t >= 0), None)
        if key is None:
            continue
        for t in op.input_ids:
            if t >= 0:
                readers[t].append(key)
    values = []
    for op in graph.ops:
        options = getattr(sg.operators[op.index], "builtinOptions", None)
        fused = bool(getattr(options, "fusedActivationFunction", 0))
        for t, name, shape in zip([t for t in op.output_ids if t >= 0], op.outputs, op.output_shapes):
            consumers = list(readers.get(t, ())) + ([GRAPH_OUTPUT] if t in graph_outputs else [])
            values.append(Value(t, op.index, owner(name), consumers, tuple(shape), fused))
    return values


def _repacked(model, data: bytes) -> bytes:
    """The (edited) model as a flatbuffer, weights stored after the shipped flatbuffer inlined (they would
    point past the end of the repacked one: the XS quantized model has them)."""
    import flatbuffers

    for buf in model.buffers or []:
        offset, size = int(getattr(buf, "offset", 0) or 0), int(getattr(buf, "size", 0) or 0)
        if offset > 1:
            buf.data = np.frombuffer(data, dtype=np.uint8, count=size, offset=offset)
            buf.offset, buf.size = 0, 0
    builder = flatbuffers.Builder(max(1024, len(data) + (1 << 16)))
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def _interpreter(content: bytes, path: Path, threads: int, outputs: list[int]):
    from ai_edge_litert.interpreter import Interpreter

    try:
        interp = Interpreter(model_content=content, num_threads=int(threads))
        interp.allocate_tensors()
    except (ValueError, RuntimeError) as e:
        msg = first_line(e)
        raise EdgeExportError(f"LiteRT cannot load {path} with its module outputs exposed ({msg})") from None
    if {int(d["index"]) for d in interp.get_output_details()} != set(outputs):
        raise EdgeExportError(f"LiteRT did not expose the requested tensors of {path} as outputs")
    return interp


def _dequantized(interp, d) -> np.ndarray:
    q = d.get("quantization_parameters") or {}
    return dequantize(interp.get_tensor(d["index"]), q.get("scales"), q.get("zero_points"),
                      int(q.get("quantized_dimension", 0)))


def instrumented_program(artifact_dir: Path, manifest: Manifest, hooks: ReferenceHooks, threads: int) -> Instrumented:
    """The shipped .tflite with its module-output tensors appended to its subgraph outputs (module docstring)."""
    from ai_edge_litert import schema_py_generated as S

    from edge_export.attribution.tflite_graph import read_tflite_graph
    from edge_export.runtimes.base import to_program_input
    from edge_export.runtimes.litert.runner import check_tflite_file, load_interpreter

    path = program_path(artifact_dir, manifest)
    check_tflite_file(path)
    try:
        graph = read_tflite_graph(path)
    except ValueError as e:
        raise EdgeExportError(f"{e}: re-export the artifact") from None
    data = path.read_bytes()
    model = S.ModelT.InitFromPackedBuf(data, 0)
    sg = model.subgraphs[graph.subgraph]
    graph_outputs = [int(t) for t in sg.outputs]
    sel = select_outputs(_values(graph, sg, hooks, graph_outputs), hooks, channels_last=True)
    extra = [v.key for _, v in sel.exposed if v.key not in graph_outputs]
    sg.outputs = np.array(graph_outputs + extra, dtype=np.int32)
    interp = _interpreter(_repacked(model, data), path, threads, graph_outputs + extra)
    inp = interp.get_input_details()[0]
    details = {int(d["index"]): d for d in interp.get_output_details()}
    shipped = load_interpreter(path, int(threads), xnnpack=True)
    s_in, s_out = shipped.get_input_details()[0], shipped.get_output_details()[0]
    out_key = int(s_out["index"])
    spec = manifest.inputs[0]
    diffs: list[float] = []

    def run(x_nchw: np.ndarray):
        x = to_program_input(x_nchw, spec)
        interp.set_tensor(inp["index"], x)
        interp.invoke()
        got = {k: _dequantized(interp, d) for k, d in details.items()}
        shipped.set_tensor(s_in["index"], x)
        shipped.invoke()
        ref_q = s_out.get("quantization_parameters") or {}
        logits = dequantize(shipped.get_tensor(out_key), ref_q.get("scales"), ref_q.get("zero_points"))
        diffs.append(float(np.abs(got[out_key].astype(np.float64) - logits).max()))
        return got, logits

    return Instrumented(
        sel.exposed, run, channels_last=True,
        how=(f"LiteRT {package_version('ai-edge-litert')} Interpreter with its default XNNPACK delegate (as shipped) on the "
             f"shipped .tflite with {len(extra)} module-output tensors added to its subgraph outputs"),
        notes=skip_notes(sel.skipped), agreement=diffs,
    )
