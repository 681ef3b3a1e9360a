"""Random sequences of what staff, the calendar and Stripe do to subscriptions, checked against an
independent model (SPEC §4 IP Distribution, Cancel, Reactivate; SPEC §5 pricing; SPEC §8
month-end; SPEC §6 webhooks).

A hypothesis state machine changes IP counts (increases instantly or scheduled, decreases,
re-splits), cancels, reactivates, lets days pass, closes months with ``billing.invoicing.monthend``
on the
injectable clock, runs a closed month again, and replays Stripe webhooks (signed, as Stripe
sends them; the card customer's invoices are charged at the local Stripe server). After every
step:

* at most one active subscription per customer and at most one pending change;
* at most one invoice per customer and month, every amount ≥ 0, gross = net + VAT;
* each closed month's invoice net equals the model's price, computed here from the tier table
  (graduated: the IPs in each range times its unit price) and the SPEC's rules for the booking
  month (in full; from the start day; an immediate increase adds the price difference for the
  remaining days; a decrease or a scheduled increase waits for the 1st; a cancelled month is
  billed in full);
* a paid invoice stays paid, whatever webhooks arrive again.

Examples per run: ``FUZZ_EXAMPLES`` (default 6) with ``FUZZ_STEPS`` steps each (default 25).
"""

from __future__ import annotations

import calendar
import hashlib
import hmac
import json
import os
import shutil
import time
import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import text

from billing.customers.lifecycle import cancel_subscription
from billing.invoicing import monthend, monthend_work
from billing.invoicing.monthend_work import Hooks
from billing.kernel.audit import SYSTEM
from billing.kernel.errors import DomainError
from billing.payments import card_charges, stripe_account, stripe_cards, stripe_webhooks
from billing.subscriptions.distribution import change_ip_distribution
from models import BillingRun, Invoice, PaymentAttempt, db
from tests import factories
from tests.conftest import _build, berlin

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "6"))
STEPS = int(os.environ.get("FUZZ_STEPS", "25"))
WEBHOOK_SECRET = "whsec_fuzz_secret"
CENT = Decimal("0.01")
CUSTOMERS = ("card", "invoice")


