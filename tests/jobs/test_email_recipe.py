"""The recipe of docs/development.md "Add an e-mail", performed on a throwaway e-mail: the
portal link a user asks for. Its templates (English and German, between the shared greeting and
signature) are written to a folder of the test's own in front of the app's templates, its name
joins ``billing.kernel.mail.TEMPLATES``, its compose function is the recipe's, and it goes the
product's way: a budget per address, the e-mail log, the ``mail`` queue with retries, a worker
that delivers it over SMTP, and the demo mailbox where it can be read."""

from __future__ import annotations

import re

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox
from jinja2 import ChoiceLoader, FileSystemLoader
from redis import Redis
from rq import Queue, SimpleWorker

from billing.customers import lookup
from billing.customers.accounts import get_user, recipient_language
from billing.kernel import mail, mail_limits
from billing.kernel.audit import SYSTEM, Actor
from billing.kernel.clock import Clock
from billing.kernel.mail import Outgoing, compose, save_mail_settings
from billing.kernel.site import Site
from jobs import Worker
from jobs.mail import send
from models import EmailLog, db
from tests import factories
from tests.conftest import _build, _sqlite_url, csrf_token, make_staff, sign_in
from tests.support.services import free_port

# step 1: the templates, one set per language (the German text is written in the de/ files)
TEMPLATES = {
    "en/portal_link.subject.txt": "Your link to the {{ product }} customer portal",
    "en/portal_link.txt": """{% include "email/_greeting.txt" %}

here is the link to the customer portal of {{ company }}:

{{ link }}

{% include "email/_signature.txt" %}
""",
    "en/portal_link.html": """{% extends "email/base.html" %}{% set lang = "en" %}\
{% set footer = "You receive this e-mail because you asked for it." %}
{% block content %}
{% include "email/_greeting.html" %}
<p>here is the link to the customer portal of {{ company }}:</p>
<p><a href="{{ link }}">{{ link }}</a></p>
{% include "email/_signature.html" %}
{% endblock %}
""",
    "de/portal_link.subject.txt": "Ihr Link zum Kundenportal von {{ product }}",
    "de/portal_link.txt": """{% include "email/_greeting.txt" %}

hier ist der Link zum Kundenportal von {{ company }}:

{{ link }}

{% include "email/_signature.txt" %}
""",
    "de/portal_link.html": """{% extends "email/base.html" %}{% set lang = "de" %}\
{% set footer = "Sie erhalten diese E-Mail, weil Sie sie angefordert haben." %}
{% block content %}
{% include "email/_greeting.html" %}
<p>hier ist der Link zum Kundenportal von {{ company }}:</p>
<p><a href="{{ link }}">{{ link }}</a></p>
{% include "email/_signature.html" %}
{% endblock %}
""",
}


class InProcessWorker(SimpleWorker, Worker):
    """The product's worker (``jobs.Worker``), running each job in this process: where the
    test's app and templates are."""


# step 3: an e-mail with a link anyone may ask for spends a budget first
PORTAL_LINK = mail_limits.Budget("portal_link", "2 per hour")


def portal_link_message(user_id: int, actor: Actor, clock: Clock, site: Site = Site()) -> Outgoing:
    """The e-mail with the portal's sign-in link, to user ``user_id`` in their language.
    Raises TooManyMails when the address had its two links this hour."""
    user = get_user(user_id)
    mail_limits.spend(PORTAL_LINK, user.email, mail_limits.account_of(actor, user.customer_id))
    return compose(
        "portal_link",
        user.email,
        recipient_language(user),
        clock,
        customer_id=user.customer_id,
        name=user.name,
        company=user.customer.company_name,
        link=f"{site.public_url}/portal/login",
    )


