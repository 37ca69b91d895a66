"""The sidebar's page links carry the URL the run wrote (one history entry per page switch is
counted in the browser: tests/e2e/test_everyday.py)."""

from __future__ import annotations

from urllib.parse import parse_qs


def _links(at) -> list[tuple[str, dict[str, list[str]]]]:
    return [(el.proto.label, parse_qs(el.proto.query_string)) for el in at.sidebar.get("page_link")]


def _url(at) -> dict[str, list[str]]:
    return {k: v if isinstance(v, list) else [v] for k, v in at.query_params.items()}


def test_every_page_link_carries_the_url_the_run_wrote(app_at, demo_like_db):
    at = app_at(demo_like_db, period="Last month", region=["North"])
    assert not at.exception
    links = _links(at)
    # one link per page file, in menu order (the network viewer of the test may open all of them)
    assert [label for label, _ in links] == [
        "Overview", "Throughput", "Clinic", "Safety", "Monitoring", "Reviews", "Outcomes", "Data"
    ]  # fmt: skip
    for label, query in links:
        assert query["period"] == ["Last month"], label
        assert query["region"] == ["North"], label
        assert query == _url(at), label  # nothing else dropped or added


def test_a_change_in_the_run_reaches_the_links(app_at, demo_like_db):
    at = app_at(demo_like_db)
    assert all("period" not in query for _, query in _links(at))  # the default stays out
    at.selectbox(key="period").set_value("this_quarter").run()
    assert not at.exception
    assert {tuple(query["period"]) for _, query in _links(at)} == {("This quarter",)}


def test_a_page_without_filters_keeps_them_in_its_links(app_at, demo_like_db):
    at = app_at(demo_like_db, page="views/data.py", period="Last month")
    assert not at.exception
    assert not at.sidebar.selectbox  # the Data page draws no filters …
    assert all(query["period"] == ["Last month"] for _, query in _links(at))  # … but its links keep them
