"""The stats and alerts views in headless Chromium against the real service and engines.

Each bug issue 21 found in these views is a regression test here, checked against what the
API itself answers for the same question. Screenshots go to `test-output/console/`.
"""

from __future__ import annotations

import itertools
import json
import math
from typing import Any

import pytest
from playwright.async_api import expect

from tests.browser.conftest import Console
from tests.browser.views import (
    DOMAIN,
    HISTORY_ALERTS,
    PROVIDERS,
    Views,
    api,
    open_view,
    ready,
    shot,
)

STAT = "/monitoring/v1/event/stat"


async def sent_bodies(page: Any) -> list[dict[str, Any]]:
    """Every request the chart sent: the main one, then the rankings and "(other)" parts."""
    main = json.loads(await page.locator("#stat-result .query-json").text_content())
    extra = [
        json.loads(t)
        for t in await page.locator("#stat-result .query-json-extra").all_text_contents()
    ]
    return [main, *extra]


async def stat(console: Console, query: dict[str, Any]) -> list[dict[str, Any]]:
    return (await api(console, STAT, {"query": query}))["results"]


async def total_in(console: Console, body: dict[str, Any]) -> int:
    """The count of events of the range a chart's request covers (its filter, no groups)."""
    query = {
        "filter": body["query"]["filter"][:2],
        "aggregate": [{"group": {"fields": [{"operator": "count", "name": "n"}]}}],
    }
    rows = await stat(console, query)
    return rows[0]["n"] if rows else 0


async def test_no_group_is_one_total_not_a_hidden_severity(
    page: Any, console: Console, views: Views
) -> None:
    """Group by "—" used to run by severity without a word; now it is the one total."""
    await open_view(page, console, "stats", range="7d", run="1", chart="bar")
    total = page.get_by_test_id("stat-total")
    await expect(total).to_be_visible()
    body = (await sent_bodies(page))[0]
    assert body["query"]["aggregate"][0]["group"]["keys"] == []
    expected = await total_in(console, body)
    assert expected == views.events
    assert (await total.inner_text()).startswith(f"{expected:,}")
    await shot(page, console, "stats-total")


async def test_alert_ids_are_top_n_plus_other_and_labels_do_not_overlap(
    page: Any, console: Console, views: Views
) -> None:
    """2,000 bars of alert ids overlapped unreadably; now the top 10 and one "(other)"."""
    await open_view(page, console, "stats", range="7d", g1="alert_id", run="1", chart="bar")
    chart = page.get_by_test_id("stat-plot")
    await page.wait_for_selector("#stat-plot rect[data-series]")
    assert int(await chart.get_attribute("data-categories")) == 11
    notes = await page.get_by_test_id("stat-notes").inner_text()
    distinct = HISTORY_ALERTS + 30
    assert f"top 10 of {distinct}" in notes and "(other)" in notes
    # x labels never overlap
    boxes = await page.eval_on_selector_all(
        "#stat-plot text[text-anchor=middle]:not(.x-title)",
        "els => els.map(e => { const b = e.getBBox(); return [b.x, b.x + b.width]; })",
    )
    boxes.sort()
    assert len(boxes) >= 6
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(boxes)), boxes
    await shot(page, console, "stats-alert-ids-top10")

    # The table holds the same rows: top 10 + (other) add up to every event of the range.
    await open_view(page, console, "stats", range="7d", g1="alert_id", run="1", chart="table")
    cells = await page.locator("#stat-table tbody tr").all_inner_texts()
    assert len(cells) == 11 and cells[-1].startswith("(other)")
    counted = sum(int(row.split("\t")[-1].replace(",", "")) for row in cells)
    assert counted == views.events
    ranking = await stat(
        console,
        {
            "filter": (await sent_bodies(page))[0]["query"]["filter"][:2],
            "aggregate": [
                {
                    "group": {
                        "keys": [{"key": "alert_id", "name": "a"}],
                        "fields": [{"operator": "count", "name": "n"}],
                    }
                },
                {"sort": [{"key": "n", "desc": True}, {"key": "a"}]},
                {"limit": 10},
            ],
        },
    )
    shown = {row.split("\t")[0]: int(row.split("\t")[-1].replace(",", "")) for row in cells[:-1]}
    assert shown == {r["a"]: r["n"] for r in ranking}


