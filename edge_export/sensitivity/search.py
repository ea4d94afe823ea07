"""Rank modules by what keeping each one float brings back, then choose a few greedily.

Score: top-1 accuracy on labelled images when there are labels (ties broken by cosine), else the mean
cosine between the int8 logits and the float reference's. A candidate is a module at the chosen depth
(profile.rollup's stage/block/layer keys) whose float form changes at least one quantized op.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Protocol

import numpy as np
import torch

from edge_export.profile.rollup import LEVELS as DEPTHS
from edge_export.profile.rollup import ROOT, UNATTRIBUTED, ModuleTree


class Candidates(Protocol):
    def module_paths(self) -> list[str]: ...

    def ops_affected(self, float_modules: list[str]) -> int: ...

    def logits(self, float_modules: list[str], batch: torch.Tensor, progress=...) -> np.ndarray: ...


@dataclass(frozen=True)
class Score:
    cosine: float  # mean over images, against the float reference
    top1: float | None = None  # accuracy on the labelled images

    @property
    def key(self) -> tuple[float, float]:
        return (self.top1 if self.top1 is not None else self.cosine, self.cosine)

    def to_json(self) -> dict:
        return {"cosine": round(self.cosine, 6), "top1": self.top1}


def score(logits: np.ndarray, reference: np.ndarray, truth: np.ndarray | None) -> Score:
    a, b = np.asarray(logits, np.float64), np.asarray(reference, np.float64)
    den = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    cos = np.where(den > 0, (a * b).sum(1) / np.maximum(den, 1e-300), 0.0)
    top1 = None if truth is None else float((a.argmax(1) == truth).mean())
    return Score(float(cos.mean()), top1)


def gain(better: Score, base: Score) -> float:
    """Accuracy points (labels) or cosine recovered."""
    if better.top1 is not None and base.top1 is not None:
        return better.top1 - base.top1
    return better.cosine - base.cosine


def candidate_modules(paths: list[str], depth: str) -> list[str]:
    tree = ModuleTree(paths)
    keys = dict.fromkeys(tree.key(p, depth) for p in paths)
    return [k for k in keys if k not in (ROOT, UNATTRIBUTED)]


@dataclass
class Ranked:
    module: str
    ops: int  # quantized ops / quantize-dequantize pairs that keeping it float changes
    score: Score
    gain: float


@dataclass
class Search:
    reference: Score  # the float model on the same images
    baseline: Score  # everything the recipe quantizes, int8
    ranking: list[Ranked] = field(default_factory=list)
    steps: list[tuple[list[str], Score]] = field(default_factory=list)  # greedy picks, cumulative

    @property
    def chosen(self) -> list[str]:
        return self.steps[-1][0] if self.steps else []


# Without labels, "as good as float" and "worth a module": the int8 cosine bars are near 0.999 (README
# "Tolerances"), so 0.9999 is float up to noise, and a module that adds less than 1e-5 cosine is noise.
COSINE_REACHED, COSINE_MIN_GAIN = 0.9999, 1e-5


def _reached(s: Score, reference: Score) -> bool:
    if s.top1 is not None and reference.top1 is not None:
        return s.top1 >= reference.top1
    return s.cosine >= COSINE_REACHED


def _improves(better: Score, current: Score) -> bool:
    if better.top1 is not None and current.top1 is not None and better.top1 != current.top1:
        return better.top1 > current.top1
    return better.cosine - current.cosine >= COSINE_MIN_GAIN


def search(cands: Candidates, batch: torch.Tensor, reference_logits: np.ndarray, truth: np.ndarray | None,
           depth: str, budget: int, progress: Callable[[str, int, int], None] = lambda what, done, total: None,
           pool: int | None = None) -> Search:
    """Rank every candidate alone, then add at most `budget` modules greedily from the best `pool` of them
    (default 2*budget, at least 4), stopping when nothing more helps or the float score is reached."""
    n = len(batch)
    seen: dict[tuple[str, ...], Score] = {}

    def run(names: list[str], what: str) -> Score:
        key = tuple(sorted(names))
        if key not in seen:
            seen[key] = score(cands.logits(names, batch, lambda d: progress(what, d, n)), reference_logits, truth)
        return seen[key]

    result = Search(score(reference_logits, reference_logits, truth), run([], "int8, nothing float"))
    modules = [m for m in candidate_modules(cands.module_paths(), depth) if cands.ops_affected([m])]
    for i, m in enumerate(modules):
        s = run([m], f"{m} float ({i + 1}/{len(modules)})")
        result.ranking.append(Ranked(m, cands.ops_affected([m]), s, gain(s, result.baseline)))
    result.ranking.sort(key=lambda r: (-r.gain, -r.score.cosine))
    pool_size = pool if pool is not None else max(4, 2 * budget)
    options = [r.module for r in result.ranking[:pool_size]]
    chosen, current = [], result.baseline
    while len(chosen) < budget and options and not _reached(current, result.reference):
        tried = []
        for m in options:
            tried.append((run(chosen + [m], f"greedy step {len(chosen) + 1}: + {m}"), m))
        best, m = max(tried, key=lambda t: t[0].key)
        if not _improves(best, current):
            break
        chosen, current = chosen + [m], best
        options.remove(m)
        result.steps.append((list(chosen), best))
    return result
