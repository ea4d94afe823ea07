"""Read the XNNPACK delegate payloads stored inside an ExecuTorch ``.pte`` file.

Each XNNPACK delegate in a program is an opaque blob for the ExecuTorch runtime, but it is a
flatbuffer of the schema ``executorch/backends/xnnpack/serialization/schema.fbs``: an ``XNNGraph``
whose ``xnodes`` are the nodes XNNPACK's runtime builds its operators from, in creation order,
each with the ``debug_handle`` of the FX node it was serialised from.

How the bytes are found:

1. ``executorch.exir._serialize._program.deserialize_pte_binary`` parses the program flatbuffer
   and inlines the delegate segments into ``program.backend_delegate_data``.
2. Each ``execution_plan[i].delegates[j]`` whose id is ``XnnpackBackend`` points (``processed``,
   INLINE after step 1) at its payload.
3. The payload starts either with the XNNPACK header (bytes 4:8 == ``b"XH00"``; layout from
   ``xnnpack_graph_serialize.XNNHeader``: flatbuffer offset/size, constant data offset/size) or
   directly with the flatbuffer (identifier ``XN00``/``XN01`` at bytes 4:8).

ExecuTorch ships no Python reader for this flatbuffer (it only writes it, via ``flatc``), so the
flatbuffer is decoded here with the ``flatbuffers`` runtime package, driven by the schema file of
the *installed* ExecuTorch (the one whose ``file_identifier`` matches the blob). Nothing about the
union order or the table layouts is hard-coded, so a new ExecuTorch that adds node kinds keeps
working. ``decode_with_flatc`` is an independent cross-check that uses ExecuTorch's bundled
``flatc`` instead.
"""

from __future__ import annotations

import importlib.resources
import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any


from edge_export.attribution.flatbuffer_schema import Decoder, FlatbufferError, Schema, parse_schema

XNNPACK_BACKEND_ID = "XnnpackBackend"
XNN_HEADER_MAGIC = b"XH00"
XNN_INVALID_VALUE_ID = 0xFFFFFFFF
# xnnpack_preprocess.DEFAULT_DEBUG_HANDLE: written for FX nodes that carry no debug handle.
DEFAULT_DEBUG_HANDLE = 65535

_SCHEMA_PACKAGE = "executorch.backends.xnnpack.serialization"
_SCHEMA_FILES = ("schema.fbs", "runtime_schema.fbs")


class XnnBlobError(FlatbufferError):
    """The bytes are not an XNNPACK delegate payload this module can read."""


@lru_cache(maxsize=None)
def _installed_schemas() -> tuple[tuple[str, Schema], ...]:
    found = []
    pkg = importlib.resources.files(_SCHEMA_PACKAGE)
    for fname in _SCHEMA_FILES:
        res = pkg.joinpath(fname)
        if res.is_file():
            found.append((fname, parse_schema(res.read_text())))
    if not found:
        raise XnnBlobError(f"no XNNPACK schema file found in {_SCHEMA_PACKAGE}")
    return tuple(found)


def _schema_for(identifier: bytes) -> tuple[str, Schema]:
    ident = identifier.decode("latin-1")
    schemas = _installed_schemas()
    for fname, schema in schemas:
        if schema.file_identifier == ident:
            return fname, schema
    known = ", ".join(f"{f}={s.file_identifier}" for f, s in schemas)
    raise XnnBlobError(f"XNNPACK flatbuffer identifier {ident!r} matches no installed schema ({known})")


# --------------------------------------------------------------------------------------------
# Public model of a delegate graph
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class XNode:
    """One serialised XNNPACK node, in the order the runtime defines them."""

    index: int
    kind: str  # union member name, e.g. "XNNConv2d", "XNNFullyConnected", "XNNStaticTranspose"
    debug_handle: int | None  # None when the node was written with DEFAULT_DEBUG_HANDLE
    inputs: tuple[int, ...]  # value ids: activations first, then filter/bias for conv/FC
    outputs: tuple[int, ...]
    params: dict[str, Any] = field(default_factory=dict, compare=False)  # every other node field
    output_min_max: tuple[float, float] | None = None  # fused clamp, if any

    @property
    def raw_debug_handle(self) -> int:
        return DEFAULT_DEBUG_HANDLE if self.debug_handle is None else self.debug_handle


@dataclass(frozen=True)
class XValue:
    id: int
    datatype: str
    dims: tuple[int, ...]
    constant: bool  # constant data (weights) rather than an activation
    external_id: int | None
    flags: int
    quantized: bool = False


