"""Portal: the team (seed 3.1, SPEC §10): list, invite by e-mail, enable/disable users, resend
or revoke pending invitations. Every registered user of the customer may manage the team."""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from flask_wtf import FlaskForm
from wtforms import EmailField, StringField
from wtforms.validators import DataRequired, Length

from billing.customers import team as team_rules
from billing.kernel.audit import Actor
from billing.kernel.errors import DomainError, NotFound
from jobs.mail import send

from . import bp
from .forms import form_error
from .security import client_ip, clock, portal_user, user_required

STATE_LABELS = {
    "main": lazy_gettext("Main user"),
    "active": lazy_gettext("Active"),
    "disabled": lazy_gettext("Disabled"),
    "invited": lazy_gettext("Invited"),
    "invite_expired": lazy_gettext("Invite expired"),
}


class InviteMemberForm(FlaskForm):
    name = StringField(lazy_gettext("Name"), validators=[DataRequired(), Length(max=200)])
    email = EmailField(lazy_gettext("E-mail"), validators=[DataRequired(), Length(max=320)])


def _page(form: InviteMemberForm):
    user = portal_user()
    return render_template(
        "portal/team.html",
        members=team_rules.team(user.customer_id, user.id, clock()),
        form=form,
        state_labels=STATE_LABELS,
    )


def _queued(message) -> None:
    if not send(message):
        flash(_("The e-mail could not be sent at the moment. Please try again later."), "warning")


@bp.route("/team", methods=("GET", "POST"))
@user_required
def team():
    user = portal_user()
    form = InviteMemberForm()
    if form.validate_on_submit():
        try:
            invited, message = team_rules.invite_member(
                user.customer_id,
                form.email.data,
                form.name.data,
                Actor.user(user, client_ip()),
                clock(),
                current_app.config["PUBLIC_URL"],
            )
        except DomainError as error:
            form_error(form, error)
        else:
            _queued(message)
            flash(_("%(email)s has been invited.", email=invited.email), "success")
            return redirect(url_for("portal.team"))
    return _page(form)


def _disable(customer_id, user_id, actor):
    member = team_rules.set_member_enabled(customer_id, user_id, False, actor, clock())
    return _("%(email)s can no longer sign in.", email=member.email)


def _enable(customer_id, user_id, actor):
    member = team_rules.set_member_enabled(customer_id, user_id, True, actor, clock())
    return _("%(email)s can sign in again.", email=member.email)


def _resend(customer_id, invitation_id, actor):
    public_url = current_app.config["PUBLIC_URL"]
    _queued(team_rules.resend_invite(customer_id, invitation_id, actor, clock(), public_url))
    return _("The invite was sent again.")


def _revoke(customer_id, invitation_id, actor):
    team_rules.revoke_invite(customer_id, invitation_id, actor, clock())
    return _("The invite was withdrawn.")


ROW_ACTIONS = {"disable": _disable, "enable": _enable, "resend": _resend, "revoke": _revoke}


def _row_action(record_id: int, action: str):
    user = portal_user()
    try:
        done = ROW_ACTIONS[action](user.customer_id, record_id, Actor.user(user, client_ip()))
    except NotFound:
        abort(404)
    except DomainError as error:
        flash(error.message, "error")
    else:
        flash(done, "success")
    return redirect(url_for("portal.team"))


@bp.route("/team/<int:user_id>/<any(disable, enable):action>", methods=("POST",))
@user_required
def team_action(user_id: int, action: str):
    """A row button of a team user (CSRF-checked like every POST); 404 for an id of another
    customer."""
    return _row_action(user_id, action)


@bp.route("/team/invitations/<int:invitation_id>/resend", methods=("POST",))
@user_required
def team_invitation_resend(invitation_id: int):
    """Send a pending invitation again; 404 for an id of another customer."""
    return _row_action(invitation_id, "resend")


@bp.route("/team/invitations/<int:invitation_id>/revoke", methods=("POST",))
@user_required
def team_invitation_revoke(invitation_id: int):
    """Withdraw a pending invitation; 404 for an id of another customer."""
    return _row_action(invitation_id, "revoke")
