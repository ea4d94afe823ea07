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
import struct
import tempfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import flatbuffers.number_types as _nt
from flatbuffers.table import Table

XNNPACK_BACKEND_ID = "XnnpackBackend"
XNN_HEADER_MAGIC = b"XH00"
XNN_INVALID_VALUE_ID = 0xFFFFFFFF
# xnnpack_preprocess.DEFAULT_DEBUG_HANDLE: written for FX nodes that carry no debug handle.
DEFAULT_DEBUG_HANDLE = 65535

_SCHEMA_PACKAGE = "executorch.backends.xnnpack.serialization"
_SCHEMA_FILES = ("schema.fbs", "runtime_schema.fbs")


class XnnBlobError(ValueError):
    """The bytes are not an XNNPACK delegate payload this module can read."""


# --------------------------------------------------------------------------------------------
# A small reader for the subset of the flatbuffers schema language that schema.fbs uses.
# --------------------------------------------------------------------------------------------

_SCALARS: dict[str, tuple[Any, int]] = {
    "bool": (_nt.BoolFlags, 1),
    "byte": (_nt.Int8Flags, 1),
    "int8": (_nt.Int8Flags, 1),
    "ubyte": (_nt.Uint8Flags, 1),
    "uint8": (_nt.Uint8Flags, 1),
    "short": (_nt.Int16Flags, 2),
    "int16": (_nt.Int16Flags, 2),
    "ushort": (_nt.Uint16Flags, 2),
    "uint16": (_nt.Uint16Flags, 2),
    "int": (_nt.Int32Flags, 4),
    "int32": (_nt.Int32Flags, 4),
    "uint": (_nt.Uint32Flags, 4),
    "uint32": (_nt.Uint32Flags, 4),
    "long": (_nt.Int64Flags, 8),
    "int64": (_nt.Int64Flags, 8),
    "ulong": (_nt.Uint64Flags, 8),
    "uint64": (_nt.Uint64Flags, 8),
    "float": (_nt.Float32Flags, 4),
    "float32": (_nt.Float32Flags, 4),
    "double": (_nt.Float64Flags, 8),
    "float64": (_nt.Float64Flags, 8),
}


@dataclass(frozen=True)
class _Field:
    name: str
    type: str  # scalar, enum, union, table or string name; "[T]" for vectors
    slot: int  # vtable slot; a union field uses slot (its _type) and slot + 1 (its value)
    default: Any
    deprecated: bool


@dataclass
class _Schema:
    file_identifier: str | None
    root_type: str
    enums: dict[str, tuple[str, dict[int, str]]]  # name -> (underlying scalar, value -> name)
    unions: dict[str, dict[int, tuple[str, str]]]  # name -> type index -> (member name, table)
    tables: dict[str, list[_Field]]


def _strip_comments(text: str) -> str:
    return re.sub(r"//[^\n]*", "", text)


def _parse_schema(text: str) -> _Schema:
    text = _strip_comments(text)
    ident = re.search(r'file_identifier\s+"([^"]*)"\s*;', text)
    root = re.search(r"root_type\s+(\w+)\s*;", text)
    if root is None:
        raise XnnBlobError("schema has no root_type")
    enums: dict[str, tuple[str, dict[int, str]]] = {}
    unions: dict[str, dict[int, tuple[str, str]]] = {}
    tables: dict[str, list[_Field]] = {}
    for kind, name, base, body in re.findall(
        r"\b(enum|union|table|struct)\s+(\w+)\s*(?::\s*(\w+))?\s*(?:\([^)]*\))?\s*\{([^}]*)\}", text
    ):
        if kind == "enum":
            values: dict[int, str] = {}
            nxt = 0
            for item in filter(None, (s.strip() for s in body.split(","))):
                m = re.fullmatch(r"(\w+)\s*(?:=\s*(-?\w+))?", item)
                if m is None:
                    raise XnnBlobError(f"cannot parse enum item {item!r} of {name}")
                if m.group(2) is not None:
                    nxt = int(m.group(2), 0)
                values[nxt] = m.group(1)
                nxt += 1
            enums[name] = (base or "int", values)
        elif kind == "union":
            members: dict[int, tuple[str, str]] = {}
            nxt = 1  # 0 is NONE
            for item in filter(None, (s.strip() for s in body.split(","))):
                m = re.fullmatch(r"(\w+)\s*(?::\s*(\w+))?\s*(?:=\s*(\w+))?", item)
                if m is None:
                    raise XnnBlobError(f"cannot parse union item {item!r} of {name}")
                if m.group(3) is not None:
                    nxt = int(m.group(3), 0)
                members[nxt] = (m.group(1), m.group(2) or m.group(1))
                nxt += 1
            unions[name] = members
        elif kind == "table":
            fields_: list[_Field] = []
            slot = 0
            for decl in filter(None, (s.strip() for s in body.split(";"))):
                m = re.fullmatch(
                    r"(\w+)\s*:\s*(\[\s*\w+\s*\]|\w+)\s*(?:=\s*([^()]+?))?\s*(?:\((.*)\))?", decl, re.S
                )
                if m is None:
                    raise XnnBlobError(f"cannot parse field {decl!r} of table {name}")
                fname, ftype, default, attrs = m.groups()
                ftype = re.sub(r"\s+", "", ftype)
                fields_.append(
                    _Field(
                        name=fname,
                        type=ftype,
                        slot=slot,
                        default=default.strip() if default else None,
                        deprecated=bool(attrs and "deprecated" in attrs),
                    )
                )
                slot += 1
            tables[name] = fields_
        else:  # pragma: no cover - schema.fbs has no structs; refuse rather than misread
            raise XnnBlobError(f"struct {name}: structs are not supported by this reader")
    # Union fields take two vtable slots (the type byte, then the value): renumber.
    for tname, flds in tables.items():
        renumbered: list[_Field] = []
        slot = 0
        for f in flds:
            renumbered.append(_Field(f.name, f.type, slot, f.default, f.deprecated))
            slot += 2 if f.type in unions else 1
        tables[tname] = renumbered
    return _Schema(
        file_identifier=ident.group(1) if ident else None,
        root_type=root.group(1),
        enums=enums,
        unions=unions,
        tables=tables,
    )


