"""The Events view in headless Chromium: KQL, pills, one time zone, the detail side panel.

Every count the console shows is compared with the API's own answer for the same Query
(compiled by `query_api.query.kql`, the one compiler); each bug of issue 21's Events half
has a regression test here. Screenshots go to `test-output/console/`.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import expect

from query_api.query.kql import compile_kql
from schemas.console import KqlFilter
from tests.browser.conftest import Console

PROJECT = "project-kql"
N = 40
SEVERITIES = ["CRITICAL", "ERROR", "WARNING", "INFO", "NONE"]
PROVIDERS = ["zabbix", "grafana", "prometheus"]


async def sign_in(page: Any, console: Console, key: str) -> None:
    await page.goto(f"{console.url}/console/")
    await page.get_by_label("API key").fill(key)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_selector("#nav:not([hidden])")


async def ready(page: Any) -> None:
    await page.wait_for_selector("#content[data-ready='true']", timeout=30_000)


async def open_link(page: Any, console: Console, url: str) -> None:
    """A shared link opened in a tab that has no key yet: sign in, then the link's view."""
    await page.goto(url)
    await page.get_by_label("API key").fill(console.admin_key)
    await page.get_by_role("button", name="Sign in").click()
    await ready(page)


async def open_events(page: Any, console: Console, **params: str) -> None:
    """The Events view with these URL params, after it has drawn."""
    await page.evaluate("document.getElementById('content').dataset.ready = 'false'")
    await page.goto(f"{console.url}/console/#/events?{urlencode(params)}")
    await ready(page)


def view_params(page: Any) -> dict[str, str]:
    fragment = page.url.split("#", 1)[1]
    query = fragment.split("?", 1)[1] if "?" in fragment else ""
    return {k: v[0] for k, v in parse_qs(query).items()}


async def shown_total(page: Any) -> int:
    return int(await page.locator("[data-testid=events-total]").get_attribute("data-count"))


async def api_total(console: Console, kql: str, **kwargs: Any) -> int:
    """The API's answer for the Query the compiler makes of `kql`."""
    query = compile_kql(kql, **kwargs)
    response = await console.http.post(
        "/monitoring/v1/event/list", headers=console.auth(),
        json={"query": {**query, "count_only": True}},
    )  # fmt: skip
    assert response.status_code == 200, response.text
    return int(response.json()["total_count"])


def shown_time(moment: datetime) -> str:
    """An instant as the table shows it, in the instant's own zone."""
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d}"


async def search(page: Any, text: str) -> None:
    """Type a query in the bar (a searchbox named Query) and run it with Enter."""
    await page.evaluate("document.getElementById('content').dataset.ready = 'false'")
    box = page.get_by_role("searchbox", name="Query")
    await box.fill(text)
    await box.press("Enter")
    await ready(page)


@pytest.fixture(scope="module")
async def events(console: Console) -> dict[str, Any]:
    """40 events through a `standard` webhook: severities, providers, additional_info
    instances host-20..23, titles with words, and occurred_at on every other one."""
    hook = await console.create_webhook("standard", PROJECT)
    batch = []
    for n in range(N):
        event: dict[str, Any] = {
            "event_key": f"kql-{n % 10}",
            "title": f"{'disk full' if n % 4 == 0 else 'cpu high'} on node {n}",
            "description": f"check number {n}",
            "severity": SEVERITIES[n % len(SEVERITIES)],
            "provider": PROVIDERS[n % len(PROVIDERS)],
            "rule": "High CPU" if n % 2 else "Disk",
            "resource": {"name": f"web-{n % 5}", "resource_type": "host"},
            "additional_info": {"instance": f"host-{20 + n % 4}", "n": str(n)},
        }
        if n % 2:
            event["occurred_at"] = "2026-01-01T00:00:00Z"
        batch.append(event)
    response = await console.http.post(hook["webhook_url"], json=batch)
    assert response.status_code == 200, response.text
    await console.wait_for_events({"project_id": PROJECT}, N)
    return {"webhook": hook}


QUERY_FORMS = [
    "severity:critical",
    "severity:CRITICAL OR severity:WARNING",
    "severity:(CRITICAL or warning)",
    "provider:zabbix and not severity:info",
    "not (provider:zabbix or provider:grafana)",
    'title:"disk full"',
    "title:disk*",
    "resource.name:web-*",
    "resource.name:web-1",
    "occurred_at:*",
    "not occurred_at:*",
    "severity >= WARNING",
    "severity < warning",
    "created_at >= now-1h",
    "host-21",
    "additional_info.instance:host-21",
    'rule:"High CPU" and (provider:zabbix or title:disk)',
]


