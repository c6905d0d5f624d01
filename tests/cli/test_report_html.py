"""The HTML report in a real browser: a report built from a loopback endpoint whose answers are
hostile HTML, rendered by headless Chromium; the DOM read after scripts had their chance.

The page must show the verdict, run none of the payloads, load nothing from elsewhere (every
payload that would fetch points at a canary server on 127.0.0.1, which must see no request),
and keep endpoint text as text. Skips where Chromium is absent (`.ci/run` installs the Debian
package `chromium` where apt is available)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from factory import keyword_cli
from provenance.cli.render import HEADLINES
from provenance.testing.fakeserver import FakeLLMServer

CLAIM = "I am Claude, an AI assistant made by Anthropic."


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("no Chromium on PATH (Debian: apt-get install chromium)")


def dump_dom(page: Path, profile: Path) -> str:
    """The DOM after load, as headless Chromium serialises it (scripts, had any run, have run)."""
    p = subprocess.run([chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                        "--disable-background-networking", "--disable-component-update", "--disable-sync",
                        "--disable-extensions", f"--user-data-dir={profile}", "--virtual-time-budget=3000",
                        "--dump-dom", page.resolve().as_uri()],
                       capture_output=True, text=True, timeout=180)
    assert p.returncode == 0 and "<html" in p.stdout, p.stderr[-2000:]
    return p.stdout


def payloads(canary: str) -> list[str]:
    return [
        "<script>document.body.setAttribute('data-pwned', 'script')</script>",
        f"<img src=\"{canary}/img.png\" onerror=\"document.body.setAttribute('data-pwned', 'onerror')\">",
        "<a href=\"javascript:document.body.setAttribute('data-pwned', 'js')\">click me</a>",
        f"<link rel=\"stylesheet\" href=\"{canary}/evil.css\">",
        f"<iframe src=\"{canary}/frame\"></iframe>",
        f"<style>@import url('{canary}/import.css'); body {{ display: none }}</style>",
        "</pre></details></section><script>document.title = 'PWNED'</script>",
        "<svg onload=\"document.body.setAttribute('data-pwned', 'svg')\"></svg>",
        f"<meta http-equiv=\"refresh\" content=\"0; url={canary}/refresh\">",
        f"<base href=\"{canary}/\">",
        "\" onmouseover=\"document.body.setAttribute('data-pwned', 'attr')\" x=\"",
        "right-to-left: \u202egnp.exe\u202c and an isolate \u2067abc\u2069",
    ]


class Dom(HTMLParser):
    """The elements and attributes of a serialised DOM, and its text."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def parse(dom: str) -> Dom:
    d = Dom()
    d.feed(dom)
    return d


def assert_inert(dom: str, canary: FakeLLMServer) -> Dom:
    d = parse(dom)
    tags = [t for t, _ in d.tags]
    for bad in ("script", "iframe", "img", "link", "svg", "base", "object", "embed", "form", "input"):
        assert bad not in tags, f"a <{bad}> element made it into the page"
    assert tags.count("style") == 1 and tags.count("meta") == 4         # the page's own
    for tag, attrs in d.tags:
        assert not [k for k in attrs if k.startswith("on")], (tag, attrs)
        assert "data-pwned" not in attrs, (tag, attrs)
        href = (attrs.get("href") or "").strip().lower()
        assert not href.startswith(("javascript:", "http:", "https:", "data:")), (tag, attrs)
        if tag == "meta" and attrs.get("http-equiv", "").lower() == "refresh":
            raise AssertionError("a refresh made it into the page")
    title = re.search(r"<title>(.*?)</title>", dom, re.S)
    assert title and title.group(1).startswith("provenance") and "PWNED" not in title.group(1), title
    assert canary.request_count == 0, [q.path for q in canary.requests]
    return d


