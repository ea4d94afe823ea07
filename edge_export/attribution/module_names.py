"""Canonical module names in profiles: one name per module whichever form or source the model came from.

A model family whose models are another family's architecture under other names (transformers' SwiftFormer port
beside the original repository's) maps its module paths to that family's scheme
(`ModelFamily.canonical_module_path`, scheme `ModelFamily.module_names`). Export records both in the manifest
(`family`, `module_names`); profiling applies the mapping to the rows and numeric-gap entries it writes
(`canonical_profile` in edge_export.profile.dispatch for every runtime's collectors; `canonical_rows` for the
ETDump rows of an Android app run, ExecuTorchRuntime.etdump_rows; LiteRT's collectors get canonical names from
tflite_names.artifact_op_modules already, so their notes' shares and stage names are canonical too), so `compare`, the
terminal report and the dashboard see `network.2.5.attn.Proj` from every artifact of either form, never
`swiftformer.encoder.network.2.blocks.5.attn.proj` beside it. Pseudo-modules ("(input)", ...) are kept as they are.
"""

from __future__ import annotations

from typing import Callable

from edge_export.errors import EdgeExportError
from edge_export.profile.schema import PSEUDO_MODULES, NumericGap, OpRow, Profile


def module_name_map(manifest) -> tuple[Callable[[str], str] | None, str | None]:
    """(the mapping of the manifest's family to its `module_names` scheme, a note on what was done): (None, None)
    for a manifest without a family (an older export: the export form's own names stay); (None, why) when this
    edge-export no longer knows the family or its scheme changed since export."""
    family_name, scheme = getattr(manifest, "family", None), getattr(manifest, "module_names", None)
    if not family_name or not scheme:
        return None, None
    from edge_export.models.family import get_family

    try:
        family = get_family(family_name)
    except EdgeExportError:
        return None, f"module names kept as exported: model family {family_name!r} is unknown to this edge-export"
    if family.module_names != scheme:
        return None, (f"module names kept as exported: family {family_name} now names modules as "
                      f"{family.module_names}, the manifest says {scheme} (re-export the artifact)")
    if scheme == family_name:
        return None, None  # the family's own names: nothing to map
    return family.canonical_module_path, f"module names: {family_name}'s mapped to {scheme}'s (the manifest's module_names)"


def canonical_path(mapping: Callable[[str], str], path: str | None) -> tuple[str | None, str | None]:
    """(`path` in the mapping's scheme, None), or (None, why) for a container only the source form has whose own
    code is the root's. None, "" (the root) and pseudo-modules stay as they are."""
    if not path or path in PSEUDO_MODULES:
        return path, None
    mapped = mapping(path)
    return (mapped, None) if mapped else (None, f"computed in {path}, which only wraps the whole model")


def _row(mapping: Callable[[str], str], row: OpRow) -> OpRow:
    path, why = canonical_path(mapping, row.module_path)
    if path == row.module_path:
        return row
    if why:
        return row.model_copy(update={"module_path": None, "attribution": "unattributed", "reason": why})
    return row.model_copy(update={"module_path": path})


def _gaps(mapping: Callable[[str], str], gaps: list[NumericGap]) -> list[NumericGap]:
    """Numeric-gap entries renamed; a source-only container's entry is dropped (its output is the one of the
    module it wraps, or the whole model's), and so is a second entry for one canonical module."""
    out: dict[str, NumericGap] = {}
    for g in gaps:
        path, _ = canonical_path(mapping, g.module_path)
        if (path or not g.module_path) and path not in PSEUDO_MODULES and path not in out:
            out[path] = g if path == g.module_path else g.model_copy(update={"module_path": path})
    return list(out.values())


def canonical_rows(rows: list[OpRow], manifest) -> tuple[list[OpRow], list[str]]:
    """(`rows` with module paths in the manifest's `module_names` scheme, notes on what was done)."""
    mapping, note = module_name_map(manifest)
    if mapping is not None:
        rows = [_row(mapping, r) for r in rows]
    return rows, [note] if note else []


def canonical_profile(profile: Profile, manifest) -> Profile:
    """`profile` with every row's module path and every numeric-gap module in the manifest's `module_names` scheme.
    Idempotent (a mapping leaves canonical names unchanged), so it can be applied at each step that adds rows."""
    mapping, note = module_name_map(manifest)
    update: dict = {}
    if mapping is not None:
        update["rows"] = [_row(mapping, r) for r in profile.rows]
        if profile.numeric_gap is not None:
            update["numeric_gap"] = _gaps(mapping, profile.numeric_gap)
    if note and note not in profile.notes:
        update["notes"] = [*profile.notes, note]
    return profile.model_copy(update=update) if update else profile