async def test_each_query_form_counts_what_the_api_counts(
    page: Any, console: Console, events: dict
) -> None:
    """Typed in the bar, each KQL form shows the API's total for the same Query."""
    await sign_in(page, console, console.admin_key)
    await open_events(page, console, range="24h", filters=json.dumps(
        [{"field": "project_id", "value": PROJECT}]))  # fmt: skip
    assert await shown_total(page) == N
    filters = [KqlFilter(field="project_id", value=PROJECT)]
    for text in QUERY_FORMS:
        await search(page, text)
        expected = await api_total(console, text, filters=filters)
        assert 0 < expected < N or text in ("created_at >= now-1h", "resource.name:web-*"), text
        assert await shown_total(page) == expected, text
        assert await page.locator("#events-view [role=alert]").count() == 0, text
        shown = json.loads(await page.locator(".json .query-json").first.text_content())
        compiled = compile_kql(text, filters=filters)
        for condition in compiled["filter"]:
            assert condition in shown["query"]["filter"], (text, condition)
        assert shown["query"].get("filter_or", []) == compiled["filter_or"], text
    # Independent checks of what the forms mean, over the data sent.
    await search(page, "severity >= WARNING")
    assert await shown_total(page) == sum(1 for n in range(N) if n % 5 < 3)
    await search(page, "host-21")
    by_key = await api_total(console, "additional_info.instance:host-21",
                             filters=filters)  # fmt: skip
    assert await shown_total(page) == by_key == N // 4
    await page.screenshot(path=console.shots / "events-kql-free-text.png", full_page=True)


BAD_QUERIES = [
    ("nosuchfield:xyz", "unknown field 'nosuchfield'; events have: event_id"),
    ('title:"unterminated', "position 7: unterminated quoted phrase"),
    ("severity:", "position 10: severity: a value must follow ':'"),
    ("severity:critcal", "not one of CRITICAL, ERROR, WARNING"),
    ("created_at > 2026-13-45", "is not a date"),
    ("(provider:a or rule:b) and (account:c or title:d)", "ONE OR group"),
]