@pytest.fixture
def hostile(tmp_path, tiny_probes):
    """A report (and a run store) from an endpoint whose every answer and model name is hostile HTML."""
    canary = FakeLLMServer().start()
    where = f"http://127.0.0.1:{canary.port}"
    answer = CLAIM + "\n" + "\n".join(payloads(where))
    srv = FakeLLMServer(answer_fn=lambda body: answer, model=f"<img src=\"{where}/model.png\" onerror=\"x()\">m",
                        headers={"X-Evil": "<script>document.title='PWNED'</script>"}).start()
    db = tmp_path / "runs.sqlite3"
    r = keyword_cli(["probe", srv.base_url, "--model", "<script>alert(1)</script>", "--probes", tiny_probes,
                     "--db", db, "--json", "-o", tmp_path / "report.json"])
    assert r.returncode == 0, r.stderr
    yield {"report": tmp_path / "report.json", "db": db, "canary": canary, "server": srv,
           "run_id": json.loads(r.stdout)["run"]["id"]}
    srv.stop()
    canary.stop()


def test_hostile_answers_stay_inert_text_in_a_real_browser(tmp_path, hostile):
    page = tmp_path / "page.html"
    r = keyword_cli(["report", "html", hostile["report"], "-o", page])
    assert r.returncode == 0, r.stderr
    raw = page.read_text(encoding="utf-8")
    assert "Content-Security-Policy" in raw and "default-src 'none'" in raw
    d = assert_inert(dump_dom(page, tmp_path / "profile"), hostile["canary"])
    text = " ".join("".join(d.text).split())
    a = json.loads(hostile["report"].read_text())["attribution"]
    assert f"{HEADLINES[a['status']]}:" in text                          # the verdict renders
    assert f"P(unknown) {round(a['confidence'] * 100)}%" in text or f"{a['creator']} (" in text
    assert "document.body.setAttribute('data-pwned', 'script')" in text   # the payloads, as text
    assert "javascript:document.body.setAttribute" in text
    assert "[U+202E]gnp.exe[U+202C]" in text and "[U+2067]abc[U+2069]" in text
    assert "<script>alert(1)</script>" in text                            # the model name, as text
    summaries = [t for t, _ in d.tags].count("details")
    assert summaries == 3                                                 # one collapsible block per probe


def test_the_page_from_a_stored_run_is_the_same(tmp_path, hostile):
    a, b = tmp_path / "a.html", tmp_path / "b.html"
    assert keyword_cli(["report", "html", hostile["report"], "-o", a]).returncode == 0
    r = keyword_cli(["report", "html", hostile["run_id"], "--db", hostile["db"], "-o", b])
    assert r.returncode == 0, r.stderr
    assert a.read_text(encoding="utf-8") == b.read_text(encoding="utf-8")
    bad = keyword_cli(["report", "html", "no-such-run-or-file", "--db", hostile["db"]])
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "no run with id" in bad.stderr


def test_a_scan_page_links_each_entrant_to_its_page(tmp_path, hostile, tiny_probes):
    good = FakeLLMServer(answer_fn=lambda body: "I'm Qwen, created by Alibaba Cloud.").start()
    try:
        ents = [{"name": "<b onmouseover=x>hostile</b> \u202eent", "base_url": hostile["server"].base_url, "model": "m"},
                {"name": "plain", "base_url": good.base_url, "model": "m"},
                {"name": "gone", "base_url": "http://127.0.0.1:9/v1", "model": "m"}]
        ef = tmp_path / "entrants.json"
        ef.write_text(json.dumps(ents))
        page = tmp_path / "scan.html"
        r = keyword_cli(["scan", ef, "--probes", tiny_probes, "--db", tmp_path / "scan.sqlite3", "--html", page,
                         "--timeout", "5"], timeout=120)
        assert r.returncode == 0, r.stderr
    finally:
        good.stop()
    d = assert_inert(dump_dom(page, tmp_path / "profile"), hostile["canary"])
    links = [a["href"] for t, a in d.tags if t == "a"]
    assert len(links) == 3                          # every entrant has a page (the unusable one too)
    for href in links:
        assert href.startswith("scan_entrants/") and (tmp_path / href).is_file(), href
    text = " ".join("".join(d.text).split())
    assert "<b onmouseover=x>hostile</b> [U+202E]ent" in text and "Alibaba" in text
    sub = parse(dump_dom(tmp_path / links[0], tmp_path / "profile2"))
    assert ("a", {"href": "../scan.html"}) in sub.tags
