"""A small reader for the subset of the flatbuffers schema language ExecuTorch's XNNPACK schema uses,
and a decoder that turns a flatbuffer into plain dicts by following a parsed schema (no generated code,
so a newer schema with new tables or union members keeps decoding)."""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from typing import Any

import flatbuffers.number_types as _nt
from flatbuffers.table import Table

from edge_export.errors import EdgeExportError


class FlatbufferError(EdgeExportError, ValueError):
    """A schema this reader cannot parse, or bytes that do not decode under it."""



SCALARS: dict[str, tuple[Any, int]] = {
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
class Field:
    name: str
    type: str  # scalar, enum, union, table or string name; "[T]" for vectors
    slot: int  # vtable slot; a union field uses slot (its _type) and slot + 1 (its value)
    default: Any
    deprecated: bool


@dataclass
class Schema:
    file_identifier: str | None
    root_type: str
    enums: dict[str, tuple[str, dict[int, str]]]  # name -> (underlying scalar, value -> name)
    unions: dict[str, dict[int, tuple[str, str]]]  # name -> type index -> (member name, table)
    tables: dict[str, list[Field]]


def _strip_comments(text: str) -> str:
    return re.sub(r"//[^\n]*", "", text)


def parse_schema(text: str) -> Schema:
    text = _strip_comments(text)
    ident = re.search(r'file_identifier\s+"([^"]*)"\s*;', text)
    root = re.search(r"root_type\s+(\w+)\s*;", text)
    if root is None:
        raise FlatbufferError("schema has no root_type")
    enums: dict[str, tuple[str, dict[int, str]]] = {}
    unions: dict[str, dict[int, tuple[str, str]]] = {}
    tables: dict[str, list[Field]] = {}
    for kind, name, base, body in re.findall(
        r"\b(enum|union|table|struct)\s+(\w+)\s*(?::\s*(\w+))?\s*(?:\([^)]*\))?\s*\{([^}]*)\}", text
    ):
        if kind == "enum":
            values: dict[int, str] = {}
            nxt = 0
            for item in filter(None, (s.strip() for s in body.split(","))):
                m = re.fullmatch(r"(\w+)\s*(?:=\s*(-?\w+))?", item)
                if m is None:
                    raise FlatbufferError(f"cannot parse enum item {item!r} of {name}")
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
                    raise FlatbufferError(f"cannot parse union item {item!r} of {name}")
                if m.group(3) is not None:
                    nxt = int(m.group(3), 0)
                members[nxt] = (m.group(1), m.group(2) or m.group(1))
                nxt += 1
            unions[name] = members
        elif kind == "table":
            fields_: list[Field] = []
            slot = 0
            for decl in filter(None, (s.strip() for s in body.split(";"))):
                m = re.fullmatch(
                    r"(\w+)\s*:\s*(\[\s*\w+\s*\]|\w+)\s*(?:=\s*([^()]+?))?\s*(?:\((.*)\))?", decl, re.S
                )
                if m is None:
                    raise FlatbufferError(f"cannot parse field {decl!r} of table {name}")
                fname, ftype, default, attrs = m.groups()
                ftype = re.sub(r"\s+", "", ftype)
                fields_.append(
                    Field(
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
            raise FlatbufferError(f"struct {name}: structs are not supported by this reader")
    # Union fields take two vtable slots (the type byte, then the value): renumber.
    for tname, flds in tables.items():
        renumbered: list[Field] = []
        slot = 0
        for f in flds:
            renumbered.append(Field(f.name, f.type, slot, f.default, f.deprecated))
            slot += 2 if f.type in unions else 1
        tables[tname] = renumbered
    return Schema(
        file_identifier=ident.group(1) if ident else None,
        root_type=root.group(1),
        enums=enums,
        unions=unions,
        tables=tables,
    )


class Decoder:
    """Decodes a flatbuffer table into plain dicts, following a parsed schema."""

    def __init__(self, schema: Schema, buf: bytes):
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
                    raise FlatbufferError(f"union {ftype} member #{type_idx} is not in the installed schema")
                out[f.name] = self.table(member_table, Table(self.buf, tab.Indirect(vo + tab.Pos)))
            elif ftype.startswith("["):
                out[f.name] = self._vector(ftype[1:-1], tab, o) if o else []
            elif ftype == "string":
                out[f.name] = tab.String(o + tab.Pos).decode("utf-8") if o else None
            elif ftype in self.s.tables:
                out[f.name] = self.table(ftype, Table(self.buf, tab.Indirect(o + tab.Pos))) if o else None
            else:
                base = self.s.enums[ftype][0] if ftype in self.s.enums else ftype
                if base not in SCALARS:
                    raise FlatbufferError(f"field {tname}.{f.name}: unsupported type {ftype}")
                if not o:
                    out[f.name] = self._scalar_default(ftype, f.default)
                    continue
                val = tab.Get(SCALARS[base][0], o + tab.Pos)
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
        if base not in SCALARS:
            raise FlatbufferError(f"unsupported vector element type {etype}")
        flags, size = SCALARS[base]
        vals = [tab.Get(flags, start + size * k) for k in range(n)]
        if etype in self.s.enums:
            vals = [self.s.enums[etype][1].get(v, v) for v in vals]
        return vals
