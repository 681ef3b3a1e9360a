"""What a German reader must not find on a page, in an e-mail or in a PDF: the product's own
English strings, Flask-Admin's stock English strings, ISO dates and amounts with a decimal point.

The English strings come from the German catalogues themselves: the product's and the one
Flask-Admin ships for its own domain (``flask_admin/translations/de``). Every msgid whose German
text differs is cut at its placeholders into the pieces a page shows verbatim. Pieces that a
German text uses as well ("Filter", "Stripe"), that are too short to mean anything or that name
a thing the same way in both languages are left out, so a hit is English a German reader sees.
Flask-Admin's strings are short button and menu words ("Save", "Edit", "List"), so for them one
word of two letters counts.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import flask_admin.translations
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE = ROOT / "translations" / "de" / "LC_MESSAGES" / "messages.po"
STOCK_CATALOGUE = Path(flask_admin.translations.__path__[0]) / "de" / "LC_MESSAGES" / "admin.po"

# Words German uses as they are, or too ambiguous to count as English on a German page.
AMBIGUOUS = frozenset({"OK", "E-Mail", "Name", "Status"})
MIN_PHRASE = 5  # characters of a one-word piece; shorter ones read the same in many languages
MIN_STOCK_PHRASE = 2  # Flask-Admin's: its one-word buttons ("Save", "Edit", "New") count
PLACEHOLDER = re.compile(r"%\(\w+\)[sdfr]|%[sdfr]|\{\w*\}")
TAG = re.compile(r"<[^>]+>")

ISO_DATE = re.compile(r"(?<![\w-])\d{4}-\d{2}-\d{2}(?![\w-])")
ISO_MONTH = re.compile(r"(?<![\w-])20\d{2}-(?:0[1-9]|1[0-2])(?![\w-])")
MONTHS_EN = (
    "January|February|March|April|May|June|July|August|September|October|November|December|"
    "Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec"
)
ENGLISH_DATE = re.compile(rf"\b(?:{MONTHS_EN})\.? \d{{1,2}}, \d{{4}}\b")
# "257.00 €", "€257.00", "EUR 1,234.50", "4.5000" (a unit price): a point before one, two or four
# digits at the end of a number that is no version, date or address (1.2.3, 15.11.2026,
# 10.0.0.1); three digits after a point are German thousands ("1.234 IPs")
DECIMAL_POINT = re.compile(r"(?<![\d.])\d+(?:,\d{3})*\.(?:\d{1,2}|\d{4})(?![\d.])")


# e-mail addresses and links: names of places, in no language
ADDRESS = re.compile(r"\S+@\S+\.\w+|https?://\S+|/(?:admin|portal)/\S*")


@dataclass(frozen=True)
class Finding:
    kind: str  # "english", "iso-date", "iso-month", "english-date", "decimal-point"
    text: str
    context: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.text!r} in …{self.context}…"


def _pieces(msgid: str) -> list[str]:
    text = " ".join(TAG.sub(" ", msgid).split())
    return [piece.strip(" .,:;!?()[]\"'\\–-→…/") for piece in PLACEHOLDER.split(text)]


def _words_of(text: str) -> set[str]:
    """The words of ``text``, compounds also in their parts ("Managed-Service")."""
    words = set(re.findall(r"[\w-]+", text))
    return words | {part for word in words for part in word.split("-")}


def _translated(path: Path) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    """The (msgids, German texts) of catalogue ``path`` that have a German text."""
    with path.open("rb") as handle:
        catalogue = read_po(handle, locale="de")
    messages = []
    for message in catalogue:
        if not message.id or not message.string:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if any(strings):
            messages.append((ids, strings))
    return messages


def _german_text(*catalogues) -> str:
    return "\n".join(
        " ".join(TAG.sub(" ", text).split())
        for messages in catalogues
        for _ids, strings in messages
        for text in strings
    )


def _english_pieces(messages, german: str, shortest: int) -> list[str]:
    """The pieces of ``messages``' English msgids that are not German as well (``german``: the
    German texts they are compared with)."""
    german_words = _words_of(german)
    candidates = set()
    for ids, strings in messages:
        if set(ids) & set(strings):
            continue  # the same in both languages
        for msgid in ids:
            candidates.update(_pieces(msgid))
    phrases = []
    for piece in candidates:
        words = piece.split()
        if not words or piece in AMBIGUOUS or not re.search(r"[A-Za-z]{2}", piece):
            continue
        if len(words) == 1 and (len(piece) < shortest or piece in german_words):
            continue
        if len(words) > 1 and re.search(rf"(?<!\w){re.escape(piece)}(?!\w)", german):
            continue  # a German text quotes it (a product or brand name)
        if all(word in german_words or word in AMBIGUOUS for word in words):
            continue  # every word of it is German, too ("Partner Team")
        phrases.append(piece)
    return phrases


@functools.cache
def english_phrases() -> tuple[str, ...]:
    """The pieces of the product's and Flask-Admin's English msgids that a German page must not
    show. Flask-Admin's are compared with both German catalogues (the product's German may use a
    stock word), the product's with its own, as the product's sweep always has."""
    product, stock = _translated(CATALOGUE), _translated(STOCK_CATALOGUE)
    phrases = {
        *_english_pieces(product, _german_text(product), MIN_PHRASE),
        *_english_pieces(stock, _german_text(product, stock), MIN_STOCK_PHRASE),
    }
    # the longest first, so a report names the whole sentence rather than its last word
    return tuple(sorted(phrases, key=len, reverse=True))


VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}
)
BLOCKS = frozenset(
    {"br", "p", "div", "li", "td", "th", "tr", "option", "h1", "h2", "h3", "h4", "h5", "dt", "dd"}
)


def _filter_groups(groups: dict) -> list[str]:
    """Flask-Admin's filter menu: each filter's name, its operations ("equals", "between") and
    the labels of its options."""
    shown = list(groups)
    for filters in groups.values():
        for flt in filters:
            shown.append(flt["operation"])
            shown.extend(label for _value, label in flt["options"] or ())
    return shown


def _date_picker(texts: dict) -> list[str]:
    """The date and time pickers' buttons, range labels and names of days and months."""
    labels = ("applyLabel", "cancelLabel", "fromLabel", "toLabel")
    return [*(texts[label] for label in labels), *texts["daysOfWeek"], *texts["monthNames"]]


