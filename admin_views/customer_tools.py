"""Flexiant's "Manage Customer" tools on the customer screens (SPEC §11): create similar, log
in as the customer, tags, e-mail to the customer's users, default language and the
credit/debit ledger. Each POST is one ``billing`` call."""

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
from billing.payments import ledger
from models import Customer, Partner, db

from .auth import client_ip, clock, current_staff, site, staff_actor
from .customer_actions import customer_action, field_error, queued
from .forms import NEW_CUSTOMER_FIELDS, NewCustomerForm

LANGUAGES = [("en", lazy_gettext("English")), ("de", lazy_gettext("German"))]


class TagsForm(FlaskForm):
    tags = StringField(lazy_gettext("Tags (comma-separated)"), [Length(max=2000)])


class LanguageForm(FlaskForm):
    language = SelectField(lazy_gettext("Default language"), choices=LANGUAGES)


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


class CustomerToolsMixin:
    """Mixed into ``CustomerAdmin``; endpoints live under /admin/customer/."""

    def render(self, template, **kwargs):
        if template == self.details_template and "model" in kwargs:
            customer = kwargs["model"]
            kwargs["tags_form"] = TagsForm(tags=", ".join(sorted(t.name for t in customer.tags)))
            kwargs["language_form"] = LanguageForm(language=customer.language)
            kwargs["ledger_form"] = LedgerForm(seen=ledger.last_entry_id(customer.id))
            kwargs["ledger_entries"] = ledger.entries(customer.id, limit=20)
        return super().render(template, **kwargs)

    @expose("/<int:customer_id>/similar/", methods=("GET", "POST"))
    @customer_action("create_similar")
    def similar_view(self, source: Customer):
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
                return redirect(url_for(".details_view", id=customer.id))
        partner = db.session.get(Partner, settings.partner_id) if settings.partner_id else None
        return self.render(
            "admin/customer_similar.html",
            form=form,
            customer=source,
            settings=settings,
            partner=partner,
        )

    @expose("/<int:customer_id>/impersonate/", methods=("GET", "POST"))
    @customer_action("impersonate")
    def impersonate_view(self, customer: Customer):
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

    @expose("/<int:customer_id>/tags/", methods=("POST",))
    @customer_action("edit_tags")
    def tags_view(self, customer: Customer):
        return self._details_post(
            customer,
            TagsForm,
            lambda customer, form: customer_tools.set_tags(
                customer.id, form.tags.data or "", staff_actor(), clock()
            ),
            lambda _form, names: (
                _("Tags saved: %(tags)s.", tags=", ".join(names)) if names else _("Tags removed.")
            ),
            "profile",
        )

    @expose("/<int:customer_id>/language/", methods=("POST",))
    @customer_action("set_language")
    def language_view(self, customer: Customer):
        return self._details_post(
            customer,
            LanguageForm,
            lambda customer, form: customer_tools.set_language(
                customer.id, form.language.data, staff_actor(), clock()
            ),
            lambda _form, _customer: _("The default language was saved."),
            "profile",
        )

    @expose("/<int:customer_id>/ledger/", methods=("POST",))
    @customer_action("book_ledger")
    def ledger_view(self, customer: Customer):
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
                amount=f"{entry.amount:+}",
                balance=str(ledger.balance(entry.customer_id)),
            ),
            "payments",
        )

    @expose("/<int:customer_id>/message/", methods=("GET", "POST"))
    @customer_action("send_email")
    def message_view(self, customer: Customer):
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
                return redirect(url_for(".details_view", id=customer.id))
        return self.render(
            "admin/customer_message.html",
            form=form,
            customer=customer,
            recipients=customer_tools.message_recipients(customer.id),
        )

    @expose("/<int:customer_id>/invitations/<int:invitation_id>/resend/", methods=("POST",))
    @customer_action("resend_team_invite")
    def team_resend_view(self, customer: Customer, invitation_id: int):
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
        return self._back(customer.id, "users")

    @expose("/<int:customer_id>/invitations/<int:invitation_id>/withdraw/", methods=("POST",))
    @customer_action("withdraw_team_invite")
    def team_withdraw_view(self, customer: Customer, invitation_id: int):
        """Withdraw a pending team invitation: its link stops working."""
        try:
            team.revoke_invite(customer.id, invitation_id, staff_actor(), clock())
        except NotFound:
            abort(404)
        except DomainError as error:
            flash(error.message, "error")
        else:
            flash(_("The invitation was withdrawn."), "success")
        return self._back(customer.id, "users")
