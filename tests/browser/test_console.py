"""The console in headless Chromium against the real service, worker and engines.

Alerts go in through webhook URLs as a monitoring tool would send them; the tests then
use the console as a person would (sign in, click, drag) and compare what it shows with
what the API answers. Screenshots of each view go to `test-output/console/`.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qs

import pytest
from playwright.async_api import expect

from deploy.demo_payloads import alertmanager
from tests.browser.conftest import Console


async def sign_in(page: Any, console: Console, key: str) -> None:
    await page.goto(f"{console.url}/console/")
    await page.get_by_label("API key").fill(key)
    await page.get_by_role("button", name="Sign in").click()


async def ready(page: Any) -> None:
    await page.wait_for_selector("#content[data-ready='true']", timeout=20_000)


def view_params(page: Any) -> dict[str, str]:
    fragment = page.url.split("#", 1)[1]
    query = fragment.split("?", 1)[1] if "?" in fragment else ""
    return {k: v[0] for k, v in parse_qs(query).items()}


@pytest.fixture(scope="module")
async def sent(console: Console) -> dict[str, Any]:
    """15 Alertmanager alerts then 5 of them resolved, and 6 standard INFO events, through
    webhook URLs."""
    prometheus = await console.create_webhook("prometheus", "project-a")
    standard = await console.create_webhook("standard", "project-b")
    for n, resolved in [*((n, False) for n in range(15)), *((n, True) for n in range(5))]:
        response = await console.http.post(
            prometheus["webhook_url"], json=alertmanager(n, resolved)
        )
        assert response.status_code == 200, response.text
    for n in range(6):
        body = {
            "event_key": f"batch-{n}",
            "title": f"nightly batch {n} finished",
            "severity": "INFO",
            "provider": "batch",
            "additional_info": {"duration": str(10 + n)},
        }
        response = await console.http.post(standard["webhook_url"], json=body)
        assert response.status_code == 200, response.text
    total = await console.wait_for_events({}, 26)
    return {"prometheus": prometheus, "standard": standard, "total": total}


async def test_a_wrong_key_gets_a_clear_message(page: Any, console: Console) -> None:
    await sign_in(page, console, "not-a-key")
    error = page.locator("#signin-error")
    await error.wait_for()
    await page.wait_for_function("document.getElementById('signin-error').textContent.length > 0")
    assert "not accepted" in await error.inner_text()
    assert await page.locator("#nav").is_hidden()
    await page.screenshot(path=console.shots / "signin-wrong-key.png")


async def test_events_view_facets_detail_and_zoom(page: Any, console: Console, sent: dict) -> None:
    await sign_in(page, console, console.admin_key)
    await page.wait_for_selector("#nav:not([hidden])")
    await page.goto(f"{console.url}/console/#/events?range=1h")
    await ready(page)
    total = await console.count({})
    assert await page.locator("#total").inner_text() == f"{total} events"
    assert int(await page.locator(".histogram").get_attribute("data-total")) == total
    await page.screenshot(path=console.shots / "events.png", full_page=True)

    # Facet counts are the API's: severity (derived from the histogram) and provider.
    for field in ("severity", "provider"):
        stat = await console.http.post(
            "/monitoring/v1/event/stat", headers=console.auth(),
            json={"query": {"aggregate": [{"group": {"keys": [{"key": field, "name": "v"}],
                  "fields": [{"operator": "count", "name": "n"}]}}]}},
        )  # fmt: skip
        expected_counts = {row["v"]: row["n"] for row in stat.json()["results"]}
        buttons = page.locator(f"[data-facet='{field}'] button.facet-value")
        shown = {
            await b.get_attribute("data-value"): int(await b.locator(".count").inner_text())
            for b in await buttons.all()
        }
        assert shown == expected_counts

    # The key stays out of the URL and in sessionStorage.
    assert console.admin_key not in page.url
    assert await page.evaluate("sessionStorage.getItem('eventpipe.apikey')") == console.admin_key

    # Click a facet: the bar, the table and the histogram follow.
    expected = await console.count({"severity": "CRITICAL"})
    assert 0 < expected < total
    await page.locator("[data-facet='severity'] button[data-value='CRITICAL']").click()
    await page.wait_for_function("location.hash.includes('severity')")
    await ready(page)
    assert json.loads(view_params(page)["filters"]) == [{"field": "severity", "value": "CRITICAL"}]
    assert await page.locator("#total").inner_text() == f"{expected} events"
    assert int(await page.locator(".histogram").get_attribute("data-total")) == expected
    series = await page.eval_on_selector_all(
        "#histogram rect[data-series]", "rects => [...new Set(rects.map(r => r.dataset.series))]"
    )
    assert series == ["CRITICAL"]
    severities = await page.locator("#events-table tbody tr td:nth-child(2)").all_inner_texts()
    assert severities and set(severities) == {"CRITICAL"}
    await page.screenshot(path=console.shots / "events-facet-critical.png", full_page=True)
    shown = json.loads(await page.locator(".json .query-json").first.text_content())
    assert {"k": "severity", "v": "CRITICAL", "o": "eq"} in shown["query"]["filter"]

    # Alt-click filters out.
    await page.locator("[data-facet='provider'] button.facet-value").first.click(modifiers=["Alt"])
    await page.wait_for_function("location.hash.includes('negate')")
    await ready(page)
    assert json.loads(view_params(page)["filters"])[1]["negate"] is True
    await page.go_back()
    await ready(page)
    assert json.loads(view_params(page)["filters"]) == [{"field": "severity", "value": "CRITICAL"}]

    # An event's detail: every field, raw_data as JSON, links to its alert and same-key events.
    alert_row = page.locator("#events-table tbody tr").filter(
        has=page.locator("td", has_text=re.compile("^ALERT$"))
    )
    await alert_row.first.locator(".open-event").click()
    await page.wait_for_selector("#event-detail h2")
    await page.get_by_role("tab", name="JSON").click()
    raw = json.loads(await page.locator("#event-json").inner_text())["raw_data"]
    assert raw["alerts"][0]["labels"]["severity"] == "critical"
    await page.locator("#event-detail").screenshot(path=console.shots / "event-detail.png")
    assert "alert-" in (await page.locator("#to-alert").get_attribute("href"))
    await page.locator("#same-key").click()
    await page.wait_for_function("location.hash.includes('event_key')")

    # Drag across the histogram: the range narrows to what was dragged over.
    await page.goto(f"{console.url}/console/#/events?range=1h")
    await ready(page)
    box = await page.locator("#histogram").bounding_box()
    y = box["y"] + box["height"] / 2
    await page.mouse.move(box["x"] + box["width"] * 0.5, y)
    await page.mouse.down()
    await page.mouse.move(box["x"] + box["width"] * 0.7, y, steps=5)
    await page.mouse.move(box["x"] + box["width"] * 0.99, y, steps=5)
    await page.mouse.up()
    await page.wait_for_function("location.hash.includes('from=')")
    await ready(page)
    params = view_params(page)
    assert "range" not in params
    from datetime import datetime

    span = datetime.fromisoformat(params["to"]) - datetime.fromisoformat(params["from"])
    assert 0 < span.total_seconds() < 40 * 60
    await page.screenshot(path=console.shots / "events-zoomed.png", full_page=True)


async def test_alerts_view_and_timeline(page: Any, console: Console, sent: dict) -> None:
    await sign_in(page, console, console.admin_key)
    await page.wait_for_selector("#nav:not([hidden])")
    response = await console.http.post("/monitoring/v1/alert/list", headers=console.auth(), json={})
    assert response.status_code == 200, response.text
    alerts = response.json()
    assert alerts["total_count"] > 0
    await page.goto(f"{console.url}/console/#/alerts")
    await ready(page)
    assert await page.locator("#alerts-total").inner_text() == f"{alerts['total_count']} alerts"
    await page.screenshot(path=console.shots / "alerts.png", full_page=True)
    await page.locator("#alerts-table tbody tr button").first.click()
    await page.wait_for_selector("#alert-detail .timeline li")
    await page.screenshot(path=console.shots / "alert-detail.png", full_page=True)

    await page.goto(f"{console.url}/console/#/alerts?state=RESOLVED")
    await ready(page)
    states = await page.locator("#alerts-table tbody tr td:nth-child(2)").all_inner_texts()
    assert states and set(states) == {"RESOLVED"}


async def test_stats_view_builds_a_chart(page: Any, console: Console, sent: dict) -> None:
    await sign_in(page, console, console.admin_key)
    await page.wait_for_selector("#nav:not([hidden])")
    await page.goto(f"{console.url}/console/#/stats")
    await ready(page)
    await page.select_option("#stat-g1", "provider")
    await page.select_option("#stat-g2", "severity")
    await page.select_option("#stat-chart", "bar")
    await page.locator("#stat-run").click()
    await page.wait_for_selector("#stat-plot rect[data-series]")
    body = json.loads(await page.locator("#stat-result .query-json").text_content())
    keys = [k["key"] for k in body["query"]["aggregate"][0]["group"]["keys"]]
    assert keys == ["provider", "severity"]
    await page.screenshot(path=console.shots / "stats-bar.png", full_page=True)

    await page.select_option("#stat-g1", "severity")
    await page.select_option("#stat-g2", "")
    await page.select_option("#stat-range", "1h")  # per minute over 24 h is more than it draws
    await page.select_option("#stat-bucket", "minute")
    await page.select_option("#stat-chart", "line")
    await page.locator("#stat-run").click()
    await page.wait_for_selector("#stat-plot circle[data-series]")
    await page.screenshot(path=console.shots / "stats-line.png", full_page=True)

    await page.select_option("#stat-chart", "table")
    await page.locator("#stat-run").click()
    await page.wait_for_selector("#stat-table tbody tr")
    body = json.loads(await page.locator("#stat-result .query-json").text_content())
    assert body["query"]["aggregate"][0]["group"]["keys"][0]["date_format"] == "%Y-%m-%dT%H:%M"
    response = await console.http.post(
        "/monitoring/v1/event/stat", headers=console.auth(), json=body
    )
    assert response.status_code == 200
    rows = await page.locator("#stat-table tbody tr").count()
    assert rows == len(response.json()["results"])


async def test_webhooks_view_creates_a_webhook_that_takes_alerts(
    page: Any, console: Console
) -> None:
    await sign_in(page, console, console.admin_key)
    await page.wait_for_selector("#nav:not([hidden])")
    await page.goto(f"{console.url}/console/#/webhooks")
    await ready(page)
    await page.get_by_label("Name").fill("console hook")
    await page.get_by_label("Project").fill("project-c")
    await page.get_by_label("Webhook domain").fill("domain-1")
    await page.get_by_role("button", name="Create webhook").click()
    url = await page.locator("#new-webhook-url").inner_text()
    assert url.startswith(console.url) and url.endswith("/events")
    assert url in await page.locator("#alertmanager-snippet").inner_text()

    response = await console.http.post(url, json=alertmanager(3, False))
    assert response.status_code == 200, response.text
    webhook_id = url.split("/webhook/")[1].split("/")[0]
    await console.wait_for_events({"webhook_id": webhook_id}, 1)

    row = page.locator(f"tr[data-webhook-id='{webhook_id}']")
    await expect(row.locator(".state")).to_have_text("ENABLED")
    await page.screenshot(path=console.shots / "webhook-created.png", full_page=True)
    await row.get_by_role("button", name="Disable").click()
    await expect(row.locator(".state")).to_have_text("DISABLED")
    refused = await console.http.post(url, json=alertmanager(4, False))
    assert refused.status_code == 400
    await page.screenshot(path=console.shots / "webhooks.png", full_page=True)


async def test_domain_key_and_dark_theme(page: Any, console: Console, sent: dict) -> None:
    await sign_in(page, console, console.domain_key)
    await page.wait_for_selector("#nav:not([hidden])")
    assert await page.locator("#who").inner_text() == "domain domain-1"
    assert await page.locator("#domain-picker").is_hidden()
    await page.get_by_role("button", name="Dark theme").click()
    await page.goto(f"{console.url}/console/#/events?range=1h")
    await ready(page)
    assert await page.evaluate("document.documentElement.dataset.theme") == "dark"
    await page.screenshot(path=console.shots / "events-dark.png", full_page=True)


async def test_follow_shows_new_events_without_a_reload(
    page: Any, console: Console, sent: dict
) -> None:
    await sign_in(page, console, console.admin_key)
    await page.wait_for_selector("#nav:not([hidden])")
    await page.goto(f"{console.url}/console/#/events?range=1h&q=provider:batch")
    await ready(page)
    await page.get_by_label("Follow new events").check()
    await page.wait_for_function("location.hash.includes('follow=1')")
    await ready(page)
    before = await page.locator("#events-table tbody tr").count()
    await page.evaluate("window.__sameDocument = true")  # gone if the page reloads
    for n in range(3):
        body = {"event_key": f"late-{n}", "title": f"late batch {n}", "severity": "INFO",
                "provider": "batch"}  # fmt: skip
        response = await console.http.post(sent["standard"]["webhook_url"], json=body)
        assert response.status_code == 200, response.text
    await expect(page.locator(".follow")).to_have_text(
        re.compile(r"Following: 3 new events arrived"), timeout=30_000
    )
    assert await page.locator("#events-table tbody tr").count() == before + 3
    assert await page.locator("#total").inner_text() == f"{before + 3} events"
    assert await page.evaluate("window.__sameDocument") is True
    titles = await page.locator("#events-table tbody tr td:nth-child(4)").all_inner_texts()
    assert {"late batch 0", "late batch 1", "late batch 2"} <= set(titles[:3])
    await page.screenshot(path=console.shots / "events-follow.png", full_page=True)