def cents(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def reference_price(total: int, tiers: list[tuple[int, int | None, Decimal]]) -> Decimal:
    """SPEC §5: the sum over the ranges needed to reach ``total`` of (IPs in range × price)."""
    amount = Decimal(0)
    for lower, upper, unit in tiers:
        top = total if upper is None else min(total, upper)
        if top >= lower:
            amount += (top - lower + 1) * unit
    return cents(amount)


def last_day(day: date) -> date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


@dataclass
class Entry:
    """One subscription's share of the booking month, as the SPEC prices it."""

    start: date
    total: int
    base: Decimal | None = None  # the replaced subscription's price (an immediate increase)

    def amount(self, price) -> Decimal:
        last = last_day(self.start)
        share = Decimal((last - self.start).days + 1)
        days = Decimal(last.day)
        if self.base is None:
            return cents(price(self.total) * share / days)
        return cents((price(self.total) - self.base) * share / days)


@dataclass
class Model:
    """What the model expects of one customer."""

    active: int | None = None  # total IPs of the active subscription
    started: date | None = None  # its first day
    pending: int | None = None  # total IPs scheduled for the 1st of next month
    current: Entry | None = None  # the active subscription's share of this month
    closed: list[Entry] = field(default_factory=list)  # shares already fixed this month


def _signed(payload: bytes) -> str:
    stamp = int(time.time())
    mac = hmac.new(
        WEBHOOK_SECRET.encode(), f"{stamp}.".encode() + payload, hashlib.sha256
    ).hexdigest()
    return f"t={stamp},v1={mac}"


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_subscriptions_under_random_operations_match_the_reference(
    sqlite_template, tmp_path, localstripe
):
    """SPEC §4/§5/§6/§8: the invariants above hold after every step of random sequences."""

    class Subscriptions(RuleBasedStateMachine):
        @initialize()
        def start(self):
            path = tmp_path / f"fuzz-{uuid.uuid4().hex}.db"
            shutil.copy(sqlite_template, path)
            self.clock = _clock()
            self.app, self.ctx, _db = _build(
                f"sqlite:///{path}", self.clock, STRIPE_API_BASE=localstripe.url
            )
            factories.reference(self.app)
            self.tiers = [
                (r.lower_bound, r.upper_bound, Decimal(str(r.unit_price)))
                for r in db.session.execute(
                    text("SELECT lower_bound, upper_bound, unit_price FROM price_tier")
                ).all()
            ]
            stripe_account.save_stripe_keys(
                "sk_test_fuzz12345", "pk_test_fuzz12345", SYSTEM, self.clock
            )
            stripe_account.save_webhook_secret(WEBHOOK_SECRET, SYSTEM, self.clock)
            self.ids, self.models = {}, {}
            for name in CUSTOMERS:
                customer = factories.customer(self.app, payment=name, internal=8, external=2)
                if name == "card":
                    stripe_cards.attach_card(customer.id, "pm_card_visa")
                self.ids[name] = customer.id
                today = self.clock.today()
                self.models[name] = Model(10, today, None, Entry(today, 10))
            self.expected: dict[tuple[int, date], Decimal] = {}
            self.paid: set[int] = set()

        def teardown(self):
            if hasattr(self, "ctx"):
                db.session.remove()
                db.engine.dispose()
                self.ctx.pop()

        def price(self, total: int) -> Decimal:
            return reference_price(total, self.tiers)

        # --- what staff do ------------------------------------------------------------------

        @rule(
            name=st.sampled_from(CUSTOMERS),
            internal=st.integers(0, 300),
            external=st.integers(0, 80),
            instantly=st.booleans(),
        )
        def change_ips(self, name, internal, external, instantly):
            model = self.models[name]
            total = internal + external
            today = self.clock.today()
            try:
                change_ip_distribution(
                    self.ids[name], internal, external, instantly, SYSTEM, self.clock
                )
            except DomainError:
                refused = total < 1 or (
                    model.active is not None and total < model.active and instantly
                )
                assert refused, f"refused: {name} {internal}+{external} instantly={instantly}"
                return
            assert total >= 1
            if model.active is None:  # reactivation: a new subscription from today
                model.active, model.started = total, today
                model.current = Entry(today, total)
            elif total == model.active:  # a re-split applies at once, same price
                pass
            elif total > model.active and instantly:
                if model.started < today:  # replaced from today: the difference, pro rata
                    model.closed.append(model.current)
                    model.current = Entry(today, total, self.price(model.active))
                    model.started = today
                else:  # began today: it simply has the new count
                    model.current.total = total
                model.active = total
                model.pending = None
            else:  # a decrease, or an increase that waits: the 1st of next month
                model.pending = total

        @rule(name=st.sampled_from(CUSTOMERS))
        def cancel(self, name):
            model = self.models[name]
            try:
                cancel_subscription(self.ids[name], SYSTEM, self.clock)
            except DomainError:
                assert model.active is None, "cancelling an active subscription was refused"
                return
            assert model.active is not None, "cancelled without an active subscription"
            model.closed.append(model.current)  # billed to the end of the month
            model.active = model.started = model.current = model.pending = None

        # --- what the calendar does ---------------------------------------------------------

        @rule(days=st.integers(1, 20))
        def days_pass(self, days):
            today = self.clock.today()
            target = min(today + timedelta(days=days), last_day(today))
            self.clock.instant = self.clock.instant + timedelta(days=(target - today).days)

        @rule()
        def month_end(self):
            """The 1st, 00:30: the run for the month that ended, finalized automatically."""
            month = self.clock.today().replace(day=1)
            following = last_day(month) + timedelta(days=1)
            self.clock.instant = berlin(following.year, following.month, 1, 0, 30)
            run_id = monthend.start_run(month, SYSTEM, self.clock, auto_finalize=True).run_id
            state = monthend_work.work(
                run_id, self.clock, Hooks(charge=card_charges.charge_invoice)
            )
            assert state == "done"
            for name, model in self.models.items():
                shares = [*model.closed, *([model.current] if model.current else [])]
                net = sum((e.amount(self.price) for e in shares), Decimal(0))
                self.expected[(self.ids[name], month)] = net
                model.closed = []
                if model.pending is not None:
                    model.active, model.started, model.pending = model.pending, following, None
                model.current = Entry(following, model.active) if model.active else None
            self.paid |= set(
                db.session.scalars(db.select(Invoice.id).where(Invoice.state == "paid"))
            )

        @precondition(lambda self: bool(getattr(self, "expected", None)))
        @rule()
        def month_end_again(self):
            """Running a closed month again creates and charges nothing new."""
            month = max(period for _cid, period in self.expected)
            before = self._invoices()
            with pytest.raises(DomainError):
                monthend.start_run(month, SYSTEM, self.clock)
            run = db.session.scalar(db.select(BillingRun).where(BillingRun.period == month))
            monthend_work.work(run.id, self.clock, Hooks(charge=card_charges.charge_invoice))
            assert self._invoices() == before

        # --- what Stripe does ---------------------------------------------------------------

        @precondition(lambda self: bool(getattr(self, "paid", None)))
        @rule(
            succeeded=st.booleans(),
            same_event=st.booleans(),
            pick=st.integers(0, 1000),
        )
        def webhook_replay(self, succeeded, same_event, pick):
            """Stripe sends an event about a charge again (or a late failure after success)."""
            attempts = db.session.scalars(
                db.select(PaymentAttempt).where(PaymentAttempt.payment_intent_id.is_not(None))
            ).all()
            attempt = attempts[pick % len(attempts)]
            before = self._invoices()
            kind = "payment_intent.succeeded" if succeeded else "payment_intent.payment_failed"
            event_id = f"evt_{attempt.id}_{kind}" if same_event else f"evt_{uuid.uuid4().hex}"
            payload = json.dumps(
                {
                    "id": event_id,
                    "object": "event",
                    "type": kind,
                    "data": {
                        "object": {"id": attempt.payment_intent_id, "object": "payment_intent"}
                    },
                }
            ).encode()
            stripe_webhooks.receive_webhook(payload, _signed(payload), self.clock)
            assert self._invoices() == before, "a replayed webhook changed an invoice"

        # --- invariants ---------------------------------------------------------------------

        def _invoices(self) -> dict:
            db.session.expire_all()
            return {
                row.id: tuple(row)
                for row in db.session.execute(
                    db.select(
                        Invoice.id,
                        Invoice.customer_id,
                        Invoice.period,
                        Invoice.state,
                        Invoice.net,
                        Invoice.vat,
                        Invoice.gross,
                    )
                )
            }

        @invariant()
        def one_active_subscription_and_one_pending_change(self):
            if not hasattr(self, "ids"):
                return
            for table, state in (("subscription", "active"), ("scheduled_change", "pending")):
                assert not db.session.execute(
                    text(
                        f"SELECT customer_id FROM {table} WHERE state = :state "
                        "GROUP BY customer_id HAVING count(*) > 1"
                    ),
                    {"state": state},
                ).all(), f"more than one {state} {table}"
            for name, model in self.models.items():
                active = db.session.execute(
                    text(
                        "SELECT internal_ips + external_ips FROM subscription "
                        "WHERE customer_id = :c AND state = 'active'"
                    ),
                    {"c": self.ids[name]},
                ).scalar()
                assert active == model.active, (name, active, model)
                pending = db.session.execute(
                    text(
                        "SELECT internal_ips + external_ips FROM scheduled_change "
                        "WHERE customer_id = :c AND state = 'pending'"
                    ),
                    {"c": self.ids[name]},
                ).scalar()
                assert pending == model.pending, (name, pending, model)

        @invariant()
        def invoices_match_the_reference(self):
            if not hasattr(self, "ids"):
                return
            invoices = self._invoices()
            keys = [(cid, period) for _id, cid, period, *_rest in invoices.values()]
            assert len(keys) == len(set(keys)), "two invoices for one customer and month"
            for _id, customer_id, period, state, net, vat, gross in invoices.values():
                assert net >= 0 and vat >= 0 and gross >= 0
                assert gross == net + vat
                assert vat == cents(net * Decimal("0.19"))
                assert net == self.expected[(customer_id, period)], (customer_id, period)
            billed = {k for k, v in self.expected.items() if v > 0}
            assert set(keys) == billed, "an invoice for every billed month, no other"
            for invoice_id in self.paid:
                assert invoices[invoice_id][3] == "paid", "a paid invoice changed its state"

    run_state_machine_as_test(
        Subscriptions,
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=STEPS,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        ),
    )


def _clock():
    from billing.kernel.clock import FixedClock

    return FixedClock(berlin(2026, 1, 12, 10, 0))


def test_an_immediate_increase_withdraws_the_pending_change_also_on_the_first_day(app, clock):
    """SPEC §4 IP Distribution (found by the state machine): a subscription that began today is
    raised at once; the change that waited for the 1st would otherwise undo the rise then."""
    from billing.customers.lookup import pending_change

    factories.reference(app)
    customer_id = factories.customer(app, internal=8, external=2).id
    change_ip_distribution(customer_id, 50, 12, False, SYSTEM, clock)
    assert pending_change(customer_id) is not None
    change_ip_distribution(customer_id, 30, 5, True, SYSTEM, clock)
    assert pending_change(customer_id) is None
