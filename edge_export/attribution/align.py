"""The one aligner: runtime operator events (runtime order) against graph nodes (graph order).

A runtime runs a graph's nodes in order, but fuses some into a neighbour, elides others, runs some as
several operators and adds operators of its own. Which node an event ran for is the cheapest monotone
alignment of the two sequences under a runtime's cost table (a small dynamic programme):

    match       event i ran for node j                              match_cost(i, j)  (None: cannot)
    skip        node j has no operator (fused, elided)              skip_cost(j)
    expansion   event i is one more operator of the node just matched  expansion_cost(i, j)  (None: cannot)
    orphan      event i ran for no node                             orphan_cost(i)

Every cost is positive except a match's, so when each event is the match of its node at cost 0 that
one-to-one alignment is the answer and the programme is skipped. Ties go to the move found first in the
order events x nodes, match, skip, expansion, orphan (the cost tables keep real alignments off ties).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional

MATCH, EXPANSION, ORPHAN, SKIP = "match", "expansion", "orphan", "skip"
_INF = math.inf


@dataclass
class Aligned:
    steps: list[tuple[str, Optional[int]]]  # per event: (MATCH | EXPANSION | ORPHAN, node index or None)
    skipped: list[int]  # nodes no event ran for, in order
    cost: float


def align(
    n_events: int,
    n_nodes: int,
    match_cost: Callable[[int, int], Optional[float]],
    skip_cost: Callable[[int], float],
    expansion_cost: Callable[[int, int], Optional[float]],
    orphan_cost: Callable[[int], float],
) -> Aligned:
    m, n = n_events, n_nodes
    if m == n and all(match_cost(k, k) == 0.0 for k in range(n)):
        return Aligned([(MATCH, k) for k in range(n)], [], 0.0)
    match = [[match_cost(i, j) for j in range(n)] for i in range(m)]
    expand = [[expansion_cost(i, j) for j in range(n)] for i in range(m)]
    skip = [skip_cost(j) for j in range(n)]
    orphan = [orphan_cost(i) for i in range(m)]
    # cost[i][j][s]: i events and j nodes consumed; s = 1 when the last move matched an event to node j-1
    cost = [[[_INF, _INF] for _ in range(n + 1)] for _ in range(m + 1)]
    back: list[list[list[Optional[tuple[str, int]]]]] = [[[None, None] for _ in range(n + 1)] for _ in range(m + 1)]
    cost[0][0][0] = 0.0

    def relax(i: int, j: int, s: int, c: float, move: str, from_s: int) -> None:
        if c < cost[i][j][s]:
            cost[i][j][s] = c
            back[i][j][s] = (move, from_s)

    for i in range(m + 1):
        for j in range(n + 1):
            for s in (0, 1):
                c = cost[i][j][s]
                if c == _INF:
                    continue
                if i < m and j < n and match[i][j] is not None:
                    relax(i + 1, j + 1, 1, c + match[i][j], MATCH, s)
                if j < n:
                    relax(i, j + 1, 0, c + skip[j], SKIP, s)
                if i < m:
                    if s == 1 and expand[i][j - 1] is not None:
                        relax(i + 1, j, 1, c + expand[i][j - 1], EXPANSION, s)
                    relax(i + 1, j, s, c + orphan[i], ORPHAN, s)
    s = 0 if cost[m][n][0] <= cost[m][n][1] else 1
    total = cost[m][n][s]
    steps: list[tuple[str, Optional[int]]] = [(ORPHAN, None)] * m
    skipped: list[int] = []
    i, j = m, n
    while (i, j) != (0, 0):
        move, s = back[i][j][s]
        if move == MATCH:
            i, j = i - 1, j - 1
            steps[i] = (MATCH, j)
        elif move == SKIP:
            j -= 1
            skipped.append(j)
        elif move == EXPANSION:
            i -= 1
            steps[i] = (EXPANSION, j - 1)
        else:
            i -= 1
            steps[i] = (ORPHAN, None)
    return Aligned(steps, sorted(skipped), total)
