"""Same-origin crawlers. For the browser security tests: one follows every GET link under the
given prefixes (one or two pages per URL shape), and records what a user's browser would
complain about: console errors (Content-Security-Policy violations among them), uncaught page
errors, failed requests and any JavaScript dialog (an injected ``alert``). For the fuzz tests:
``crawl_client`` walks the pages with a Flask test client and collects their forms and the query
arguments their links send."""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import parse_qsl, urljoin, urlsplit

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


# The same walk without a browser, for the fuzz tests: a Flask test client GETs every page a
# visitor reaches, keeping each page's POST forms (with their fields and CSRF token) and the
# query arguments its links and GET forms use.


@dataclass
class Field:
    tag: str
    name: str
    kind: str = "text"
    value: str = ""
    options: list[str] = field(default_factory=list)


@dataclass
class Form:
    page: str
    action: str
    fields: list[Field] = field(default_factory=list)
    multipart: bool = False
    method: str = "post"

    @property
    def signature(self) -> tuple:
        return (pattern(self.action), tuple(sorted({f.name for f in self.fields})))


class PageParser(HTMLParser):
    """The links and the forms (POST and GET) of one page."""

    def __init__(self, url: str) -> None:
        super().__init__(convert_charrefs=True)
        self.url = url
        self.links: list[str] = []
        self.forms: list[Form] = []
        self._form: Form | None = None
        self._select: Field | None = None
        self._textarea: Field | None = None

    def handle_starttag(self, tag, attrs):
        a = {k: (v or "") for k, v in attrs}
        if tag == "a" and a.get("href"):
            self.links.append(urljoin(self.url, a["href"]))
        elif tag == "form":
            action = urljoin(self.url, a.get("action") or self.url)
            multipart = "multipart" in a.get("enctype", "")
            method = "post" if a.get("method", "get").lower() == "post" else "get"
            self._form = Form(self.url, action, multipart=multipart, method=method)
            self.forms.append(self._form)
        elif self._form is None:
            return
        elif tag in ("input", "button") and a.get("name"):
            kind = a.get("type", "text" if tag == "input" else "submit").lower()
            self._form.fields.append(Field(tag, a["name"], kind, a.get("value", "")))
        elif tag == "select" and a.get("name"):
            self._select = Field("select", a["name"], "select")
            self._form.fields.append(self._select)
        elif tag == "option" and self._select is not None:
            self._select.options.append(a.get("value", ""))
        elif tag == "textarea" and a.get("name"):
            self._textarea = Field("textarea", a["name"], "textarea")
            self._form.fields.append(self._textarea)

    def handle_data(self, data):
        if self._textarea is not None:
            self._textarea.value += data

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None


def local_path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def pattern(url: str) -> str:
    """A URL with its ids replaced and only the names of its query arguments."""
    parts = urlsplit(url)
    keys = sorted({q.split("=")[0] for q in parts.query.split("&") if q})
    return re.sub(r"/\d+", "/N", parts.path) + "?" + "&".join(keys)


@dataclass
class Site:
    """What a client crawl found: the distinct POST forms, every URL it GET (in order) and, per
    path, the names of the query arguments that links and GET forms send to it."""

    forms: list[Form] = field(default_factory=list)
    pages: list[str] = field(default_factory=list)
    arguments: dict[str, set[str]] = field(default_factory=dict)


def crawl_client(
    client,
    starts: list[str],
    area: str,
    max_pages: int,
    skip_links: re.Pattern,
    skip_forms: re.Pattern,
    per_pattern: int = 1,
) -> Site:
    """GET every page under ``area`` reachable from ``starts`` (at most ``per_pattern`` of
    each URL shape, ``max_pages`` in all, no link matching ``skip_links``); keep the POST forms
    whose action does not match ``skip_forms``."""
    site, queue, forms, patterns = Site(), list(starts), {}, {}
    while queue and len(site.pages) < max_pages:
        url = local_path(queue.pop(0))
        shape_of_url = pattern(url)
        if url in site.pages or patterns.get(shape_of_url, 0) >= per_pattern:
            continue
        site.pages.append(url)
        patterns[shape_of_url] = patterns.get(shape_of_url, 0) + 1
        response = client.get(url)
        assert response.status_code < 500, f"GET {url}: {response.status_code}"
        if response.status_code != 200 or "html" not in response.content_type:
            continue
        parser = PageParser("http://localhost" + url)
        parser.feed(response.get_data(as_text=True))
        for form in parser.forms:
            if form.method == "get":
                names = {f.name for f in form.fields if f.kind != "submit" or f.value}
                site.arguments.setdefault(urlsplit(form.action).path, set()).update(names)
            elif not skip_forms.search(form.action):
                forms.setdefault(form.signature, form)
        for link in parser.links:
            parts = urlsplit(link)
            if parts.netloc in ("", "localhost") and parts.path.startswith(area):
                keys = {key for key, _value in parse_qsl(parts.query, keep_blank_values=True)}
                site.arguments.setdefault(parts.path, set()).update(keys)
                if not skip_links.search(link):
                    queue.append(link)
    site.forms = list(forms.values())
    return site