@pytest.fixture
def recipe_app(sqlite_template, tmp_path, clock, redis_server, monkeypatch):
    """An app with a mail sink that keeps a Maildir (as `make run` starts one) and the demo
    mailbox reading it, the templates of step 1 and the name of step 2."""
    maildir = tmp_path / "maildir"
    sink = Controller(Mailbox(str(maildir)), hostname="127.0.0.1", port=free_port())
    sink.start()
    app, ctx, _db = _build(
        _sqlite_url(sqlite_template, tmp_path),
        clock,
        MAIL_SINK_MAILDIR=str(maildir),
        REDIS_URL=redis_server.url,
    )
    for name, text in TEMPLATES.items():
        path = tmp_path / "templates" / "email" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    loader = ChoiceLoader([FileSystemLoader(tmp_path / "templates"), app.jinja_env.loader])
    monkeypatch.setattr(app.jinja_env, "loader", loader)
    # step 2: the name joins the product's e-mails
    monkeypatch.setattr(mail, "TEMPLATES", (*mail.TEMPLATES, "portal_link"))
    save_mail_settings(
        "127.0.0.1", sink.port, "none", "", "", "", "billing@msp.example", SYSTEM, clock
    )
    yield app
    db.session.remove()
    db.engine.dispose()
    ctx.pop()
    sink.stop()


def _main_user(app, language: str) -> tuple[int, str, Actor]:
    """(id, name, actor) of a registered main user reading ``language``."""
    customer = factories.customer(app, state="registered", language=language)
    user = lookup.main_user(customer.id)
    return user.id, user.name, Actor.user(user)


def test_recipe_add_an_email(recipe_app):
    clock = recipe_app.config["CLOCK"]
    site = Site.of(recipe_app.config)
    (ann, ann_name, as_ann), (bernd, bernd_name, as_bernd) = (
        _main_user(recipe_app, "en"),
        _main_user(recipe_app, "de"),
    )
    with recipe_app.test_request_context():
        english = portal_link_message(ann, as_ann, clock, site)
        german = portal_link_message(bernd, as_bernd, clock, site)

    # composed in the recipient's language, greeted by name, signed from the settings
    assert english.subject == "Your link to the MSP Billing customer portal"
    assert english.text.splitlines()[0] == f"Hello {ann_name},"
    assert english.text.splitlines()[-2:] == ["Kind regards", "MSP Billing"]
    assert german.subject == "Ihr Link zum Kundenportal von MSP Billing"
    assert german.text.splitlines()[0] == f"Guten Tag {bernd_name},"
    assert german.text.splitlines()[-2:] == ["Mit freundlichen Grüßen", "MSP Billing"]
    assert f"{site.public_url}/portal/login" in german.text
    logged = db.session.scalars(db.select(EmailLog).order_by(EmailLog.id)).all()
    assert [(log.template, log.language, log.state) for log in logged] == [
        ("portal_link", "en", "queued"),
        ("portal_link", "de", "queued"),
    ]

    # step 4: queued on the mail queue with retries, delivered by a worker
    assert send(english) and send(german)
    connection = Redis.from_url(recipe_app.config["REDIS_URL"])
    queue = Queue("mail", connection=connection)
    assert [job.retries_left for job in queue.jobs] == [3, 3]
    InProcessWorker([queue], connection=connection).work(burst=True, with_scheduler=False)
    db.session.expire_all()
    assert [log.state for log in db.session.scalars(db.select(EmailLog))] == ["sent", "sent"]

    # the budget of the address: two links an hour, then a clear refusal
    with recipe_app.test_request_context():
        portal_link_message(ann, as_ann, clock, site)
        with pytest.raises(mail_limits.TooManyMails, match="Please try again in"):
            portal_link_message(ann, as_ann, clock, site)

    # step 6: the demo mailbox shows both
    make_staff(recipe_app, "admin")
    client = recipe_app.test_client()
    sign_in(client, "admin@staff.example")
    client.token = csrf_token(client, "/admin/")
    page = client.get("/admin/mail-sink/").get_data(as_text=True)
    assert "Your link to the MSP Billing customer portal" in page
    assert "Ihr Link zum Kundenportal von MSP Billing" in page
    [key] = re.findall(r'<tr data-key="([^"]+)">(?:(?!</tr>).)*Kundenportal', page, re.S)
    shown = client.get(f"/admin/mail-sink/{key}/").get_data(as_text=True)
    assert f"Guten Tag {bernd_name}," in shown and "Mit freundlichen Grüßen" in shown