async def test_per_minute_over_7_days_is_capped_to_what_the_chart_draws(
    page: Any, console: Console, views: Views
) -> None:
    """Per-minute buckets over 7 days covered the first 2,000 minutes under wrong labels."""
    await open_view(page, console, "stats", range="7d", bucket="minute", run="1", chart="bar")
    await page.wait_for_selector("#stat-plot rect[data-series]")
    notes = await page.get_by_test_id("stat-notes").inner_text()
    assert "Per minute would be 10,08" in notes and "shown per hour" in notes
    body = (await sent_bodies(page))[0]
    assert body["query"]["aggregate"][0]["group"]["keys"][0]["date_format"] == "%Y-%m-%dT%H:00"
    chart = page.get_by_test_id("stat-plot")
    buckets = int(await chart.get_attribute("data-categories"))
    assert 168 <= buckets <= 170
    # every event of the week is drawn, the oldest ones too
    label = await chart.get_attribute("aria-label")
    assert f"{views.events} in all" in label, label
    await shot(page, console, "stats-week-per-minute-capped")

    # "auto" picks the finest bucket that fits, without a note about a cap
    await open_view(page, console, "stats", range="24h", bucket="auto", run="1", chart="line")
    await page.wait_for_selector("#stat-plot polyline")
    body = (await sent_bodies(page))[0]
    assert body["query"]["aggregate"][0]["group"]["keys"][0]["date_format"] == "%Y-%m-%dT%H:00"
    assert "would be" not in (await page.locator("#stat-result").inner_text())


async def series_colours(page: Any, console: Console, top: int) -> dict[str, str]:
    """The legend's colour of each series of a bar chart of severity by provider (top `top`)."""
    await open_view(page, console, "stats", range="7d", g1="severity", g2="provider",
                    top=str(top), run="1", chart="bar")  # fmt: skip
    await page.wait_for_selector("#stat-plot rect[data-series]")
    return dict(
        await page.eval_on_selector_all(
            "#stat-result .legend li",
            "els => els.map(e => [e.dataset.series, e.style.getPropertyValue('--swatch')])",
        )
    )


async def test_a_value_keeps_its_colour_and_no_two_series_share_one(
    page: Any, console: Console, views: Views
) -> None:
    """Colours repeated across series (the 11th took the first's)."""
    wide = await series_colours(page, console, top=15)
    assert len(wide) == len(PROVIDERS)
    assert len(set(wide.values())) == len(wide), wide
    await shot(page, console, "stats-colours-15")
    narrow = await series_colours(page, console, top=5)
    assert len(narrow) == 6 and narrow["(other)"] == "var(--other)"
    for name, colour in narrow.items():
        if name != "(other)":
            assert wide[name] == colour, name


def numbers(values: list[str]) -> list[float]:
    out = []
    for value in values:
        try:
            out.append(float(value))
        except ValueError:
            continue
    return out


@pytest.mark.parametrize("op", ["sum", "average", "min", "max"])
async def test_numeric_operators_over_a_numeric_field(
    page: Any, console: Console, views: Views, op: str
) -> None:
    """An average over a numeric field failed with "more than 10000 distinct values"; min/max
    compare numbers as numbers (as text "9.5" > "10")."""
    field = "additional_info.value"
    table = {"range": "7d", "op": op, "field": field, "run": "1", "chart": "table"}
    await open_view(page, console, "stats", **table)
    total = page.get_by_test_id("stat-total")
    await expect(total).to_be_visible()
    assert not await page.get_by_role("alert").count()
    shown = float((await total.locator(".metric-value").inner_text()).replace(",", ""))
    values = numbers(views.values)
    expected = {
        "sum": sum(values),
        "average": sum(values) / len(values),
        "min": min(values),
        "max": max(values),
    }[op]
    assert math.isclose(shown, expected, rel_tol=1e-3, abs_tol=1e-3), (shown, expected)
    notes = await page.get_by_test_id("stat-notes").inner_text()
    assert "not numbers are skipped" in notes
    if op == "average":
        await shot(page, console, "stats-average")
        # by severity too, as the table the API answers
        await open_view(page, console, "stats", g1="severity", **table)
        rows = await page.locator("#stat-table tbody tr").all_inner_texts()
        body = (await sent_bodies(page))[0]
        answer = await stat(console, body["query"])
        assert len(rows) == len(answer)
        await shot(page, console, "stats-average-by-severity")


