"""The review workflow in headless Chromium: close a serious AE in review and see the counts change.

The demo's review seed (what ``ketaops serve`` applies) is applied to the e2e demo's store
first, so two serious AEs are in review assigned to ``demo``. Expected counts are read
from the store with plain SQL here.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from playwright.sync_api import Page, expect

from dashboard.reviews import store
from dashboard.reviews.seed import apply_seed
from pipelines.demo.review_seed import REVIEW_SEED_FILE
from tests.e2e.conftest import Demo, wait_idle


def _one(path: Path, sql: str, params: tuple = ()) -> tuple:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql, params).fetchone()
    finally:
        conn.close()


def _tile(page: Page, label: str) -> int:
    metric = page.get_by_test_id("stMetric").filter(has_text=label)
    return int(metric.get_by_test_id("stMetricValue").inner_text().replace(",", ""))


def test_closing_a_serious_ae_changes_the_counts(
    page: Page, app_url: str, demo: Demo, artifacts: Path
) -> None:
    apply_seed(demo.db.parent / "exports" / REVIEW_SEED_FILE, demo.db)
    path = store.store_path(demo.db)
    (in_review,) = _one(path, "SELECT count(*) FROM items WHERE status = 'in_review'")
    (item_id,) = _one(
        path,
        "SELECT min(item_id) FROM items WHERE kind = 'adverse_event' AND severity = 'serious' "
        "AND status = 'in_review' AND assignee = 'demo'",
    )
    assert in_review >= 2 and item_id is not None, "the demo seed puts serious AEs in review"

    page.goto(f"{app_url}/overview")
    wait_idle(page)
    assert _tile(page, "Reviews in review") == in_review

    page.goto(f"{app_url}/reviews?reviews_view=My+reviews&rv_item_mine=Item+{item_id}")
    wait_idle(page)
    expect(page.locator("h1")).to_contain_text("Reviews")
    assert _tile(page, "Reviews in review") == in_review
    expect(page.get_by_text(f"Item {item_id} · Serious AE")).to_be_visible()
    expect(page.get_by_text("Asked the clinic for the discharge summary").first).to_be_attached()
    page.screenshot(path=str(artifacts / "e2e-reviews-before.png"), full_page=True)

    page.get_by_role("combobox", name="Outcome").click()
    page.get_by_role("option", name="confirmed").click()
    page.get_by_role("button", name="Close with outcome").click()
    wait_idle(page)
    expect(page.get_by_text(f"Saved: closed (item {item_id}).")).to_be_visible()
    assert _tile(page, "Reviews in review") == in_review - 1
    assert page.locator('[data-testid="stException"]').count() == 0
    page.screenshot(path=str(artifacts / "e2e-reviews-after.png"), full_page=True)

    assert _one(path, "SELECT status, outcome, updated_by FROM items WHERE item_id = ?", (item_id,)) == (
        "closed",
        "confirmed",
        "demo",
    )
    page.goto(f"{app_url}/safety")
    wait_idle(page)
    assert _tile(page, "Reviews in review") == in_review - 1
