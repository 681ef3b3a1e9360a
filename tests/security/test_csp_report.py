"""Content-Security-Policy violation reports (SPEC §13): every page names ``/csp-report`` as the
policy's ``report-uri``; a browser's report becomes one cleaned log line; anything else is refused
with a clear status and logs nothing; the endpoint is rate-limited per client address."""

from __future__ import annotations

import json
import logging

import pytest

from tests.support.services import wait_until

REPORT_TYPE = "application/csp-report"


def _report(**fields) -> str:
    body = {
        "document-uri": "https://msp.example/admin/customer/",
        "violated-directive": "script-src-elem",
        "effective-directive": "script-src-elem",
        "blocked-uri": "inline",
        "source-file": "https://msp.example/admin/customer/",
        "line-number": 12,
    }
    body.update(fields)
    return json.dumps({"csp-report": body})


def _violations(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "msp.csp"]


def test_every_page_names_the_report_endpoint(app, client, staff_client):
    """SPEC §13: the policy of admin, portal and sign-in pages carries ``report-uri``."""
    for response in (
        client.get("/admin/login/"),
        client.get("/portal/login"),
        staff_client.get("/admin/customer/"),
    ):
        policy = response.headers["Content-Security-Policy"]
        assert "report-uri /csp-report" in policy, policy


def test_a_browser_report_is_one_clean_log_line(client, caplog):
    """SPEC §13: the page, directive and blocked source are logged, control characters and
    overlong values defused (a report is anonymous input)."""
    caplog.set_level(logging.WARNING, logger="msp.csp")
    response = client.post(
        "/csp-report",
        data=_report(**{"blocked-uri": "https://evil.example/x.js\n\x1b[31mFAKE LOG LINE"}),
        content_type=REPORT_TYPE,
    )
    assert response.status_code == 204
    (line,) = _violations(caplog)
    assert "page=https://msp.example/admin/customer/" in line
    assert "directive=script-src-elem" in line and "line=12" in line
    assert "blocked=https://evil.example/x.js??[31mFAKE LOG LINE" in line
    assert "\n" not in line and "\x1b" not in line
    caplog.clear()
    client.post(
        "/csp-report", data=_report(**{"blocked-uri": "x" * 5000}), content_type=REPORT_TYPE
    )
    (line,) = _violations(caplog)
    assert "blocked=" + "x" * 200 + " " in line


def test_a_reporting_api_batch_logs_each_violation(client, caplog):
    """The newer Reporting API format (``application/reports+json``): one line per CSP
    violation in the batch, other report types ignored."""
    caplog.set_level(logging.WARNING, logger="msp.csp")
    batch = [
        {
            "type": "csp-violation",
            "body": {
                "documentURL": "https://msp.example/portal/",
                "effectiveDirective": "style-src-attr",
                "blockedURL": "inline",
            },
        },
        {"type": "deprecation", "body": {"id": "x"}},
        {
            "type": "csp-violation",
            "body": {"documentURL": "https://msp.example/admin/", "effectiveDirective": "img-src"},
        },
    ]
    response = client.post(
        "/csp-report", data=json.dumps(batch), content_type="application/reports+json"
    )
    assert response.status_code == 204
    lines = _violations(caplog)
    assert len(lines) == 2
    assert "page=https://msp.example/portal/ directive=style-src-attr" in lines[0]
    assert "directive=img-src" in lines[1]


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        ("not json", REPORT_TYPE, 400),
        ("{}", REPORT_TYPE, 400),
        ('{"csp-report": "text"}', REPORT_TYPE, 400),
        ("[]", "application/reports+json", 400),
        ('[{"type": "deprecation", "body": {}}]', "application/reports+json", 400),
        ("[" * 10_000 + "]" * 10_000, REPORT_TYPE, 413),
        ("[" * 5_000, REPORT_TYPE, 400),
        (b"\xff\xfe{", REPORT_TYPE, 400),
        (_report(), "text/plain", 415),
        (_report(), "application/x-www-form-urlencoded", 415),
    ],
)
def test_anything_but_a_report_is_refused_and_logs_nothing(
    client, caplog, body, content_type, status
):
    """SPEC §13: bad input gets a clear error, never a 500, and leaves no log line."""
    caplog.set_level(logging.WARNING, logger="msp.csp")
    response = client.post("/csp-report", data=body, content_type=content_type)
    assert response.status_code == status
    if status != 413:
        assert response.get_json()["error"]
    assert _violations(caplog) == []


def test_only_post_is_allowed(client):
    assert client.get("/csp-report").status_code == 405


def test_reports_are_rate_limited_per_client_address(app):
    """SPEC §13: a flood of reports from one address is cut off with 429 (``CSP_REPORT_LIMIT``);
    another address still gets through."""
    app.config["CSP_REPORT_LIMIT"] = "3 per minute"
    flood = app.test_client()
    flood.environ_base["REMOTE_ADDR"] = "203.0.113.7"
    answers = [
        flood.post("/csp-report", data=_report(), content_type=REPORT_TYPE).status_code
        for _ in range(5)
    ]
    assert answers == [204, 204, 204, 429, 429]
    other = app.test_client()
    other.environ_base["REMOTE_ADDR"] = "198.51.100.8"
    assert other.post("/csp-report", data=_report(), content_type=REPORT_TYPE).status_code == 204


@pytest.mark.browser
@pytest.mark.xdist_group("security_server")  # see test_browser.py
def test_chromium_reports_a_blocked_inline_script(page, live_server, caplog):
    """SPEC §13 end to end: an inline script slipped into a page is blocked by the policy, and
    Chromium's violation report arrives as a log line naming the page and directive."""
    caplog.set_level(logging.WARNING, logger="msp.csp")
    page.goto("/admin/login/")
    page.evaluate(
        "() => { const s = document.createElement('script');"
        " s.textContent = 'window.injected = true'; document.body.appendChild(s); }"
    )
    assert page.evaluate("() => window.injected === true") is False
    lines = wait_until(lambda: _violations(caplog), "the violation report arrives")
    assert f"page={live_server.url}/admin/login/" in lines[0]
    assert "directive=script-src" in lines[0] and "blocked=inline" in lines[0]
