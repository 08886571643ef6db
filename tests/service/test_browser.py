"""The web page in headless Chromium against the real app on a loopback port."""

from __future__ import annotations

from pathlib import Path

import pytest
from svc_helpers import QA_KEY, QUESTION, LiveServer, demo_store, make_settings

from service.app import create_app

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.mark.browser
def test_ask_a_question_and_see_the_paths_drawn(tmp_path: Path, tiny_student: Path) -> None:
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "install Debian's chromium: apt-get install -y chromium"
    app = create_app(make_settings(tmp_path, tiny_student), store=demo_store())
    with LiveServer(app) as server, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            external: list[str] = []
            page.on(
                "request",
                lambda req: None if req.url.startswith(server.url) else external.append(req.url),
            )
            page.goto(server.url + "/")
            page.fill("#question", QUESTION)
            page.click("#submit")
            page.wait_for_selector("text=An API key is needed")  # no key yet: the page says so
            page.fill("#apikey", QA_KEY)
            page.click("#submit")
            page.wait_for_selector("#graph svg g.node", timeout=60_000)
            answer = page.text_content("#answer")
            nodes = page.locator("#graph svg g.node").count()
            edges = page.locator("#graph svg line.edge").count()
            paths = page.locator("#paths li.path-ok").count()
            shot = tmp_path / "page.png"
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert answer and answer != "(no answer)"
    assert nodes >= 2 and edges >= 1 and paths >= 1
    assert not external, f"the page fetched something off the server: {external}"
    _assert_not_blank(shot)


def _assert_not_blank(png: Path) -> None:
    import zlib

    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5_000
    # decompress the image data: a blank page is one colour, ours has text, nodes and edges
    idat = b""
    pos = 8
    while pos < len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        kind = data[pos + 4 : pos + 8]
        if kind == b"IDAT":
            idat += data[pos + 8 : pos + 8 + length]
        pos += 12 + length
    raw = zlib.decompress(idat)
    assert len(set(raw[i : i + 3] for i in range(0, min(len(raw), 3_000_000), 997))) > 20
