"""Flexiant's "Manage Customer" tools (SPEC §11), each a view of its own under the customer's
address: create similar (``…/similar/``), log in as the customer (``…/impersonate/``), an
e-mail to the customer's users (``…/message/``), a credit or debit on the account
(``…/ledger/``) and the team's pending invitations (``…/invitations/<id>/resend|withdraw/``).
Each is a row action of the customer (``actions.CUSTOMER_ACTIONS``) with its own permission, so
the views themselves open to every staff member who may read. Each POST is one ``billing``
call. (Tags and the default language are profile edits: ``customer_profile``.)"""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, request, session, url_for
from flask_admin import expose
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from flask_login import login_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length

from billing.customers import customer_tools, team
from billing.customers import impersonation as impersonation_service
from billing.customers.onboarding import NewCustomer
from billing.kernel.errors import DomainError, NotFound
from billing.kernel.permissions import Permission
from billing.payments import ledger
from models import Customer, Partner, db

from .auth import client_ip, clock, current_staff, site, staff_actor
from .customer_record import CustomerWorkflowView, customer_action, field_error, queued
from .formatting import money
from .forms import NEW_CUSTOMER_FIELDS, NewCustomerForm
from .navigation import return_url


class LedgerForm(FlaskForm):
    direction = SelectField(
        lazy_gettext("Booking"),
        choices=[("credit", lazy_gettext("Credit")), ("debit", lazy_gettext("Debit"))],
    )
    amount = StringField(lazy_gettext("Amount (net)"), [Length(max=20)])
    description = StringField(lazy_gettext("Description"), [Length(max=300)])
    # the newest booking the page showed: a booking made since refuses this one
    seen = HiddenField()

    def seen_entry_id(self) -> int | None:
        try:
            return int(self.seen.data)
        except (TypeError, ValueError):
            return None


class MessageForm(FlaskForm):
    subject = StringField(lazy_gettext("Subject"), [DataRequired(), Length(max=200)])
    message = TextAreaField(lazy_gettext("Message"), [DataRequired(), Length(max=10000)])


class ImpersonationForm(FlaskForm):
    reason = TextAreaField(lazy_gettext("Reason"), [DataRequired(), Length(max=500)])
    allow_changes = BooleanField(lazy_gettext("Allow changes"))


def ledger_context(customer: Customer) -> dict:
    """The overview's Payments tab: the account's latest bookings and the booking dialog's form."""
    return {
        "ledger_form": LedgerForm(seen=ledger.last_entry_id(customer.id)),
        "ledger_entries": ledger.entries(customer.id, limit=20),
        "booking_text": ledger.told,
    }


class CustomerToolView(CustomerWorkflowView):
    """A tool: every staff member who may read opens the view; the tool's row action decides."""

    permission = Permission.READ


class CreateSimilarView(CustomerToolView):
    @expose("/", methods=("GET", "POST"))
    @customer_action("create_similar")
    def index(self, source: Customer):
        settings = customer_tools.similar_settings(source.id)
        form = NewCustomerForm(language=settings.language, country=source.country)
        if form.validate_on_submit():
            data = NewCustomer(**{name: form[name].data or "" for name in NEW_CUSTOMER_FIELDS})
            try:
                customer, message = customer_tools.create_similar(
                    source.id, data, staff_actor(), clock(), site()
                )
            except DomainError as error:
                field_error(form, error)
            else:
                queued(message)
                flash(
                    _(
                        "Customer %(name)s created like %(source)s; the invite e-mail is on its "
                        "way to %(email)s.",
                        name=customer.company_name,
                        source=source.company_name,
                        email=customer.contact_email,
                    ),
                    "success",
                )
                return redirect(self.record_url(customer.id, return_url()))
        partner = db.session.get(Partner, settings.partner_id) if settings.partner_id else None
        return self.render(
            "admin/customer_similar.html",
            form=form,
            customer=source,
            settings=settings,
            partner=partner,
        )


