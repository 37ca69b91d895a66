"""The app's pages: one file each in ``dashboard/views/``; optional pages appear when their file exists."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

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
    PageSpec("outcomes.py", "Outcomes", ":material/trending_up:", "outcomes"),
    PageSpec("data.py", "Data", ":material/database:", "data", filtered=False),
)
DEFAULT_PAGE = "overview.py"


def available_pages(pages_dir: Path = PAGES_DIR) -> list[PageSpec]:
    return [spec for spec in PAGE_SPECS if (pages_dir / spec.file).is_file()]