@dataclass
class XnnGraphInfo:
    """One XNNPACK delegate of a program: where it sits and what it contains."""

    plan_name: str  # execution plan (method) name, e.g. "forward"
    delegate_index: int  # index into execution_plan.delegates (DelegateCall.delegate_index)
    instruction_ids: list[tuple[int, int]]  # (chain index, instruction index) of its DelegateCalls
    schema_file: str
    version: str | None
    xnodes: list[XNode]
    values: dict[int, XValue]
    input_ids: list[int]
    output_ids: list[int]
    num_externs: int
    payload_size: int
    constant_data_size: int | None

    def kind_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for n in self.xnodes:
            counts[n.kind] = counts.get(n.kind, 0) + 1
        return counts

    def value_dims(self, vid: int) -> tuple[int, ...] | None:
        v = self.values.get(vid)
        return v.dims if v is not None else None


def _is_input_field(name: str) -> bool:
    return name.endswith("_id") and not name.startswith("output")


def _is_output_field(name: str) -> bool:
    return name.startswith("output") and name.endswith("_id")


# Order in which input value ids are listed (activations first, weights last).
_INPUT_ORDER = ("input_id", "input1_id", "input2_id", "input3_id", "input4_id", "input5_id",
                "query_id", "key_id", "value_id", "scale_id", "mask_id", "filter_id", "bias_id")


def _to_xnode(index: int, raw: dict[str, Any]) -> XNode:
    kind = raw.get("xnode_union_type") or "<none>"
    body = raw.get("xnode_union") or {}
    in_names = sorted(
        (k for k in body if _is_input_field(k)),
        key=lambda k: _INPUT_ORDER.index(k) if k in _INPUT_ORDER else len(_INPUT_ORDER),
    )
    inputs = tuple(body[k] for k in in_names if body[k] != XNN_INVALID_VALUE_ID)
    outputs = tuple(body[k] for k in body if _is_output_field(k) and body[k] != XNN_INVALID_VALUE_ID)
    params = {k: v for k, v in body.items() if not (_is_input_field(k) or _is_output_field(k))}
    params.update({k: body[k] for k in in_names})  # keep named ids (filter_id, bias_id, ...) too
    dh = raw.get("debug_handle", 0)
    mm = raw.get("output_min_max")
    return XNode(
        index=index,
        kind=kind,
        debug_handle=None if dh == DEFAULT_DEBUG_HANDLE else dh,
        inputs=inputs,
        outputs=outputs,
        params=params,
        output_min_max=(mm["output_min"], mm["output_max"]) if mm else None,
    )


def _to_xvalue(raw: dict[str, Any]) -> XValue | None:
    kind = raw.get("xvalue_union_type")
    body = raw.get("xvalue_union")
    if body is None:
        return None
    quantized = kind == "XNNQuantizedTensorValue"
    tv = body["tensor_value"] if quantized else body
    ext = tv.get("external_id", XNN_INVALID_VALUE_ID)
    return XValue(
        id=tv["id_out"],
        datatype=str(tv.get("datatype")),
        dims=tuple(tv.get("dims") or ()),
        constant=bool(tv.get("constant_buffer_idx", 0)),
        external_id=None if ext == XNN_INVALID_VALUE_ID else ext,
        flags=tv.get("flags", 0),
        quantized=quantized,
    )


def split_payload(payload: bytes) -> tuple[bytes, int | None]:
    """Return (flatbuffer bytes, constant data size or None) of an XNNPACK delegate payload."""
    if len(payload) < 8:
        raise XnnBlobError(f"payload of {len(payload)} bytes is too short")
    if payload[4:8] == XNN_HEADER_MAGIC:
        hdr_len = int.from_bytes(payload[8:10], "little")
        if hdr_len < 30:
            raise XnnBlobError(f"XNNPACK header length {hdr_len} < 30")
        fb_off = int.from_bytes(payload[10:14], "little")
        fb_size = int.from_bytes(payload[14:18], "little")
        const_size = int.from_bytes(payload[22:30], "little")
        if fb_size == 0 or fb_off + fb_size > len(payload):
            raise XnnBlobError(f"XNNPACK header points outside the payload ({fb_off}+{fb_size} > {len(payload)})")
        return payload[fb_off : fb_off + fb_size], const_size
    return payload, None  # legacy: a bare flatbuffer


def decode_xnn_graph(payload: bytes) -> tuple[str, dict[str, Any], int | None]:
    """Decode a delegate payload into (schema file used, XNNGraph as a dict, constant data size)."""
    fb, const_size = split_payload(payload)
    fname, schema = _schema_for(bytes(fb[4:8]))
    return fname, Decoder(schema, fb).root(), const_size