async def test_a_measure_without_its_field_says_so(
    page: Any, console: Console, views: Views
) -> None:
    await open_view(page, console, "stats", range="7d", op="sum", run="1")
    error = page.get_by_role("alert")
    await expect(error).to_contain_text("Name the field to take the sum of")


async def test_alerts_counted_by_state_on_the_stats_view(
    page: Any, console: Console, views: Views
) -> None:
    await open_view(page, console, "stats")
    states = page.get_by_test_id("alert-states")
    for state in ("TRIGGERED", "ACKNOWLEDGED", "RESOLVED", "ERROR"):
        expected = (
            await api(
                console,
                "/monitoring/v1/alert/list",
                {"state": state, "query": {"count_only": True}},
            )
        )["total_count"]
        count = states.locator(f"li[data-state={state}] .count")
        await expect(count).to_have_text(f"{expected:,}")
    assert await states.locator("li[data-state=RESOLVED] .count").inner_text() != "0"
    await shot(page, console, "stats-alert-states")


async def test_stats_by_keyboard(page: Any, console: Console, views: Views) -> None:
    """Every picker and Run reachable with Tab; Enter runs."""
    await open_view(page, console, "stats", range="7d")
    await page.focus("#stat-range")
    seen = []
    for _ in range(12):
        seen.append(await page.evaluate("document.activeElement.id"))
        await page.keyboard.press("Tab")
    for picker in (
        "stat-range",
        "stat-q",
        "stat-g1",
        "stat-g2",
        "stat-top",
        "stat-bucket",
        "stat-op",
        "stat-field",
        "stat-chart",
        "stat-run",
    ):
        assert picker in seen, seen
    await page.focus("#stat-g1")
    await page.keyboard.press("ArrowDown")  # the first field after "— none"
    await page.focus("#stat-run")
    await page.keyboard.press("Enter")
    await ready(page)
    await page.wait_for_selector("#stat-plot rect[data-series]")


async def test_alerts_list_has_title_severity_state_age_and_events(
    page: Any, console: Console, views: Views
) -> None:
    """The list showed only ids."""
    await open_view(page, console, "alerts")
    listed = await api(
        console, "/monitoring/v1/alert/list", {"query": {"page": {"start": 1, "limit": 50}}}
    )
    await expect(page.get_by_test_id("alerts-total")).to_have_text(
        f"{listed['total_count']} alerts"
    )
    rows = page.get_by_test_id("alert-row")
    assert await rows.count() == min(50, listed["total_count"])
    first = listed["results"][0]
    row = page.locator(f"tr[data-alert-id='{first['alert_id']}']")
    text = await row.inner_text()
    title = first.get("title") or first.get("event_key")
    assert title in text and first["state"] in text
    assert "s" in text or "min" in text  # an age
    counts = await stat(
        console,
        {
            "filter": [{"k": "alert_id", "v": first["alert_id"], "o": "eq"}],
            "aggregate": [{"count": {"name": "n"}}],
        },
    )
    await expect(row.get_by_test_id("alert-event-count")).to_have_text(str(counts[0]["n"]))
    await shot(page, console, "alerts-list")


async def alert_api_present(console: Console) -> bool:
    response = await console.http.post(
        "/monitoring/v1/note/list", headers=console.auth(), json={"domain_id": DOMAIN}
    )
    return response.status_code != 404


