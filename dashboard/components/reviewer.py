"""Who writes reviews from this dashboard session: the signed-in viewer as a review ``Actor``.

A viewer with the reviews permission (the quality role, and the local demo user) writes
with the quality role; anyone else keeps their own role, which the workflow refuses for
writes. The actor's clinic scope is the viewer's (None for the whole network), and every
write is attributed to the viewer's user id (an e-mail, or ``demo`` without sign-in).
"""

from __future__ import annotations

from dashboard.access.current import current_viewer
from dashboard.access.viewer import Permission, Viewer
from dashboard.reviews.workflow import REVIEW_ROLES, Actor


def actor_for(viewer: Viewer) -> Actor:
    role = REVIEW_ROLES[0] if viewer.can(Permission.REVIEWS) else viewer.role
    return Actor(viewer.user, viewer.name, role, None if viewer.is_network else tuple(viewer.clinic_ids))


def current_actor() -> Actor:
    """The writer of this session's review actions."""
    return actor_for(current_viewer())
