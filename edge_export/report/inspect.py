"""What `edge-export inspect` shows: the manifest in brief and the delegation table."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from edge_export.artifacts import check_program_file, read_manifest


def inspect_artifact(artifact_dir: Path, console: Console) -> None:
    m = read_manifest(artifact_dir)
    check_program_file(artifact_dir, m)
    info = Table(title=f"{artifact_dir}", show_header=False)
    info.add_column("field")
    info.add_column("value")
    src = m.source
    rows = [
        ("model", f"{m.model_id} ({src.kind}{', ' + src.attention_form + ' attention' if src.attention_form else ''})"),
        ("checkpoint", f"{src.checkpoint} sha256 {src.checkpoint_sha256[:12]}" if src.checkpoint else f"random init, seed {src.seed}"),
        ("target / runtime", f"{m.target} / {m.runtime}"),
        ("program", f"{m.program_file}: {m.file_bytes / 1e6:.2f} MB, sha256 {m.file_sha256[:12]}"),
        ("params / FLOPs", f"{m.params / 1e6:.3f} M / {(m.flops or 0) / 1e9:.3f} G"),
        ("inputs", "; ".join(_tensor(t) for t in m.inputs)),
        ("outputs", "; ".join(_tensor(t) for t in m.outputs)),
        ("preprocessing", f"{m.preprocessing.image_size}px, crop {m.preprocessing.crop_pct}, {m.preprocessing.interpolation}, mean {m.preprocessing.mean}, std {m.preprocessing.std}"),
        ("rewrites", "; ".join(m.rewrites) or "none"),
        ("export", f"{m.export_seconds:.1f} s at {m.created_at}"),
        ("versions", ", ".join(f"{k} {v}" for k, v in m.package_versions.items())),
    ]
    if m.target_options:
        rows.append(("target options", ", ".join(f"{k}={v}" for k, v in m.target_options.items())))
    if m.parity:
        p = m.parity
        rows.append(("parity", f"cosine_min {p.cosine_min:.7f}, max_abs {p.max_abs:.3g}, top-1 {p.top1_agree:.0%} on {p.images} images ({'pass' if p.passed else 'FAIL'})"))
    for note in m.notes:
        rows.append(("note", note))
    for k, v in rows:
        info.add_row(k, v)
    console.print(info)
    d = m.delegation
    if d is None:
        return
    console.print(f"delegation ({d.backend}): {d.subgraphs} subgraph(s), {d.delegated_nodes} delegated nodes, {d.fallback_nodes} fallback nodes")
    table = Table(title="ops")
    for col in ("op", "delegated", "fallback"):
        table.add_column(col)
    for op in sorted(set(d.delegated_ops) | set(d.fallback_ops), key=lambda o: -(d.delegated_ops.get(o, 0) + d.fallback_ops.get(o, 0))):
        fb = d.fallback_ops.get(op, 0)
        table.add_row(op, str(d.delegated_ops.get(op, 0)), f"[red]{fb}[/]" if fb else "0")
    console.print(table)


def _tensor(t) -> str:
    q = f" q(scale={t.quantization.scale:.4g}, zp={t.quantization.zero_point})" if t.quantization else ""
    return f"{t.name} {t.shape} {t.dtype} {t.layout or ''}{q}"
