"""The dashboard in a real browser: Playwright driving Debian's Chromium (/usr/bin/chromium)."""

from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def rec_ids(page, strategy):
    return page.locator(f"#recs-{strategy} li").evaluate_all("els => els.map(e => e.dataset.track)")


def test_dashboard_login_play_and_isolation(fresh_workdir, server_factory):
    from playwright.sync_api import expect, sync_playwright

    from trackrec.service.store import Store, store_path
    store = Store(store_path(fresh_workdir))
    tok_a, tok_b = store.issue_token("browser-a"), store.issue_token("u0001")
    server = server_factory(fresh_workdir).start()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.set_default_timeout(20_000)
            page.goto(server.url + "/")
            page.fill("#token", "wrong-token")
            page.click("#login")
            expect(page.locator("#error")).to_contain_text("Login failed")
            page.fill("#token", tok_a)
            page.click("#login")
            expect(page.locator("#whoami")).to_have_text("browser-a")
            expect(page.locator("#history")).to_contain_text("no plays yet")
            expect(page.locator("#recs-affinity-lr li")).to_have_count(10)
            expect(page.locator("#recs-affinity-lr")).to_contain_text("popular picks")  # cold start
            before = rec_ids(page, "affinity-lr")
            # search the catalogue and play a track
            page.fill("#search", "jazz")
            page.click("#search-btn")
            first = page.locator("#results li").first
            expect(first).to_contain_text("jazz")
            played = first.get_attribute("data-track")
            stamp = page.evaluate("document.body.dataset.refreshed")
            first.locator("button.play").click()
            page.wait_for_function(f"document.body.dataset.refreshed !== '{stamp}'")
            expect(page.locator(f"#history li[data-track='{played}']")).to_have_count(1)
            expect(page.locator("#history-count")).to_have_text("(1 plays)")
            expect(page.locator("#recs-affinity-lr li")).to_have_count(10)
            after = rec_ids(page, "affinity-lr")
            assert after != before, "recommendations should change after a play"
            assert played not in after
            expect(page.locator("#recs-affinity-lr")).not_to_contain_text("popular picks")
            expect(page.locator("#taste svg")).to_have_count(3)
            expect(page.locator("#taste")).to_contain_text("jazz")
            # play from a recommendation list: the listen carries the list's id, stats show it
            stamp = page.evaluate("document.body.dataset.refreshed")
            page.locator("#recs-similarity li button.play").first.click()
            page.wait_for_function(f"document.body.dataset.refreshed !== '{stamp}'")
            expect(page.locator("#stats")).to_contain_text("similarity")
            expect(page.locator("#history-count")).to_have_text("(2 plays)")
            # the page never holds another user's data: user B's token cannot read A's history
            status = page.evaluate("""async ([tok]) => (await fetch('/v1/users/browser-a/history',
                                     {headers: {Authorization: 'Bearer ' + tok}})).status""", [tok_b])
            assert status == 403
            page.click("#logout")
            page.fill("#token", tok_b)
            page.click("#login")
            expect(page.locator("#whoami")).to_have_text("u0001")
            expect(page.locator("#history li").first).to_be_visible()
            expect(page.locator(f"#history li[data-track='{played}']")).to_have_count(0) if \
                played not in [e["track_id"] for e in store.user_events("u0001")] else None
        finally:
            browser.close()
    # and the server agrees
    h = httpx.get(f"{server.url}/v1/users/browser-a/history", headers={"Authorization": f"Bearer {tok_a}"}).json()
    assert h["total"] == 2 and h["items"][1]["track_id"] == played