async def test_an_alert_beside_the_list_with_events_notes_and_actions(
    page: Any, console: Console, views: Views
) -> None:
    """Acknowledge, assign, note and resolve from the alert view, by keyboard."""
    listed = await api(
        console,
        "/monitoring/v1/alert/list",
        {"state": "TRIGGERED", "query": {"page": {"start": 1, "limit": 1}}},
    )
    alert = listed["results"][0]
    await open_view(page, console, "alerts", state="TRIGGERED")
    # by keyboard: Tab to the first title, Enter opens it beside the list
    await page.locator(".open-alert").first.focus()
    await page.keyboard.press("Enter")
    await ready(page)
    detail = page.get_by_test_id("alert-detail")
    await expect(detail).to_be_visible()
    assert await page.evaluate("document.activeElement.id") == "alert-title"
    await expect(detail.get_by_test_id("alert-events").locator("li")).to_have_count(1)
    assert await page.locator(".split").count() == 1  # beside, not above
    if not await alert_api_present(console):
        await expect(detail.get_by_test_id("alert-actions-unavailable")).to_be_visible()
        await expect(detail.get_by_test_id("alert-ack")).to_be_disabled()
        await shot(page, console, "alert-detail-unavailable")
        pytest.skip("this service has no Alert and Note API yet: actions shown as not available")
    alert_id = await page.evaluate("new URLSearchParams(location.hash.split('?')[1]).get('alert')")
    assert alert_id == alert["alert_id"]
    await detail.get_by_test_id("alert-ack").focus()
    await page.keyboard.press("Enter")
    await ready(page)
    await expect(detail.get_by_test_id("alert-fields").get_by_test_id("alert-state")).to_have_text(
        "ACKNOWLEDGED"
    )
    await detail.get_by_test_id("alert-assignee").fill("oncall@example.com")
    await detail.get_by_test_id("alert-assignee").press("Enter")
    await ready(page)
    await detail.get_by_test_id("alert-note").fill("disk cleaned, watching")
    await detail.get_by_test_id("alert-note").focus()
    await page.keyboard.press("Tab")  # from the note to its button
    assert await page.evaluate("document.activeElement.dataset.testid") == "alert-add-note"
    await page.keyboard.press("Enter")
    await ready(page)
    await expect(detail.get_by_test_id("alert-notes")).to_contain_text("disk cleaned, watching")
    got = await api(console, "/monitoring/v1/alert/get", {"alert_id": alert_id})
    assert got["state"] == "ACKNOWLEDGED" and got["assignee"] == "oncall@example.com"
    notes = await api(console, "/monitoring/v1/note/list", {"alert_id": alert_id})
    assert [n["note"] for n in notes["results"]] == ["disk cleaned, watching"]
    await shot(page, console, "alert-detail-acknowledged")
    await detail.get_by_test_id("alert-resolve").focus()
    await page.keyboard.press("Space")
    await ready(page)
    await expect(detail.get_by_test_id("alert-fields").get_by_test_id("alert-state")).to_have_text(
        "RESOLVED"
    )
    row = page.locator(f"tr[data-alert-id='{alert_id}']")
    assert await row.count() == 0  # the list of TRIGGERED alerts no longer holds it
    got = await api(console, "/monitoring/v1/alert/get", {"alert_id": alert_id})
    assert got["state"] == "RESOLVED" and got["resolved_at"]
    # Escape closes the panel
    await detail.press("Escape")
    await ready(page)
    assert await page.get_by_test_id("alert-detail").count() == 0


async def test_date_buckets_in_the_browsers_zone_or_utc(
    browser: Any, console: Console, views: Views
) -> None:
    """Buckets start at the zone's midnights and the axis names the zone; tz=utc for UTC."""
    context = await browser.new_context(
        viewport={"width": 1366, "height": 900}, timezone_id="America/New_York"
    )
    page = await context.new_page()
    try:
        await open_view(page, console, "stats", range="7d", bucket="day", run="1", chart="bar")
        await page.wait_for_selector("#stat-plot rect[data-series]")
        key = (await sent_bodies(page))[0]["query"]["aggregate"][0]["group"]["keys"][0]
        assert key["time_zone"] == "America/New_York"
        assert "America/New_York" in await page.locator("#stat-plot .x-title").text_content()
        label = await page.get_by_test_id("stat-plot").get_attribute("aria-label")
        assert f"{views.events} in all" in label, label
        answer = await stat(console, (await sent_bodies(page))[0]["query"])
        days = {row["time"] for row in answer}
        assert all(day.endswith("T00:00") for day in days), days
        await shot(page, console, "stats-days-new-york")
        await open_view(page, console, "stats", range="7d", bucket="day", run="1", tz="utc")
        await page.wait_for_selector("#stat-plot rect[data-series]")
        key = (await sent_bodies(page))[0]["query"]["aggregate"][0]["group"]["keys"][0]
        assert "time_zone" not in key
        assert "UTC" in await page.locator("#stat-plot .x-title").text_content()
    finally:
        await context.close()


