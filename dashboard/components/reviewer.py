"""Who writes reviews from this dashboard session: the seam where sign-in's viewer plugs in.

Until sign-in exists every writer is the local demo user (``workflow.DEMO_ACTOR``: the
quality role, the whole network), and every write is attributed to it.
"""

from __future__ import annotations

from dashboard.reviews.workflow import DEMO_ACTOR, Actor


def current_actor() -> Actor:
    """The writer of this session's review actions."""
    return DEMO_ACTOR