def graph_info_from_payload(
    payload: bytes,
    plan_name: str = "",
    delegate_index: int = 0,
    instruction_ids: list[tuple[int, int]] | None = None,
) -> XnnGraphInfo:
    fname, g, const_size = decode_xnn_graph(payload)
    values: dict[int, XValue] = {}
    for raw in g.get("xvalues") or []:
        v = _to_xvalue(raw)
        if v is not None:
            values[v.id] = v
    return XnnGraphInfo(
        plan_name=plan_name,
        delegate_index=delegate_index,
        instruction_ids=list(instruction_ids or []),
        schema_file=fname,
        version=g.get("version"),
        xnodes=[_to_xnode(i, raw) for i, raw in enumerate(g.get("xnodes") or [])],
        values=values,
        input_ids=list(g.get("input_ids") or []),
        output_ids=list(g.get("output_ids") or []),
        num_externs=g.get("num_externs", 0),
        payload_size=len(payload),
        constant_data_size=const_size,
    )


def _load_program(pte: bytes):
    # deserialize_pte_binary moves segment-stored delegate payloads into
    # program.backend_delegate_data (INLINE), so one lookup path serves both layouts.
    from executorch.exir._serialize._program import deserialize_pte_binary

    return deserialize_pte_binary(pte).program


def read_xnnpack_delegates(pte_path: str | os.PathLike[str]) -> list[XnnGraphInfo]:
    """Every XNNPACK delegate of every execution plan of ``pte_path``, in plan/delegate order.

    ``instruction_ids`` records the (chain, instruction) positions of the ``DelegateCall``s that
    run each delegate: ETDump tags a delegate's profiling events with that instruction id, which
    is how runtime events are matched to a delegate when a program has more than one.
    """
    from executorch.exir.schema import DataLocation, DelegateCall

    program = _load_program(Path(pte_path).read_bytes())
    out: list[XnnGraphInfo] = []
    for plan in program.execution_plan:
        calls: dict[int, list[tuple[int, int]]] = {}
        for ci, chain in enumerate(plan.chains):
            for ii, instr in enumerate(chain.instructions):
                if isinstance(instr.instr_args, DelegateCall):
                    calls.setdefault(instr.instr_args.delegate_index, []).append((ci, ii))
        for di, delegate in enumerate(plan.delegates):
            if delegate.id != XNNPACK_BACKEND_ID:
                continue
            if delegate.processed.location != DataLocation.INLINE:
                raise XnnBlobError(f"delegate {di} of {plan.name}: payload location {delegate.processed.location}")
            payload = program.backend_delegate_data[delegate.processed.index].data
            out.append(graph_info_from_payload(bytes(payload), plan.name, di, calls.get(di, [])))
    return out


def decode_with_flatc(payload: bytes) -> dict[str, Any]:
    """Cross-check decoder: ExecuTorch's bundled flatc turns the flatbuffer into JSON.

    Uses ``executorch.exir._serialize._flatbuffer._flatc_decompile`` (flatc ships in the wheel as
    ``executorch/data/bin/flatc``) with the installed schema file that matches the identifier.
    """
    from executorch.exir._serialize._flatbuffer import _flatc_decompile

    fb, _ = split_payload(payload)
    fname, _schema = _schema_for(bytes(fb[4:8]))
    with tempfile.TemporaryDirectory() as d:
        schema_path = os.path.join(d, "schema.fbs")
        Path(schema_path).write_bytes(importlib.resources.files(_SCHEMA_PACKAGE).joinpath(fname).read_bytes())
        bin_path = os.path.join(d, "graph.bin")
        Path(bin_path).write_bytes(fb)
        _flatc_decompile(d, schema_path, bin_path, ["--raw-binary"])
        text = Path(d, "graph.json").read_text()
        # flatc writes non-finite floats (a ReLU's output_max) as bare inf / -inf / nan.
        text = re.sub(r"(?<=[:\[,\s])(-?)inf\b", r"\1Infinity", text)
        text = re.sub(r"(?<=[:\[,\s])-?nan\b", "NaN", text)
        return json.loads(text)


def format_xnodes(info: XnnGraphInfo) -> str:
    """A readable one-line-per-node listing (for debugging and reports)."""
    lines = []
    for n in info.xnodes:
        outs = ",".join(f"{o}{list(info.value_dims(o) or ())}" for o in n.outputs)
        extra = ""
        if "kernel_height" in n.params:
            p = n.params
            extra = f" k={p['kernel_height']}x{p['kernel_width']} s={p['subsampling_height']} g={p['groups']}"
        if n.output_min_max:
            extra += f" clamp={n.output_min_max}"
        lines.append(f"{n.index:4d} {n.kind:28s} dh={n.debug_handle!s:6s} in={list(n.inputs)} out={outs}{extra}")
    return "\n".join(lines)
