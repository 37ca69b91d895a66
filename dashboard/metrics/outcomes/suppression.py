"""Small-cell suppression of outcome figures (metrics.md "Small-cell suppression").

Every count of 1 to k−1 patients is hidden (null, named in ``suppressed_figures``), whether a
denominator, a numerator or a side count, with every rate and interval computed from it. Zero is
shown. Across clinics the hidden cells of one figure form one block (``suppressed_block``): an
aggregate over a set of clinics is shown only when it holds none of the block or all of it
(``shown``), so no two figures one viewer can obtain by choosing clinics (the page, a download,
``ketaops metrics --clinic``) differ by a hidden clinic's count. The block is built from every
clinic's count under the same other filters (period, condition, route, modality), whatever the
viewer's clinic selection, so it is the same block for every selection.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pipelines.model.config import MetricConfig


def is_suppressed(n: int | None, cfg: MetricConfig) -> bool:
    """A count of 1 to k−1 is hidden; 0 is shown (k = 0 disables suppression)."""
    return n is not None and 0 < n < cfg.suppression_k


def suppressed_block(counts: Mapping[str, int], cfg: MetricConfig) -> frozenset[str]:
    """The clinics whose count of one figure is hidden: one block.

    Primary: every clinic with a count of 1 to k−1. Complementary: while the block holds fewer
    than k patients, the clinic with the smallest non-zero count outside it joins (ties: the
    first clinic id); a clinic with 0 never does (hiding it hides nothing). When the non-zero
    clinics together hold fewer than k, the block is all of them and every aggregate holding
    the block is itself under k.
    """
    block = {c for c, n in counts.items() if is_suppressed(n, cfg)}
    if not block:
        return frozenset()
    total = sum(counts[c] for c in block)
    for n, clinic in sorted((n, c) for c, n in counts.items() if c not in block and n > 0):
        if total >= cfg.suppression_k:
            break
        block.add(clinic)
        total += n
    return frozenset(block)


def shown(
    selection: Iterable[str], counts: Mapping[str, int], block: frozenset[str], cfg: MetricConfig
) -> bool:
    """Whether the figure aggregated over the clinics of ``selection`` may be shown: the selection
    holds none of the block or all of it, and the aggregate itself is not a small cell."""
    chosen = set(selection)
    inside = block & chosen
    if inside and inside != block:
        return False
    return not is_suppressed(sum(counts.get(c, 0) for c in chosen), cfg)


def suppressed_clinics(evaluable: dict[str, int], cfg: MetricConfig) -> set[str]:
    """Clinics whose figures are hidden: the block of the evaluable counts (``suppressed_block``)."""
    return set(suppressed_block(evaluable, cfg))
