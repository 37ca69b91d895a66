"""The app's pages: one file each in ``dashboard/views/``; optional pages appear when their file exists."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from dashboard.access.viewer import Permission, Viewer

PAGES_DIR = Path(__file__).resolve().parent.parent / "views"


class PageSpec(NamedTuple):
    file: str
    title: str
    icon: str
    url_path: str
    filtered: bool = True  # the page reads the sidebar filters; False: the sidebar shows none


# In menu order. A page is listed when its file exists in PAGES_DIR (``available_pages``).
PAGE_SPECS = (
    PageSpec("overview.py", "Overview", ":material/dashboard:", "overview"),
    PageSpec("throughput.py", "Throughput", ":material/event_available:", "throughput"),
    PageSpec("clinic.py", "Clinic", ":material/local_hospital:", "clinic"),
    PageSpec("safety.py", "Safety", ":material/health_and_safety:", "safety"),
    PageSpec("monitoring.py", "Monitoring", ":material/vital_signs:", "monitoring"),
    PageSpec("reviews.py", "Reviews", ":material/fact_check:", "reviews"),
    PageSpec("outcomes.py", "Outcomes", ":material/trending_up:", "outcomes"),
    PageSpec("data.py", "Data", ":material/database:", "data", filtered=False),
)
DEFAULT_PAGE = "overview.py"


def available_pages(pages_dir: Path = PAGES_DIR) -> list[PageSpec]:
    return [spec for spec in PAGE_SPECS if (pages_dir / spec.file).is_file()]


# Pages that need more than the PAGES permission; a viewer holding any one of them sees the page.
PAGE_PERMISSIONS: dict[str, tuple[Permission, ...]] = {
    "data.py": (Permission.DATA_PAGE, Permission.AUDIT),
}


def pages_for(viewer: Viewer, pages_dir: Path = PAGES_DIR) -> list[PageSpec]:
    """The pages ``viewer`` may open (the Data page: ops, and the audit log for network scopes)."""
    return [
        spec
        for spec in available_pages(pages_dir)
        if any(viewer.can(p) for p in PAGE_PERMISSIONS.get(spec.file, (Permission.PAGES,)))
    ]