@lru_cache(maxsize=None)
def _installed_schemas() -> tuple[tuple[str, _Schema], ...]:
    found = []
    pkg = importlib.resources.files(_SCHEMA_PACKAGE)
    for fname in _SCHEMA_FILES:
        res = pkg.joinpath(fname)
        if res.is_file():
            found.append((fname, _parse_schema(res.read_text())))
    if not found:
        raise XnnBlobError(f"no XNNPACK schema file found in {_SCHEMA_PACKAGE}")
    return tuple(found)


def _schema_for(identifier: bytes) -> tuple[str, _Schema]:
    ident = identifier.decode("latin-1")
    schemas = _installed_schemas()
    for fname, schema in schemas:
        if schema.file_identifier == ident:
            return fname, schema
    known = ", ".join(f"{f}={s.file_identifier}" for f, s in schemas)
    raise XnnBlobError(f"XNNPACK flatbuffer identifier {ident!r} matches no installed schema ({known})")


class _Decoder:
    """Decodes a flatbuffer table into plain dicts, following a parsed schema."""

    def __init__(self, schema: _Schema, buf: bytes):
        self.s = schema
        self.buf = bytearray(buf)

    def root(self) -> dict[str, Any]:
        pos = _nt.UOffsetTFlags.py_type(struct.unpack_from("<I", self.buf, 0)[0])
        return self.table(self.s.root_type, Table(self.buf, pos))

    def _scalar_default(self, ftype: str, default: str | None) -> Any:
        if ftype in self.s.enums:
            base, values = self.s.enums[ftype]
            if default is None:
                return values.get(0, 0)
            return default if default in values.values() else int(default, 0)
        if default is None:
            return False if ftype == "bool" else (0.0 if ftype.startswith(("float", "double")) else 0)
        if ftype in ("float", "float32", "double", "float64"):
            return float(default)
        if ftype == "bool":
            return default == "true"
        return int(default, 0)

    def table(self, tname: str, tab: Table) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in self.s.tables[tname]:
            if f.deprecated:
                continue
            vt = 4 + 2 * f.slot
            o = tab.Offset(vt)
            ftype = f.type
            if ftype in self.s.unions:
                type_idx = tab.Get(_nt.Uint8Flags, o + tab.Pos) if o else 0
                vo = tab.Offset(vt + 2)
                if type_idx == 0 or not vo:
                    out[f.name + "_type"] = None
                    out[f.name] = None
                    continue
                member, member_table = self.s.unions[ftype].get(type_idx, (f"<unknown union type {type_idx}>", ""))
                out[f.name + "_type"] = member
                if member_table not in self.s.tables:
                    raise XnnBlobError(f"union {ftype} member #{type_idx} is not in the installed schema")
                out[f.name] = self.table(member_table, Table(self.buf, tab.Indirect(vo + tab.Pos)))
            elif ftype.startswith("["):
                out[f.name] = self._vector(ftype[1:-1], tab, o) if o else []
            elif ftype == "string":
                out[f.name] = tab.String(o + tab.Pos).decode("utf-8") if o else None
            elif ftype in self.s.tables:
                out[f.name] = self.table(ftype, Table(self.buf, tab.Indirect(o + tab.Pos))) if o else None
            else:
                base = self.s.enums[ftype][0] if ftype in self.s.enums else ftype
                if base not in _SCALARS:
                    raise XnnBlobError(f"field {tname}.{f.name}: unsupported type {ftype}")
                if not o:
                    out[f.name] = self._scalar_default(ftype, f.default)
                    continue
                val = tab.Get(_SCALARS[base][0], o + tab.Pos)
                if ftype in self.s.enums:
                    val = self.s.enums[ftype][1].get(val, val)
                out[f.name] = val
        return out

    def _vector(self, etype: str, tab: Table, o: int) -> Any:
        start = tab.Vector(o)
        n = tab.VectorLen(o)
        if etype in ("ubyte", "uint8", "byte", "int8"):
            return bytes(self.buf[start : start + n])
        if etype in self.s.tables:
            return [self.table(etype, Table(self.buf, tab.Indirect(start + 4 * k))) for k in range(n)]
        if etype == "string":
            return [tab.String(start + 4 * k).decode("utf-8") for k in range(n)]
        base = self.s.enums[etype][0] if etype in self.s.enums else etype
        if base not in _SCALARS:
            raise XnnBlobError(f"unsupported vector element type {etype}")
        flags, size = _SCALARS[base]
        vals = [tab.Get(flags, start + size * k) for k in range(n)]
        if etype in self.s.enums:
            vals = [self.s.enums[etype][1].get(v, v) for v in vals]
        return vals


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
    return fname, _Decoder(schema, fb).root(), const_size


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
