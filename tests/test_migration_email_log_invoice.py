"""Revision 0024: the e-mail log names the invoice a message is about. Messages logged before
are linked by the invoice number in their subject, to the invoice of the same customer; other
messages stay unlinked; going back and forth keeps the log."""

from __future__ import annotations

from datetime import date

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from billing.invoicing.drafting import draft_invoice
from billing.invoicing.finalizing import finalize_invoice
from billing.kernel.mail import compose
from models import EmailLog, db
from tests import factories
from tests.conftest import _build, berlin
from tests.support.migrations import empty_database as empty_database_for


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request, tmp_path):
    yield from empty_database_for(request, tmp_path, "t_migration_0024")


def test_0024_links_the_messages_logged_before_to_their_invoices(empty_database, clock):
    app, ctx, _db = _build(empty_database, clock)
    try:
        upgrade()
        factories.reference(app)
        clock.instant = berlin(2026, 9, 1, 9, 0)
        first = factories.customer(app)
        second = factories.customer(app)
        clock.instant = berlin(2026, 11, 2, 9, 0)
        invoices = {
            customer.id: finalize_invoice(
                draft_invoice(customer.id, date(2026, 10, 1), clock).id, clock
            )
            for customer in (first, second)
        }
        mine = invoices[first.id]
        sent = {
            "invoice": compose(
                "invoice",
                first.contact_email,
                "de",
                clock,
                customer_id=first.id,
                number=mine.number,
                period="Oktober 2026",
                amount="1,00 €",
                credit=False,
            ),
            "failed": compose(
                "payment_failed",
                first.contact_email,
                "en",
                clock,
                customer_id=first.id,
                number=mine.number,
                link="http://x/portal/",
            ),
            # another customer's number in this customer's log: not linked
            "foreign": compose(
                "payment_failed",
                first.contact_email,
                "en",
                clock,
                customer_id=first.id,
                number=invoices[second.id].number,
                link="http://x/portal/",
            ),
            "other": compose("test", "staff@msp.example", "en", clock),
        }
        assert mine.number in db.session.get(EmailLog, sent["invoice"].log_id).subject
        db.session.commit()

        downgrade(revision="0023")
        count = db.session.scalar(text("SELECT count(*) FROM email_log"))
        assert count == 4
        with pytest.raises(IntegrityError):
            db.session.execute(text("UPDATE email_log SET state = 'bogus'"))
        db.session.rollback()
        upgrade(revision="0024")

        linked = dict(db.session.execute(text("SELECT id, invoice_id FROM email_log")).all())
        assert linked == {
            sent["invoice"].log_id: mine.id,
            sent["failed"].log_id: mine.id,
            sent["foreign"].log_id: None,
            sent["other"].log_id: None,
        }
        db.session.rollback()
    finally:
        db.session.remove()
        db.engine.dispose()
        ctx.pop()
