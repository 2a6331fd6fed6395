"""Page numbers grouped into runs of consecutive pages: how batches are read, written and framed."""

from __future__ import annotations

from collections.abc import Iterable, Iterator


def page_runs(numbers: Iterable[int]) -> Iterator[tuple[int, int]]:
    """``(first, count)`` for each run of consecutive page numbers, in their order:
    ``[3, 4, 5, 9]`` gives ``(3, 3), (9, 1)``. A number that does not follow the one before
    (a repeat, a step back) starts a new run."""
    first = prev = None
    for p in numbers:
        if first is None:
            first = prev = p
        elif p == prev + 1:
            prev = p
        else:
            yield first, prev - first + 1
            first = prev = p
    if first is not None:
        yield first, prev - first + 1