class ImpersonationView(CustomerToolView):
    @expose("/", methods=("GET", "POST"))
    @customer_action("impersonate")
    def index(self, customer: Customer):
        staff = current_staff()
        form = ImpersonationForm()
        if form.validate_on_submit():
            try:
                started = impersonation_service.start(
                    customer.id,
                    staff.id,
                    form.reason.data,
                    bool(form.allow_changes.data),
                    clock(),
                    client_ip(),
                )
            except DomainError as error:
                if error.field == "reason":
                    field_error(form, error)
                else:
                    flash(error.message, "error")
            else:
                self._sign_in_as(started, staff)
                return redirect(url_for("portal.home"))
        elif request.method == "POST":
            flash(_("Please give a reason."), "error")
        return self.render(
            "admin/customer_impersonate.html",
            form=form,
            customer=customer,
            may_allow_changes=impersonation_service.may_allow_changes(staff.role),
            minutes=int(impersonation_service.DURATION.total_seconds() // 60),
        )

    @staticmethod
    def _sign_in_as(started, staff) -> None:
        """Sign the browser in as the impersonated user; the staff sign-in waits in the session
        (the portal's guard signs it back in when the impersonation ends)."""
        user = impersonation_service.impersonated_user(started)
        session[impersonation_service.SESSION_KEY] = {
            "id": started.id,
            "staff": staff.get_id(),
            "language": session.get("language"),
        }
        login_user(user)
        session["language"] = user.language or user.customer.language or "en"


class LedgerView(CustomerToolView):
    @expose("/", methods=("POST",))
    @customer_action("book_ledger")
    def index(self, customer: Customer):
        return self._details_post(
            customer,
            LedgerForm,
            lambda customer, form: ledger.book_manual(
                customer.id,
                form.direction.data,
                form.amount.data,
                form.description.data,
                staff_actor(),
                clock(),
                seen_entry_id=form.seen_entry_id(),
            ),
            lambda _form, entry: _(
                "Booked %(amount)s; the balance is now %(balance)s.",
                amount=("+" if entry.amount > 0 else "") + money(entry.amount),
                balance=money(ledger.balance(entry.customer_id)),
            ),
            "payments",
        )


class CustomerMessageView(CustomerToolView):
    @expose("/", methods=("GET", "POST"))
    @customer_action("send_email")
    def index(self, customer: Customer):
        form = MessageForm()
        if form.validate_on_submit():
            try:
                messages = customer_tools.send_staff_message(
                    customer.id, form.subject.data, form.message.data, staff_actor(), clock()
                )
            except DomainError as error:
                field_error(form, error)
            else:
                for message in messages:
                    queued(message)
                flash(_("The e-mail is on its way to %(n)d user(s).", n=len(messages)), "success")
                return self.back(customer.id)
        return self.render(
            "admin/customer_message.html",
            form=form,
            customer=customer,
            recipients=customer_tools.message_recipients(customer.id),
        )


class TeamInvitationsView(CustomerToolView):
    """The pending team invitations of the overview's Users tab (which
    ``/admin/customer/<id>/invitations/`` opens)."""

    section = "users"

    @expose("/<int:invitation_id>/resend/", methods=("POST",))
    @customer_action("resend_team_invite")
    def resend_view(self, customer: Customer, invitation_id: int):
        """Send a pending team invitation again (a new link; the old one stops working)."""
        try:
            message = team.resend_invite(
                customer.id, invitation_id, staff_actor(), clock(), current_app.config["PUBLIC_URL"]
            )
        except NotFound:
            abort(404)
        except DomainError as error:
            flash(error.message, "error")
        else:
            queued(message)
            flash(_("A new invite was sent to %(email)s.", email=message.recipient), "success")
        return self.back(customer.id, "users")

    @expose("/<int:invitation_id>/withdraw/", methods=("POST",))
    @customer_action("withdraw_team_invite")
    def withdraw_view(self, customer: Customer, invitation_id: int):
        """Withdraw a pending team invitation: its link stops working."""
        try:
            team.revoke_invite(customer.id, invitation_id, staff_actor(), clock())
        except NotFound:
            abort(404)
        except DomainError as error:
            flash(error.message, "error")
        else:
            flash(_("The invitation was withdrawn."), "success")
        return self.back(customer.id, "users")
