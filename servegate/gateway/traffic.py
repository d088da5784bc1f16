"""The traffic split as a pure function: which served model answers this request."""

from __future__ import annotations

from collections.abc import Collection, Sequence


def choose_served(
    routes: Sequence[tuple[str, int]], available: Collection[str], draw: float
) -> str | None:
    """Pick a served model by traffic percentage among those that can answer now.

    ``draw`` is uniform in [0, 1). A served model that is not available (recovering, say)
    gives its share to the others in proportion; ``None`` when no routed model can answer.
    """
    candidates = [(name, pct) for name, pct in routes if pct > 0 and name in available]
    total = sum(pct for _, pct in candidates)
    if total == 0:
        return None
    point = draw * total
    for name, pct in candidates:
        point -= pct
        if point < 0:
            return name
    return candidates[-1][0]
