"""Every user-facing string exists in English and German (SPEC §0, §13 i18n)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[1]
CATALOGUE = ROOT / "translations" / "de" / "LC_MESSAGES" / "messages.po"


def _extract(tmp_path) -> set[str]:
    target = tmp_path / "messages.pot"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "babel.messages.frontend",
            "extract",
            "-F",
            "babel.cfg",
            "-k",
            "lazy_gettext",
            "--no-location",
            "--ignore-dirs=.venv migrations tests bench",
            "-o",
            str(target),
            ".",
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    with target.open("rb") as handle:
        return {m.id for m in read_po(handle) if m.id}


def test_every_message_of_the_code_has_a_german_translation(tmp_path):
    with CATALOGUE.open("rb") as handle:
        catalogue = read_po(handle, locale="de")
    translated = {m.id for m in catalogue if m.id and m.string and "fuzzy" not in m.flags}
    missing = sorted(str(m) for m in _extract(tmp_path) - translated)
    assert missing == [], f"run `make i18n-update` and translate: {missing}"


def test_german_placeholders_match_the_english_ones():
    import re

    with CATALOGUE.open("rb") as handle:
        catalogue = read_po(handle, locale="de")
    for message in catalogue:
        if not (message.id and message.string):
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        expected = set(re.findall(r"%\(\w+\)\w", ids[-1]))
        for string in strings:
            assert set(re.findall(r"%\(\w+\)\w", string)) == expected, message.id


def test_domain_messages_follow_the_request_language(app):
    from billing.access.staff import normalise_email
    from billing.kernel.errors import DomainError

    with app.test_request_context(headers={"Accept-Language": "de"}):
        try:
            normalise_email("broken")
        except DomainError as error:
            assert error.message == "Bitte geben Sie eine gültige E-Mail-Adresse ein."


def test_every_email_exists_in_both_languages_as_text_and_html(app):
    """SPEC §7: every e-mail rendered in the recipient's language, text + HTML."""
    from billing.kernel.clock import FixedClock
    from billing.kernel.mail import TEMPLATES, compose

    clock = FixedClock(app.config["CLOCK"].now())
    context = dict(
        name="Ann",
        company="ACME",
        email="ann@acme.example",
        product="MSP Billing",
        link="https://x/portal/invite/t",
        expires="01.01.2027",
        sender="ops@msp",
        final_invoice=True,
        service_end="30.11.2026",
        subject="Maintenance on Saturday",
        message="We update the scanners.",
    )
    subjects = {}
    with app.test_request_context():
        for template in TEMPLATES:
            for language in ("en", "de"):
                message = compose(template, "ann@acme.example", language, clock, **context)
                assert message.subject and message.text.strip() and "<p>" in message.html
                assert "{{" not in message.text + message.html
                subjects[(template, language)] = message.subject
            if template != "staff_message":  # its subject is the staff member's own words
                assert subjects[(template, "en")] != subjects[(template, "de")], template


def _menu_names(app) -> set[str]:
    """The English names (message ids) of the admin's menu categories and screens."""
    views = app.extensions["admin"][0]._views
    names = {view.name for view in views} | {view.category for view in views if view.category}
    return {str(getattr(name, "_args", (name,))[0]) for name in names}


def test_german_texts_name_the_menus_as_the_german_menu_does(app):
    """Issue 16: a German text that shows the way to a screen ("Abrechnung → Rechnungen") names
    each menu as the German menu shows it, never by its English name ("Billing → …")."""
    import re

    with CATALOGUE.open("rb") as handle:
        catalogue = read_po(handle, locale="de")
    german = {m.id: m.string for m in catalogue if isinstance(m.id, str) and m.string}
    english = [name for name in _menu_names(app) if german.get(name, name) != name]
    assert "Billing" in english and "Invoices" in english
    for message in catalogue:
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        for string, name in ((s, n) for s in strings if "→" in s for n in english):
            path = rf"(?<![\w-]){re.escape(name)} →|→ {re.escape(name)}(?![\w-])"
            assert not re.search(path, string), f"{name!r} in {string!r}"
