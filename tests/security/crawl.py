"""A same-origin crawler for the browser security tests: it follows every GET link under the
given prefixes (one or two pages per URL shape), and records what a user's browser would
complain about: console errors (Content-Security-Policy violations among them), uncaught page
errors, failed requests and any JavaScript dialog (an injected ``alert``)."""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

from playwright.sync_api import Page

# Reported from inside the page, so violations of every directive are seen (the console text
# differs between directives and Chromium versions).
VIOLATION_LISTENER = """
document.addEventListener('securitypolicyviolation', function (event) {
  console.error('CSP violation: ' + event.violatedDirective + ' blocked ' + event.blockedURI
    + ' at ' + event.sourceFile + ':' + event.lineNumber);
});
"""
VIEW_ARGS = {"sort", "desc", "page", "page_size", "url"}
# Downloads and sign-out are no pages to crawl.
SKIP = re.compile(r"/export/|/pdf|\.pdf$|/download|/report|/logout|/static/")
RAW_PAYLOAD_MARKUP = re.compile(
    r"<script>alert|<img src=x onerror|<svg onload|<iframe srcdoc|<a href=\"javascript:alert", re.I
)


@dataclass
class Watch:
    """Problems seen on one page since the last ``take()``."""

    problems: list[str] = field(default_factory=list)

    def take(self) -> list[str]:
        seen, self.problems = self.problems, []
        return seen


def watch(page: Page) -> Watch:
    """Record console errors, page errors, failed requests and dialogs of ``page``."""
    seen = Watch()
    page.add_init_script(VIOLATION_LISTENER)

    def console(message) -> None:
        if message.type == "error":
            seen.problems.append(f"console error: {message.text}")

    def dialog(dialog) -> None:
        seen.problems.append(f"dialog ({dialog.type}): {dialog.message}")
        dialog.dismiss()

    page.on("console", console)
    page.on("pageerror", lambda error: seen.problems.append(f"page error: {error}"))
    page.on("dialog", dialog)

    def failed(request) -> None:
        # Leaving a page aborts its pending requests (e.g. a debounced price preview).
        if request.failure != "net::ERR_ABORTED":
            seen.problems.append(f"request failed: {request.url} {request.failure}")

    page.on("requestfailed", failed)
    return seen


def shape(url: str) -> str:
    """The page a URL shows, as the path with numbers replaced and the names of its filter and
    search arguments: sorting, paging and return URLs do not make another page."""
    parts = urlsplit(url)
    keys = sorted({key for key, _value in parse_qsl(parts.query)} - VIEW_ARGS)
    return re.sub(r"\d+", "N", parts.path) + "?" + "&".join(keys)


@dataclass
class Crawl:
    visited: list[str] = field(default_factory=list)
    problems: dict[str, list[str]] = field(default_factory=dict)


def crawl(
    page: Page,
    seen: Watch,
    start: list[str],
    prefixes: tuple[str, ...],
    per_shape: int = 2,
    limit: int = 150,
) -> Crawl:
    """Visit ``start`` and every same-origin GET link under ``prefixes`` reachable from it."""
    result = Crawl()
    queue = deque(start)
    queued = set(start)
    shapes: dict[str, int] = {}
    while queue and len(result.visited) < limit:
        url = queue.popleft()
        response = page.goto(url)
        page.wait_for_load_state("load")
        result.visited.append(url)
        problems = seen.take()
        if response is None or response.status >= 500:
            problems.append(f"HTTP {response.status if response else 'no response'}")
        elif "text/html" in (response.headers.get("content-type") or ""):
            raw = RAW_PAYLOAD_MARKUP.search(response.text())
            if raw:
                problems.append(f"unescaped markup in the HTML: {raw.group(0)!r}")
        if problems:
            result.problems[url] = problems
        origin = "{0.scheme}://{0.netloc}".format(urlsplit(page.url))
        links = page.locator("a[href]").evaluate_all("links => links.map(a => a.href)")
        for link in links:
            parts = urlsplit(link)
            if f"{parts.scheme}://{parts.netloc}" != origin:
                continue
            if not parts.path.startswith(prefixes) or SKIP.search(parts.path):
                continue
            target = parts.path + (f"?{parts.query}" if parts.query else "")
            key = shape(target)
            if target in queued or shapes.get(key, 0) >= per_shape:
                continue
            shapes[key] = shapes.get(key, 0) + 1
            queued.add(target)
            queue.append(target)
    return result