#: What Flask-Admin's scripts show of the JSON it leaves in ``<div id="…-data" class="d-none">``:
#: the filter menu, the names of the active filters (their values are typed data), the
#: confirmation question of each bulk action and the "select a record first" message; and what
#: the date pickers show (``date-picker-data``, admin/msp_base.html, read by static/msp.js).
SCRIPT_DATA = {
    "date-picker-data": _date_picker,
    "filter-groups-data": _filter_groups,
    "active-filters-data": lambda active: [name for _index, name, _value in active],
    "actions-confirmation-data": lambda questions: list(questions.values()),
    "message-data": lambda message: [message],
}


class VisibleText(HTMLParser):
    """The text a reader sees: element text, the title, button labels, the attributes a browser
    shows (placeholder, title, alt, aria-label; data-confirm, the question static/msp.js asks
    before a button's form is sent) and the texts Flask-Admin's scripts show from their data
    (``SCRIPT_DATA``). Left out: scripts and styles, data in inputs (a date input's value among
    them), other data for scripts (hidden by an inline ``display: none``, or in a
    ``<div id="…-data" class="d-none">``), machine words (``<code>``, ``<kbd>``, ``<samp>``,
    ``translate="no"``: a raw record, an event code) and text marked as another language
    (``lang="en"``: the subject of an e-mail sent in English)."""

    SHOWN_ATTRIBUTES = ("placeholder", "title", "alt", "aria-label", "data-confirm")
    SKIP = frozenset({"script", "style", "noscript", "template", "code", "kbd", "samp"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._open: list[str] = []  # the open elements, outermost first
        self._skip_at: int | None = None  # where in ``_open`` the left-out subtree starts
        self._script_data: tuple[str, list[str]] | None = None  # (id, text) of a SCRIPT_DATA div

    def _skipped(self, tag: str, values: dict) -> bool:
        style = values.get("style", "").replace(" ", "").lower()
        lang = values.get("lang", "")
        return (
            tag in self.SKIP
            or values.get("translate") == "no"
            or "display:none" in style
            or (values.get("id", "").endswith("-data") and "d-none" in values.get("class", ""))
            or (tag != "html" and lang and not lang.startswith("de"))
        )

    def handle_starttag(self, tag, attrs):
        values = {name: value or "" for name, value in attrs}
        if self._skip_at is None and tag not in VOID and self._skipped(tag, values):
            self._skip_at = len(self._open)
            if values.get("id") in SCRIPT_DATA:
                self._script_data = (values["id"], [])
        if tag not in VOID:
            self._open.append(tag)
        if self._skip_at is not None:
            return
        for name in self.SHOWN_ATTRIBUTES:
            if values.get(name):
                self.parts.append(f"\n{values[name]}\n")
        if tag == "input" and values.get("type") in ("submit", "button", "reset"):
            self.parts.append(f"\n{values.get('value', '')}\n")
        if tag in BLOCKS:
            self.parts.append("\n")

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag):
        if tag in VOID or tag not in self._open:
            return
        # an end tag closes what HTML lets stay open inside it (<li>, <p>)
        while self._open.pop() != tag:
            pass
        if self._skip_at is not None:
            if len(self._open) <= self._skip_at:
                self._skip_at = None
                self._shown_script_data()
            return
        if tag in BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data):
        if self._skip_at is None:
            self.parts.append(data)
        elif self._script_data is not None:
            self._script_data[1].append(data)

    def _shown_script_data(self) -> None:
        if self._script_data is None:
            return
        name, data = self._script_data
        self._script_data = None
        for text in SCRIPT_DATA[name](json.loads("".join(data))):
            self.parts.append(f"\n{text}\n")

    def text(self) -> str:
        lines = (" ".join(line.split()) for line in "".join(self.parts).splitlines())
        return "\n".join(line for line in lines if line)


