"""Small-cell suppression of outcome figures (metrics.md "Small-cell suppression").

Every figure built from fewer than ``cfg.suppression_k`` patients is suppressed (null,
``suppressed=True``); ``suppressed_clinics`` adds the complementary rule between clinics.
"""

from __future__ import annotations

from pipelines.model.config import MetricConfig


def is_suppressed(n: int | None, cfg: MetricConfig) -> bool:
    """A figure from fewer than k patients is hidden (k = 0 disables suppression)."""
    return cfg.suppression_k > 0 and (n or 0) < cfg.suppression_k


def suppressed_clinics(evaluable: dict[str, int], cfg: MetricConfig) -> set[str]:
    """Clinics whose figures are hidden, with complementary suppression.

    Primary: every clinic with fewer than k evaluable patients. Complementary:
    if exactly one clinic is suppressed while the network figure is shown and
    other clinics exist, the network minus the other clinics would reveal it,
    so the shown clinic with the fewest evaluable patients (ties: the first
    clinic_id) is suppressed too. Two or more hidden clinics only reveal their
    sum. When the network itself is suppressed every clinic is (each has < k).
    """
    hidden = {c for c, n in evaluable.items() if is_suppressed(n, cfg)}
    network_shown = not is_suppressed(sum(evaluable.values()), cfg)
    if network_shown and len(hidden) == 1 and len(evaluable) > 1:
        shown = sorted((n, c) for c, n in evaluable.items() if c not in hidden)
        hidden.add(shown[0][1])
    return hidden
