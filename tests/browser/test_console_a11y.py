"""Accessibility of every console view in both themes: axe-core (WCAG 2.1 A and AA rules) finds
no serious or critical violation, and the badges the issue measured pass AA contrast.

axe-core comes bundled in `axe-playwright-python` (a dev dependency), injected into the page
as it is drawn. Screenshots of each view and theme go to `test-output/console/`.
"""

from __future__ import annotations

from typing import Any

import pytest
from axe_playwright_python.async_playwright import Axe

from tests.browser.conftest import Console
from tests.browser.views import Views, open_view, shot

AXE = Axe()
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
# view, URL params, a selector that is there once the view is drawn
VIEWS: list[tuple[str, str, dict[str, str], str]] = [
    ("events", "events", {"range": "7d"}, "#content"),
    ("alerts", "alerts", {}, "[data-testid=alerts-table]"),
    ("stats-chart", "stats", {"range": "7d", "g1": "severity", "g2": "provider", "run": "1"},
     "#stat-plot rect"),
    ("stats-table", "stats", {"range": "7d", "g1": "provider", "chart": "table", "run": "1"},
     "[data-testid=stat-table]"),
    ("stats-line", "stats", {"range": "7d", "bucket": "auto", "g1": "severity", "chart": "line",
                             "run": "1"}, "#stat-plot polyline"),
    ("webhooks", "webhooks", {}, "#content"),
]  # fmt: skip


def serious(results: Any) -> list[str]:
    """The serious and critical violations, one line each with where they are."""
    out = []
    for violation in results.response["violations"]:
        if violation["impact"] not in ("serious", "critical"):
            continue
        targets = [", ".join(node["target"]) for node in violation["nodes"][:5]]
        summary = violation["nodes"][0].get("failureSummary", "").replace("\n", " ")
        out.append(f"{violation['id']} ({violation['impact']}): {targets} {summary[:300]}")
    return out


async def check(page: Any) -> list[str]:
    results = await AXE.run(page, options={"runOnly": {"type": "tag", "values": TAGS}})
    return serious(results)


@pytest.mark.parametrize("theme", ["light", "dark"])
@pytest.mark.parametrize(("name", "view", "params", "drawn"), VIEWS, ids=[v[0] for v in VIEWS])
async def test_no_serious_violation(
    page: Any, console: Console, views: Views, theme: str, name: str, view: str,
    params: dict[str, str], drawn: str,
) -> None:  # fmt: skip
    await open_view(page, console, view, theme, **params)
    await page.wait_for_selector(drawn)
    assert await page.evaluate("document.documentElement.dataset.theme") == theme
    await shot(page, console, f"a11y-{name}-{theme}")
    assert await check(page) == []


@pytest.mark.parametrize("theme", ["light", "dark"])
async def test_alert_detail_and_sign_in(
    page: Any, console: Console, views: Views, theme: str
) -> None:
    await open_view(page, console, "alerts", theme)
    await page.locator(".open-alert").first.click()
    await page.wait_for_selector("[data-testid=alert-detail]")
    await shot(page, console, f"a11y-alert-detail-{theme}")
    assert await check(page) == []
    await page.get_by_role("button", name="Sign out").click()
    await page.wait_for_selector("#signin:not([hidden])")
    await shot(page, console, f"a11y-signin-{theme}")
    assert await check(page) == []


def contrast(a: str, b: str) -> float:
    def luminance(rgb: str) -> float:
        parts = [int(x) / 255 for x in rgb[rgb.index("(") + 1 : rgb.index(")")].split(",")[:3]]
        lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in parts]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]

    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


@pytest.mark.parametrize("theme", ["light", "dark"])
async def test_badges_and_input_borders_pass_aa(
    page: Any, console: Console, views: Views, theme: str
) -> None:
    """Badge NONE was 1.9:1, ERROR 3.3:1, input borders 1.4:1 (issue 21)."""
    await open_view(page, console, "stats", theme)
    measured = await page.evaluate(
        """() => {
            const out = {};
            const probe = (cls, text) => {
                const el = document.createElement('span');
                el.className = cls; el.textContent = text;
                document.body.append(el);
                const s = getComputedStyle(el);
                out[cls] = [s.color, s.backgroundColor];
                el.remove();
            };
            for (const v of ['CRITICAL', 'ERROR', 'WARNING', 'INFO', 'NOT_AVAILABLE', 'NONE'])
                probe(`sev sev-${v}`, v);
            for (const v of ['TRIGGERED', 'ACKNOWLEDGED', 'RESOLVED', 'ERROR'])
                probe(`state-badge state-${v}`, v);
            const input = document.querySelector('#stat-q');
            out.input = [getComputedStyle(input).borderTopColor,
                         getComputedStyle(document.body).backgroundColor];
            out.card = [getComputedStyle(input).borderTopColor,
                        getComputedStyle(input.closest('.card')).backgroundColor];
            return out;
        }"""
    )
    for name, (fg, bg) in measured.items():
        need = 3.0 if name in ("input", "card") else 4.5
        assert contrast(fg, bg) >= need, (name, fg, bg, round(contrast(fg, bg), 2))