def visible_text(html: str) -> str:
    parser = VisibleText()
    parser.feed(html)
    parser.close()
    return parser.text()


def _context(text: str, start: int, end: int) -> str:
    return " ".join(text[max(0, start - 40) : end + 40].split())


def findings(text: str, allowed: tuple[str, ...] = ()) -> list[Finding]:
    """What a German reader must not find in ``text`` (visible text, one line per block);
    ``allowed`` holds data of the page (a customer's name) that may contain anything."""
    for value in allowed:
        text = text.replace(value, " ")
    text = ADDRESS.sub(" ", text)
    found = []
    for pattern, kind in (
        (ISO_DATE, "iso-date"),
        (ISO_MONTH, "iso-month"),
        (ENGLISH_DATE, "english-date"),
        (DECIMAL_POINT, "decimal-point"),
    ):
        for match in pattern.finditer(text):
            found.append(Finding(kind, match.group(0), _context(text, *match.span())))
    claimed: list[tuple[int, int]] = []
    for phrase in english_phrases():
        start = text.find(phrase)
        while start != -1:
            end = start + len(phrase)
            bounded = (start == 0 or not text[start - 1].isalnum()) and (
                end == len(text) or not text[end].isalnum()
            )
            if bounded and not any(a <= start and end <= b for a, b in claimed):
                claimed.append((start, end))
                found.append(Finding("english", phrase, _context(text, start, end)))
                break
            start = text.find(phrase, start + 1)
    return found