async def test_a_query_the_console_cannot_run_is_one_error(
    page: Any, console: Console, views: Views
) -> None:
    """The stats filter is the Events view's KQL: one error naming what is wrong."""
    await open_view(page, console, "stats", range="7d", g1="severity", q="nosuchfield:x", run="1")
    errors = page.get_by_role("alert")
    await expect(errors).to_have_count(1)
    await expect(errors).to_contain_text("nosuchfield")
    await open_view(page, console, "stats", range="7d", g1="severity", q="severity:critical",
                    chart="table", run="1")  # fmt: skip
    rows = await page.locator("#stat-table tbody tr").all_inner_texts()
    assert [row.split("\t")[0] for row in rows] == ["CRITICAL"]


async def test_alerts_sorted_by_severity_order_not_alphabetically(
    page: Any, console: Console, views: Views
) -> None:
    """Sorting by severity was alphabetical (WARNING above ERROR)."""
    order = ["CRITICAL", "ERROR", "WARNING", "INFO", "NOT_AVAILABLE", "NONE"]
    await open_view(page, console, "alerts", sort="severity:desc")
    await expect(page.get_by_test_id("alerts-total")).to_have_text("30 alerts")
    shown = await page.locator("[data-testid=alert-row] td:nth-child(3)").all_inner_texts()
    assert len(shown) == 30
    assert shown == sorted(shown, key=order.index), shown
    await open_view(page, console, "alerts", sort="severity:asc")
    await expect(page.get_by_test_id("alerts-total")).to_have_text("30 alerts")
    shown = await page.locator("[data-testid=alert-row] td:nth-child(3)").all_inner_texts()
    assert shown == sorted(shown, key=order.index, reverse=True), shown
    await shot(page, console, "alerts-by-severity")


@pytest.mark.parametrize(
    ("asked", "hours", "expected", "capped"),
    [
        ("auto", 1, "minute", False),
        ("auto", 24, "hour", False),
        ("minute", 7 * 24, "hour", True),
        ("minute", 6, "minute", False),
        ("hour", 30 * 24, "day", True),
        ("auto", 365 * 24, "day", False),
        ("day", 3 * 365 * 24, "month", True),
    ],
)
async def test_bucket_sizes_never_exceed_what_the_chart_draws(
    page: Any, console: Console, asked: str, hours: int, expected: str, capped: bool
) -> None:
    await page.goto(f"{console.url}/console/")
    chosen = await page.evaluate(
        """async ([asked, hours]) => {
            const stats = await import('./js/stats.js');
            const to = new Date('2026-12-05T01:30:00Z');
            const from = new Date(to.getTime() - hours * 3600e3);
            const b = stats.chooseBucket(asked, [from, to]);
            return { ...b, max: stats.MAX_BUCKETS,
                     drawn: stats.timeBuckets(b.name, [from, to], 'UTC').keys.length };
        }""",
        [asked, hours],
    )
    assert chosen["name"] == expected and chosen["capped"] == capped, chosen
    assert chosen["drawn"] <= chosen["max"], chosen


async def test_rows_the_chart_did_not_read_are_said(
    page: Any, console: Console, views: Views
) -> None:
    """A chart reads at most 10,000 rows; when the API has more (its total_count says so),
    the chart says how many it left out. A week of 1,535 events never makes 10,000 rows,
    so the real answer's total_count is raised on its way to the page."""

    async def more_rows(route: Any) -> None:
        response = await route.fetch()
        body = await response.json()
        sent = json.loads(route.request.post_data or "{}")
        if sent.get("query", {}).get("page", {}).get("limit") == 10_000:
            body["total_count"] = 25_000
        await route.fulfill(response=response, json=body)

    await page.route("**/monitoring/v1/event/stat", more_rows)
    await open_view(page, console, "stats", range="7d", g1="severity", run="1", chart="bar")
    notes = page.get_by_test_id("stat-notes")
    await expect(notes).to_contain_text("Read 6 of 25,000 rows")
    await expect(notes).to_contain_text("the rest are not shown")
