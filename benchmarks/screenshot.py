"""Take the dashboard screenshot for the docs (docs/img/dashboard.png).

Initialises a small demo workdir in a temp dir, starts the service on 127.0.0.1, logs in with a
demo user's token in headless Chromium (/usr/bin/chromium, driven by Playwright), plays two
tracks and saves a full-page screenshot.

    python benchmarks/screenshot.py [--out docs/img/dashboard.png]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


def main(argv=None):
    ap = argparse.ArgumentParser(description="Screenshot of the trackrec dashboard for the docs.")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "img" / "dashboard.png")
    args = ap.parse_args(argv)
    import httpx
    from playwright.sync_api import sync_playwright

    from trackrec.data.generate import generate_world
    from trackrec.service.bootstrap import init_workdir

    tmp = tempfile.mkdtemp(prefix="trackrec-shot-")
    wd = Path(tmp) / "work"
    catalog, sessions = generate_world(n_users=200, n_tracks=1500, n_plays=30000, random_state=3)
    res = init_workdir(wd, sessions=sessions, catalog=catalog, demo_users=1)
    user, token = next(iter(res.tokens.items()))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    env = dict(os.environ, TRACKREC_WORKDIR=str(wd), TRACKREC_LOG_LEVEL="WARNING")
    server = subprocess.Popen([sys.executable, "-m", "uvicorn", "trackrec.service.app:create_app_from_env", "--factory",
                               "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"], env=env)
    try:
        for _ in range(300):
            try:
                if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
            page = browser.new_page(viewport={"width": 1440, "height": 1000})
            page.set_default_timeout(30_000)
            page.goto(url + "/")
            page.fill("#token", token)
            page.click("#login")
            page.wait_for_selector("#recs-affinity-lr li")
            page.fill("#search", "jazz")
            page.click("#search-btn")
            page.wait_for_selector("#results li button.play")
            for sel in ("#results li button.play", "#recs-similarity li button.play"):
                stamp = page.evaluate("document.body.dataset.refreshed")
                page.locator(sel).first.click()
                page.wait_for_function(f"document.body.dataset.refreshed !== '{stamp}'")
            page.wait_for_timeout(1200)  # let the refresh highlight fade
            args.out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(args.out), full_page=True)
            browser.close()
        print(f"wrote {args.out} (user {user})")
    finally:
        server.terminate()
        server.wait(timeout=20)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
