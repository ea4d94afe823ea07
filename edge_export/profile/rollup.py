"""Per-module roll-ups of profile rows at a chosen depth (computed, never stored in a profile).

A level is either a plain path depth (an int: the first N dotted components of `module_path`) or one
of the named levels, which follow the shape of the module tree rather than a fixed depth so that both
SwiftFormer trees (transformers `swiftformer.encoder.network.2.blocks.5...` and the original
`network.2.5...`) roll up the same way:

- ``"stage"``: the path up to its first *numbered non-leaf* component (`...network.2`), i.e. an
  element of a ModuleList that itself has children. Paths outside any such list (stem, final norm,
  head) are cut just below the deepest ancestor they share with a stage list (`swiftformer.patch_embed`,
  `norm`, `head`).
- ``"block"``: the path up to its second numbered non-leaf component (`...network.2.blocks.5`);
  paths with only one (a downsampling `network.1.proj`) stay at their stage key.
- ``"layer"``: the full path (the leaf module an op was attributed to).

Whether a component is a non-leaf is decided from the set of known paths (all rows of all profiles
being compared, so every backend rolls up to the same keys).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable, Sequence

from edge_export.profile.schema import OpRow

LEVELS = ("stage", "block", "layer")
UNATTRIBUTED = "(unattributed)"
ROOT = "(root)"


def _parts(path: str) -> list[str]:
    return [p for p in path.split(".") if p != ""]


class ModuleTree:
    """The module paths seen in a set of rows: decides the key of a path at each level."""

    def __init__(self, paths: Iterable[str | None]):
        self.paths = {p for p in paths if p}
        self._prefixes: set[tuple[str, ...]] = set()
        for p in self.paths:
            parts = tuple(_parts(p))
            for i in range(1, len(parts)):
                self._prefixes.add(parts[:i])  # proper prefixes: non-leaves
        # the parents of stage keys: the ModuleLists that hold stages
        self._containers: set[tuple[str, ...]] = set()
        for p in self.paths:
            idx = self._numbered_nonleaf(tuple(_parts(p)))
            if idx:
                self._containers.add(tuple(_parts(p))[: idx[0]])

    def _numbered_nonleaf(self, parts: tuple[str, ...]) -> list[int]:
        """Positions i where parts[i] is a number and parts[:i+1] has children."""
        return [i for i, c in enumerate(parts) if c.isdigit() and i > 0 and parts[: i + 1] in self._prefixes]

    def _stage_fallback(self, parts: tuple[str, ...]) -> tuple[str, ...]:
        if not self._containers:
            return parts[:1]
        shared = 0
        for c in self._containers:
            n = 0
            for a, b in zip(parts, c):
                if a != b:
                    break
                n += 1
            shared = max(shared, n)
        return parts[: shared + 1]

    def key(self, path: str | None, level: str | int) -> str:
        if path is None:
            return UNATTRIBUTED
        parts = tuple(_parts(path))
        if not parts:
            return ROOT
        if isinstance(level, int):
            if level < 1:
                raise ValueError(f"depth must be >= 1, got {level}")
            return ".".join(parts[:level])
        if level == "layer":
            return ".".join(parts)
        if level not in LEVELS:
            raise ValueError(f"unknown level {level!r}: use one of {', '.join(LEVELS)} or a depth")
        idx = self._numbered_nonleaf(parts)
        if not idx:
            return ".".join(self._stage_fallback(parts))
        if level == "stage" or len(idx) < 2:
            return ".".join(parts[: idx[0] + 1])
        return ".".join(parts[: idx[1] + 1])


@dataclass
class ModuleTime:
    key: str
    ms: float  # sum of the per-op medians attributed to this module (and its children)
    ops: int
    position: float  # 0..1: where the module's first op sits in the runtime's op order
    kinds: Counter = field(default_factory=Counter)  # ms per op kind


def rollup(
    rows: Sequence[OpRow], level: str | int = "stage", tree: ModuleTree | None = None, stat: str = "median"
) -> list[ModuleTime]:
    """Sum per-op times by module key at `level`, in the runtime's op order.

    `tree` should be built from the paths of every profile being compared (defaults to `rows` alone).
    Rows without a module path go to ``UNATTRIBUTED`` so the totals still add up to the op total.
    """
    tree = tree or ModuleTree(r.module_path for r in rows)
    order = sorted(range(len(rows)), key=lambda i: (rows[i].index if rows[i].index is not None else i, i))
    n = max(len(rows), 1)
    out: dict[str, ModuleTime] = {}
    for rank, i in enumerate(order):
        r = rows[i]
        k = tree.key(r.module_path, level)
        t = float(getattr(r.stats, stat))
        m = out.get(k)
        if m is None:
            m = out[k] = ModuleTime(key=k, ms=0.0, ops=0, position=rank / n)
        m.ms += t
        m.ops += 1
        m.kinds[r.kind] += t
    return sorted(out.values(), key=lambda m: m.position)


def kind_totals(rows: Sequence[OpRow], stat: str = "median") -> dict[str, float]:
    """ms per op kind, largest first."""
    c: Counter = Counter()
    for r in rows:
        c[r.kind or "other"] += float(getattr(r.stats, stat))
    return dict(sorted(c.items(), key=lambda kv: -kv[1]))