async def test_a_query_that_cannot_run_shows_one_error_never_zero_events(
    page: Any, console: Console, events: dict
) -> None:
    await sign_in(page, console, console.admin_key)
    await open_events(page, console, range="24h")
    for text, says in BAD_QUERIES:
        await search(page, text)
        alerts = page.locator("#events-view [role=alert]")
        await expect(alerts).to_have_count(1)
        assert says in await alerts.inner_text(), text
        assert await page.locator("[data-testid=events-total]").count() == 0, text
        assert "0 events" not in await page.locator("#events-view").inner_text(), text
        box = page.get_by_role("searchbox", name="Query")
        assert await box.get_attribute("aria-invalid") == "true"
        assert await box.input_value() == text
    await page.screenshot(path=console.shots / "events-kql-error.png", full_page=True)
    # A query that compiles but that every search refuses (a pattern over the regex length
    # limit): one alert however many of the view's nine requests failed alike.
    await search(page, "resource.name:web-*" + "x" * 1100)
    alerts = page.locator("#events-view [role=alert]")
    await expect(alerts).to_have_count(1)
    assert "longer than 1000" in await alerts.inner_text()
    assert await page.locator("text=Not shown: see the error above.").count() >= 8
    # The same errors from the route, with the position and the field.
    response = await console.http.post(
        "/console/api/kql", headers=console.auth(), json={"query": "severity:critcal"}
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "ERROR_INVALID_QUERY"
    assert (error["position"], error["field"]) == (10, "severity")
    unauthenticated = await console.http.post("/console/api/kql", json={"query": "x"})
    assert unauthenticated.status_code == 401


async def test_the_same_grammar_compiles_for_alerts(console: Console, events: dict) -> None:
    """`target: alerts` compiles over the alert fields; the alert list runs what it makes."""
    await console.wait_for_events({"project_id": PROJECT}, N)
    for text, exact in (
        ("state:triggered", {"state": "TRIGGERED"}),
        (f"project_id:{PROJECT} and event_key:*kql*", {"project_id": PROJECT}),
    ):
        compiled = await console.http.post(
            "/console/api/kql", headers=console.auth(), json={"query": text, "target": "alerts"}
        )  # fmt: skip
        assert compiled.status_code == 200, compiled.text
        got = await console.http.post("/monitoring/v1/alert/list", headers=console.auth(),
                                      json={"query": compiled.json()["query"]})  # fmt: skip
        want = await console.http.post("/monitoring/v1/alert/list", headers=console.auth(),
                                       json=exact)  # fmt: skip
        assert got.status_code == want.status_code == 200, got.text
        assert got.json()["total_count"] == want.json()["total_count"] > 0, text
    refused = await console.http.post(
        "/console/api/kql", headers=console.auth(), json={"query": "title:x", "target": "alerts"}
    )
    assert refused.status_code == 400
    assert "alerts have: alert_id" in refused.json()["error"]["message"]


async def test_wall_times_and_day_buckets_across_daylight_saving(
    page: Any, console: Console
) -> None:
    """The console's zone arithmetic (timezone.js, timerange.js) against Python's zoneinfo,
    over New York's 2026 DST changes: 23- and 25-hour days are one bucket each."""
    await page.goto(f"{console.url}/console/")
    got = await page.evaluate(
        """async () => {
            const tz = await import('./js/timezone.js');
            const tr = await import('./js/timerange.js');
            const ny = 'America/New_York';
            const wall = (s) => tz.parseWall(s, ny).toISOString();
            const day = tr.BUCKETS.find((b) => b.name === 'day');
            const { starts } = tr.bucketStarts(
                [new Date('2026-03-07T12:00:00Z'), new Date('2026-03-10T12:00:00Z')], day, ny);
            const fall = tr.bucketStarts(
                [new Date('2026-10-31T12:00:00Z'), new Date('2026-11-03T12:00:00Z')], day, ny);
            return {
                walls: ['2026-03-08T01:30', '2026-03-08T03:30', '2026-11-01T00:30',
                        '2026-11-01T01:30', '2026-12-04T23:20'].map(wall),
                shown: tz.formatInstant('2026-12-05T04:20:00.123Z', ny),
                spring: starts.map((d) => d.toISOString()),
                fall: fall.starts.map((d) => d.toISOString()),
                label: tz.zoneLabel(ny, new Date('2026-07-01T00:00:00Z')),
            };
        }"""
    )
    new_york = ZoneInfo("America/New_York")

    def utc(text: str) -> str:
        moment = datetime.fromisoformat(text).replace(tzinfo=new_york).astimezone(UTC)
        return moment.isoformat().replace("+00:00", ".000Z")

    walls = ["2026-03-08T01:30", "2026-03-08T03:30", "2026-11-01T00:30", "2026-11-01T01:30",
             "2026-12-04T23:20"]  # fmt: skip
    assert got["walls"] == [utc(w) for w in walls]
    assert got["shown"] == "2026-12-04 23:20:00.123"
    assert got["spring"] == [utc(f"2026-03-{d:02d}T00:00") for d in (7, 8, 9, 10)]
    assert got["fall"] == [utc(f"2026-{m}T00:00") for m in ("10-31", "11-01", "11-02", "11-03")]
    assert got["label"] == "America/New_York (UTC\u221204:00)"  # a minus sign


async def test_pills_negate_disable_remove_by_keyboard_and_live_in_the_url(
    page: Any, console: Console, events: dict
) -> None:
    await sign_in(page, console, console.admin_key)
    await open_events(page, console, range="24h", q=f"project_id:{PROJECT}")
    # A facet click becomes a pill (not query text).
    await page.evaluate("document.getElementById('content').dataset.ready = 'false'")
    await page.locator("[data-facet='provider'] button.facet-value[data-value='zabbix']").click()
    await ready(page)
    params = view_params(page)
    assert params["q"] == f"project_id:{PROJECT}"
    assert json.loads(params["filters"]) == [{"field": "provider", "value": "zabbix"}]
    zabbix = sum(1 for n in range(N) if n % 3 == 0)
    assert await shown_total(page) == zabbix
    pill = page.locator(".pill").first
    await expect(pill).to_contain_text("provider: zabbix")
    await page.screenshot(path=console.shots / "events-pill.png", full_page=True)

    # Keyboard: focus the pill's exclude button and press Enter.
    await page.evaluate("document.getElementById('content').dataset.ready = 'false'")
    await pill.locator(".pill-negate").focus()
    await page.keyboard.press("Enter")
    await ready(page)
    assert await shown_total(page) == N - zabbix
    assert json.loads(view_params(page)["filters"])[0]["negate"] is True
    await expect(page.locator(".pill").first).to_contain_text("NOT provider: zabbix")
    await page.screenshot(path=console.shots / "events-pill-negated.png", full_page=True)

    # The link alone (a new tab) shows the same view.
    shared = page.url
    other = await page.context.new_page()
    await open_link(other, console, shared)
    assert await shown_total(other) == N - zabbix
    await other.close()

    await page.evaluate("document.getElementById('content').dataset.ready = 'false'")
    await page.locator(".pill .pill-toggle").first.focus()
    await page.keyboard.press("Space")
    await ready(page)
    assert await shown_total(page) == N
    await expect(page.locator(".pill").first).to_contain_text("(off)")

    await page.evaluate("document.getElementById('content').dataset.ready = 'false'")
    await page.locator(".pill .pill-remove").first.focus()
    await page.keyboard.press("Enter")
    await ready(page)
    assert await page.locator(".pill").count() == 0
    assert "filters" not in view_params(page)

    # A facet's "filter out" button and Alt+click make negated pills.
    await page.evaluate("document.getElementById('content').dataset.ready = 'false'")
    await page.locator("[data-facet='severity'] li", has=page.locator(
        "button.facet-value[data-value='INFO']")).locator("button.facet-out").click()  # fmt: skip
    await ready(page)
    assert await shown_total(page) == N - N // 5


async def test_domain_is_in_the_url(page: Any, console: Console, events: dict) -> None:
    """An admin key's chosen domain is part of the link; the link alone restores it."""
    await sign_in(page, console, console.admin_key)
    await open_events(page, console, range="24h")
    everything = await shown_total(page)
    await page.evaluate("document.getElementById('content').dataset.ready = 'false'")
    await page.locator("#domain").fill("domain-1")
    await page.locator("#domain").dispatch_event("change")
    await page.wait_for_function("location.hash.includes('domain=domain-1')")
    await ready(page)
    in_domain = await console.count({"domain_id": "domain-1"})
    assert await shown_total(page) == in_domain
    link = page.url
    # A fresh tab (its own empty session): the link alone sets the domain.
    fresh = await page.context.new_page()
    await open_link(fresh, console, link)
    assert await fresh.locator("#domain").input_value() == "domain-1"
    assert await shown_total(fresh) == in_domain
    await fresh.close()
    assert in_domain <= everything


async def test_new_york_absolute_range_is_read_and_shown_in_new_york_time(
    browser: Any, console: Console, events: dict
) -> None:
    """Regression: 23:20 to 23:30 typed in New York became 04:20Z to 04:30Z in the URL
    but the table showed UTC, so what was typed and what was shown disagreed."""
    context = await browser.new_context(
        viewport={"width": 1366, "height": 900}, timezone_id="America/New_York"
    )
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        await sign_in(page, console, console.admin_key)
        await open_events(page, console, range="24h", filters=json.dumps(
            [{"field": "project_id", "value": PROJECT}]))  # fmt: skip
        newest = await page.locator("#events-table tbody tr").first.get_attribute("data-event-id")
        got = await console.http.post("/monitoring/v1/event/get", headers=console.auth(),
                                      json={"event_id": newest})  # fmt: skip
        created = datetime.fromisoformat(got.json()["created_at"].replace("Z", "+00:00"))
        new_york = ZoneInfo("America/New_York")
        local = created.astimezone(new_york)
        # The table shows New York wall time, and the view says so.
        first_cell = await page.locator("#events-table tbody tr td").first.inner_text()
        assert first_cell == shown_time(local)
        assert "America/New_York" in await page.locator("#histogram-zone").inner_text()

        # Type a ten-minute absolute range around the event, in New York time.
        start = (local - timedelta(minutes=5)).replace(second=0, microsecond=0)
        end = start + timedelta(minutes=10)
        await page.select_option("#range", "custom")
        await page.locator("#from").fill(start.strftime("%Y-%m-%dT%H:%M"))
        await page.locator("#to").fill(end.strftime("%Y-%m-%dT%H:%M"))
        await page.evaluate("document.getElementById('content').dataset.ready = 'false'")
        await page.get_by_role("button", name="Apply").click()
        await ready(page)
        params = view_params(page)
        assert datetime.fromisoformat(params["from"]) == start.astimezone(UTC)
        assert datetime.fromisoformat(params["to"]) == end.astimezone(UTC)
        assert await shown_total(page) == N  # all 40 arrived within those minutes
        assert await page.locator("#from").input_value() == start.strftime("%Y-%m-%dT%H:%M")
        await page.screenshot(path=console.shots / "events-new-york.png", full_page=True)

        # The UTC toggle: the same range, shown in UTC.
        await page.evaluate("document.getElementById('content').dataset.ready = 'false'")
        await page.locator("#tz-toggle").click()
        await ready(page)
        assert view_params(page)["tz"] == "utc"
        assert await page.locator("#from").input_value() == start.astimezone(UTC).strftime(
            "%Y-%m-%dT%H:%M"
        )
        first_cell = await page.locator("#events-table tbody tr td").first.inner_text()
        assert first_cell == shown_time(created)
        assert "UTC" in await page.locator("#histogram-zone").inner_text()
        # A date typed in the query is read in the shown zone too.
        await search(page, f"created_at >= {start.astimezone(UTC):%Y-%m-%dT%H:%M}")
        assert await shown_total(page) == N
    finally:
        await context.close()
    assert not errors, errors


async def test_histogram_buckets_fit_the_chart_and_say_when_capped(
    page: Any, console: Console, events: dict
) -> None:
    await sign_in(page, console, console.admin_key)
    for range_, bucket in (("1h", "minute"), ("7d", "hour"), ("30d", "day"), ("365d", "month")):
        await open_events(page, console, range=range_)
        histogram = page.locator(".histogram")
        assert await histogram.get_attribute("data-bucket") == bucket, range_
        bars = int(await histogram.get_attribute("data-buckets"))
        width = (await page.locator("#histogram").bounding_box())["width"]
        assert bars * 4 <= width, (range_, bars, width)
        assert await page.locator("[data-testid=histogram-capped]").count() == 0
    # Forty years of months cannot be drawn: the newest are, and a note says so.
    now = datetime.now(UTC)
    await open_events(
        page,
        console,
        **{"from": "1986-01-01T00:00:00.000Z", "to": now.isoformat().replace("+00:00", "Z")},
    )
    note = page.locator("[data-testid=histogram-capped]")
    await expect(note).to_have_count(1)
    assert re.search(r"\d+ earlier ones", await note.inner_text())
    await page.screenshot(path=console.shots / "events-histogram-capped.png", full_page=True)


async def test_detail_side_panel_keeps_the_list_scroll(
    page: Any, console: Console, events: dict
) -> None:
    await sign_in(page, console, console.admin_key)
    await page.set_viewport_size({"width": 1366, "height": 600})
    await open_events(page, console, range="24h", filters=json.dumps(
        [{"field": "project_id", "value": PROJECT}]))  # fmt: skip
    rows = page.locator("#events-table tbody tr")
    await rows.nth(30).scroll_into_view_if_needed()
    scrolled = await page.evaluate("window.scrollY")
    assert scrolled > 200
    target = await rows.nth(30).get_attribute("data-event-id")
    await rows.nth(30).locator(".open-event").click()
    panel = page.locator("#event-detail")
    await expect(panel.locator("h2")).to_be_visible()
    assert view_params(page)["event"] == target
    assert await page.evaluate("window.scrollY") == scrolled
    assert await page.evaluate("window.__kept = 1") == 1  # the list was not drawn again
    await expect(panel.get_by_role("tab", name="Table")).to_have_attribute("aria-selected", "true")
    assert await panel.locator("tr[data-field='additional_info.instance']").count() == 1
    await page.screenshot(path=console.shots / "events-detail-panel.png")

    # JSON tab, by keyboard.
    await panel.get_by_role("tab", name="Table").focus()
    await page.keyboard.press("ArrowRight")
    got = json.loads(await panel.locator("#event-json").inner_text())
    assert got["event_id"] == target
    await page.screenshot(path=console.shots / "events-detail-json.png")

    # Next and previous walk the listed events, the list staying where it was.
    await panel.locator("#detail-next").click()
    await page.wait_for_function(f"!location.hash.includes('event={target}')")
    after = await rows.nth(31).get_attribute("data-event-id")
    assert view_params(page)["event"] == after
    await expect(panel.locator("#event-json")).to_contain_text(after)
    await panel.locator("#detail-prev").click()
    await page.wait_for_function(f"location.hash.includes('event={target}')")
    assert await page.evaluate("window.__kept") == 1
    # Escape closes it; the list is still there, scrolled as it was.
    await page.keyboard.press("Escape")
    await expect(panel).to_be_hidden()
    focused = await page.evaluate("document.activeElement.closest('tr')?.dataset.eventId")
    assert focused == target  # keyboard focus back on the row that was open
    assert "event" not in view_params(page)
    assert await page.evaluate("window.__kept") == 1

    # Filter for a value and add a field as a column, from the panel.
    await rows.nth(2).locator(".open-event").click()
    await panel.get_by_role("tab", name="Table").click()
    await page.evaluate("document.getElementById('content').dataset.ready = 'false'")
    await panel.locator("tr[data-field='resource.name'] .filter-for").click()
    await ready(page)
    name = json.loads(view_params(page)["filters"])[-1]
    assert name["field"] == "resource.name"
    assert await shown_total(page) == N // 5
    await page.evaluate("document.getElementById('content').dataset.ready = 'false'")
    column = page.locator("#event-detail tr[data-field='additional_info.instance'] .toggle-column")
    await column.click()
    await ready(page)
    assert "additional_info.instance" in view_params(page)["cols"]
    header = await page.locator("#events-table thead th").all_inner_texts()
    assert any("additional_info.instance" in text for text in header)
    cells = await page.locator("#events-table tbody tr td:nth-child(7)").all_inner_texts()
    assert cells and all(re.fullmatch(r"host-2\d", c) for c in cells)
    await page.screenshot(path=console.shots / "events-detail-filtered.png")
    await page.locator("#theme").click()
    assert await page.evaluate("document.documentElement.dataset.theme") == "dark"
    await page.screenshot(path=console.shots / "events-detail-dark.png")


async def test_severity_sorts_by_severity_order_not_alphabetically(
    page: Any, console: Console, events: dict
) -> None:
    """Regression: sorting by severity put WARNING above ERROR (keyword order)."""
    await sign_in(page, console, console.admin_key)
    pill = json.dumps([{"field": "project_id", "value": PROJECT}])
    rank = {s: i for i, s in enumerate(["CRITICAL", "ERROR", "WARNING", "INFO", "NOT_AVAILABLE",
                                        "NONE"])}  # fmt: skip
    for desc in (True, False):
        await open_events(page, console, range="24h", filters=pill,
                          sort=f"severity:{'desc' if desc else 'asc'}")  # fmt: skip
        assert await shown_total(page) == N
        column = await page.locator("#events-table tbody tr td:nth-child(2)").all_inner_texts()
        ranks = [rank[s] for s in column]
        assert len(ranks) == N and ranks == sorted(ranks, reverse=not desc), column
        # Within one severity: newest first, as the API lists that severity.
        ids = await page.eval_on_selector_all(
            "#events-table tbody tr", "rows => rows.map(r => r.dataset.eventId)"
        )
        expected = []
        for severity in sorted(rank, key=rank.get, reverse=not desc):
            response = await console.http.post(
                "/monitoring/v1/event/list", headers=console.auth(),
                json={"query": {"filter": [{"k": "project_id", "v": PROJECT},
                                           {"k": "severity", "v": severity}],
                                "sort": [{"key": "created_at", "desc": True}]}},
            )  # fmt: skip
            expected += [e["event_id"] for e in response.json()["results"]]
        assert ids == expected
    await page.screenshot(path=console.shots / "events-sorted-by-severity.png")


async def test_follow_updates_the_histogram_and_facets(
    page: Any, console: Console, events: dict
) -> None:
    await sign_in(page, console, console.admin_key)
    await open_events(page, console, range="1h", follow="1",
                      q=f"project_id:{PROJECT} and provider:late")  # fmt: skip
    assert await shown_total(page) == 0
    batch = [{"event_key": f"late-{n}", "title": f"late {n}", "severity": "ERROR",
              "provider": "late"} for n in range(3)]  # fmt: skip
    response = await console.http.post(events["webhook"]["webhook_url"], json=batch)
    assert response.status_code == 200, response.text
    await expect(page.locator(".follow")).to_have_text(
        re.compile(r"Following: 3 new events arrived"), timeout=30_000
    )
    await expect(page.locator(".histogram")).to_have_attribute("data-total", "3", timeout=10_000)
    severity = page.locator("[data-facet='severity'] button.facet-value[data-value='ERROR']")
    await expect(severity.locator(".count")).to_have_text("3", timeout=10_000)
    provider = page.locator("[data-facet='provider'] button.facet-value[data-value='late']")
    await expect(provider.locator(".count")).to_have_text("3", timeout=10_000)
    await page.screenshot(path=console.shots / "events-follow-histogram.png", full_page=True)
