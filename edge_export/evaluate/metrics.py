"""Accuracy of [N, C] logits against true output indices: top-1/top-5, per class, the most-confused pairs."""

from __future__ import annotations

from collections import Counter

import numpy as np


def accuracy(logits: np.ndarray, truth: np.ndarray, class_of: dict[int, str], confused: int = 5) -> dict:
    """`class_of`: output index -> class folder for the classes in the data (the per-class keys)."""
    k = min(5, logits.shape[1])
    top = np.argsort(-logits, axis=1, kind="stable")[:, :k]
    hit1 = top[:, 0] == truth
    hit5 = (top == truth[:, None]).any(axis=1)
    per_class = {}
    for idx, name in sorted(class_of.items(), key=lambda kv: kv[1]):
        mask = truth == idx
        if mask.any():
            per_class[name] = {"images": int(mask.sum()), "top1": float(hit1[mask].mean())}
    pairs = Counter((int(t), int(p)) for t, p in zip(truth, top[:, 0]) if t != p)
    return {
        "top1": float(hit1.mean()),
        f"top{k}": float(hit5.mean()),
        "per_class": per_class,
        "confused": [
            {"true": class_of.get(t, str(t)), "predicted": class_of.get(p, f"output {p}"), "count": n}
            for (t, p), n in pairs.most_common(confused)
        ],
    }
