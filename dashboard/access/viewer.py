"""The viewer: who is signed in, their role, their resolved clinic scope and what they may do.

Permissions come from the role (spec/access.md): every role sees the pages; ``quality`` also the
line list's row detail, row downloads and reviews; ``ops`` the Data page (refresh history,
rejects); any ``network`` scope and ``ops`` read the audit log. Without sign-in configured the
local demo's viewer has the network scope and every permission.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from dashboard.access.access_file import AccessFile
from dashboard.access.scope import Scope


class Permission(StrEnum):
    PAGES = "pages"
    ROW_DETAIL = "row_detail"  # a line-list event opened in detail
    ROW_DOWNLOADS = "row_downloads"  # downloads holding patient-level rows
    REVIEWS = "reviews"
    DATA_PAGE = "data_page"  # refresh history, rejects, freshness
    AUDIT = "audit"


ROLE_PERMISSIONS: dict[str, frozenset[Permission]] = {
    "director": frozenset({Permission.PAGES}),
    "quality": frozenset(
        {Permission.PAGES, Permission.ROW_DETAIL, Permission.ROW_DOWNLOADS, Permission.REVIEWS}
    ),
    "ops": frozenset({Permission.PAGES, Permission.DATA_PAGE, Permission.AUDIT}),
}
DEMO_USER = "demo"


@dataclass(frozen=True)
class Viewer:
    user: str  # verified e-mail (lower case), or "demo"
    name: str
    role: str  # director | quality | ops | demo
    scope: Scope
    clinic_ids: tuple[str, ...]  # the scope resolved against the clinics table, sorted
    demo: bool = False
    entry_line: int | None = None  # the access-file entry that granted access

    def can(self, permission: Permission) -> bool:
        if self.demo:
            return True
        if permission is Permission.AUDIT and self.scope.kind == "network":
            return True
        return permission in ROLE_PERMISSIONS.get(self.role, frozenset())

    @property
    def is_network(self) -> bool:
        return self.scope.kind == "network"

    @property
    def cache_key(self) -> str:
        """What every cached result a viewer can receive is keyed on: the resolved clinic set.

        Two viewers share an entry only when they see exactly the same clinics.
        """
        return f"{self.scope.kind}|{','.join(self.clinic_ids)}"


def demo_viewer(region_of: Mapping[str, str | None]) -> Viewer:
    """The local demo (no ``[auth]``): network scope, every permission."""
    scope = Scope("network")
    return Viewer(DEMO_USER, "Demo", "demo", scope, scope.resolve(region_of), demo=True)


def viewer_for(
    claims: Mapping[str, Any], access: AccessFile, region_of: Mapping[str, str | None]
) -> Viewer | None:
    """The signed-in identity's viewer, from the first matching entry; None when nothing matches."""
    entry = access.match(claims)
    if entry is None:
        return None
    return Viewer(
        user=identity(claims),
        name=str(claims.get("name") or identity(claims)),
        role=entry.role,
        scope=entry.scope,
        clinic_ids=entry.scope.resolve(region_of),
        entry_line=entry.line,
    )


def identity(claims: Mapping[str, Any]) -> str:
    """The identity the audit log records: the e-mail (lower case), else the subject."""
    email = claims.get("email")
    if isinstance(email, str) and email.strip():
        return email.strip().lower()
    return str(claims.get("sub") or "unknown")
