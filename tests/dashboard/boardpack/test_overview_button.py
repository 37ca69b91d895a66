"""The Overview's "Download board pack" button: the data's last whole month, the page's scope."""

from __future__ import annotations

from tests.dashboard.conftest import LAST_DATE

MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December")  # fmt: skip


def test_button_offers_the_last_whole_month(app_at, demo_like_db):
    at = app_at(demo_like_db)
    year, month = divmod(LAST_DATE.year * 12 + LAST_DATE.month - 2, 12)  # the month before the last
    labels = [el.proto.label for el in at.get("download_button")]
    assert f"Download board pack ({MONTHS[month]} {year})" in labels
