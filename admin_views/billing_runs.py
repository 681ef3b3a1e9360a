"""Billing → Billing Runs: the month-end run per booking month — start it, watch it, review the
drafts, approve and finalize, download the report (SPEC §8)."""

from __future__ import annotations

import csv
import io

from flask import Response, abort, flash, redirect, stream_with_context, url_for
from flask_admin import expose
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from flask_wtf import FlaskForm
from markupsafe import Markup
from redis.exceptions import RedisError
from wtforms import BooleanField, StringField
from wtforms.validators import DataRequired

from billing.invoicing import monthend, monthend_report
from billing.invoicing.drafting import INVOICED_BEFORE
from billing.kernel.errors import DomainError, NotFound
from billing.kernel.i18n import moment_text, month_text
from billing.kernel.permissions import Permission
from billing.reporting.exports import defuse
from jobs import listening_workers
from jobs.billing import queue_month_end
from models import BillingRun

from .actions import RUN_ACTIONS, RecordActions
from .auth import clock, requires, staff_actor, staff_can
from .badges import run_badge
from .base import SecureModelView
from .labels import RUN_STATE_LABELS
from .navigation import return_url, with_highlight

run_action = RUN_ACTIONS.endpoint

SKIP_LABELS = {
    "no_subscription": lazy_gettext("no subscription in the month"),
    "free": lazy_gettext("free of charge"),
    "zero_amount": lazy_gettext("nothing to bill"),
    INVOICED_BEFORE: lazy_gettext("invoiced before, outside this run"),
}
ACTIVITY_LABELS = {
    monthend.QUEUED: lazy_gettext("%(state)s (queued)"),
    monthend.STALLED: lazy_gettext("%(state)s (stalled)"),
}


class StartRunForm(FlaskForm):
    period = StringField(
        lazy_gettext("Month (YYYY-MM)"),
        validators=[DataRequired(message=lazy_gettext("Please give the month."))],
    )


class AutoFinalizeForm(FlaskForm):
    auto_finalize = BooleanField(lazy_gettext("Finalize automatically after drafting"))


def state_words(run: BillingRun, activity: str | None) -> str:
    """The run's state in words, with what it is doing while active (e.g. "Drafting
    (queued)")."""
    label = RUN_STATE_LABELS.get(run.state, run.state)
    wording = ACTIVITY_LABELS.get(activity)
    return wording % {"state": label} if wording else str(label)


def _state(view, context, model, name):
    activity = monthend.activity(model)
    return run_badge(
        model.state, state_words(model, activity), stalled=activity == monthend.STALLED
    )


def _period(view, context, model, name):
    return Markup('<a href="{}">{}</a>').format(
        view.record_link(model.id), month_text(model.period)
    )


class BillingRunAdmin(RecordActions, SecureModelView):
    permission = Permission.READ
    list_template = "admin/billing_run_list.html"
    details_template = "admin/billing_run_details.html"
    can_view_details = True
    column_list = [
        "period",
        "state",
        "processed",
        "billed",
        "skipped",
        "finalized",
        "payment_failed",
        "started_at",
        "finished_at",
    ]
    column_default_sort = ("period", True)
    column_labels = {
        "period": lazy_gettext("Month"),
        "state": lazy_gettext("State"),
        "processed": lazy_gettext("Customers checked"),
        "billed": lazy_gettext("Billed"),
        "skipped": lazy_gettext("Skipped"),
        "finalized": lazy_gettext("Finalized"),
        "payment_failed": lazy_gettext("Payment failed"),
        "started_at": lazy_gettext("Started"),
        "finished_at": lazy_gettext("Finished"),
    }
    column_formatters = {
        "period": _period,
        "state": _state,
        "started_at": lambda v, c, m, n: moment_text(m.started_at),
        "finished_at": lambda v, c, m, n: moment_text(m.finished_at) if m.finished_at else "",
    }

    def __init__(self, database, **kwargs):
        super().__init__(BillingRun, database, **kwargs)

    def render(self, template, **kwargs):
        kwargs["can_run"] = staff_can(Permission.MANAGE_BILLING)
        kwargs.setdefault(
            "start_form",
            StartRunForm(formdata=None, period=f"{monthend.last_closed_period(clock()):%Y-%m}"),
        )
        kwargs["auto_form"] = AutoFinalizeForm(
            formdata=None, auto_finalize=monthend.auto_finalize_enabled()
        )
        model = kwargs.get("model")
        if isinstance(model, BillingRun):
            kwargs["skip_reasons"] = [
                (SKIP_LABELS.get(reason, reason), count)
                for reason, count in sorted(monthend_report.skip_reasons(model).items())
            ]
            activity = monthend.activity(model)
            kwargs["activity"] = activity
            kwargs["stalled"] = activity == monthend.STALLED
            kwargs["heading"] = _("Billing run %(month)s", month=month_text(model.period))
            kwargs["list_url"] = with_highlight(self.list_url(), model.id)
            kwargs["state_badge"] = run_badge(model.state, stalled=kwargs["stalled"])
            kwargs["running"] = activity in (monthend.QUEUED, monthend.WORKING)
            if activity == monthend.QUEUED:
                kwargs["workers"] = listening_workers("billing")
            kwargs["as_of"] = monthend.shown_moment(model)
            kwargs["drafts"] = drafts = monthend_report.drafts_of(model.id)
            kwargs["draft_totals"] = monthend_report.net_total(model.id)
            kwargs["actions"] = RUN_ACTIONS.links(
                model.id,
                monthend.available_actions(model),
                values={"n": drafts},
                return_to=return_url(),
            )
        return super().render(template, **kwargs)

    def action_record(self, run_id: int) -> BillingRun:
        try:
            return monthend.get_run(run_id)
        except NotFound:
            abort(404)

    def applicable_actions(self, run: BillingRun) -> list[str]:
        return monthend.available_actions(run)

    def refusal_reason(self, run: BillingRun, key: str) -> str | None:
        return monthend.refusal(run, key)

    def _queue(self, run_id: int) -> None:
        try:
            queue_month_end(run_id)
        except RedisError:
            flash(
                _(
                    "The job queue is not reachable; the run continues as soon as a worker "
                    "picks it up (or start it again)."
                ),
                "error",
            )

    @expose("/start/", methods=("POST",))
    @requires(Permission.MANAGE_BILLING)
    def start_view(self):
        form = StartRunForm()
        if not form.validate_on_submit():
            for errors in form.errors.values():
                for message in errors:
                    flash(message, "error")
            return redirect(url_for(".index_view"))
        try:
            period = monthend.parse_period(form.period.data)
            started = monthend.start_run(period, staff_actor(), clock())
        except monthend.RunDone as done:
            flash(done.message, "info")
            return redirect(url_for(".details_view", id=done.run_id))
        except DomainError as error:
            flash(error.message, "error")
            return redirect(url_for(".index_view"))
        self._queue(started.run_id)
        if started.resumed:
            flash(_("The billing run for %(month)s continues.", month=f"{period:%m/%Y}"), "success")
        else:
            flash(
                _("The billing run for %(month)s has started.", month=f"{period:%m/%Y}"), "success"
            )
        return redirect(url_for(".details_view", id=started.run_id))

    @expose("/<int:run_id>/approve/", methods=("POST",))
    @run_action("approve")
    def approve_view(self, run: BillingRun):
        if not FlaskForm().validate_on_submit():
            abort(400)
        try:
            run = monthend.approve_run(run.id, staff_actor(), clock())
        except DomainError as error:
            flash(error.message, "error")
            return self.back(run.id)
        self._queue(run.id)
        flash(
            _(
                "The invoices for %(month)s are being finalized, charged and sent.",
                month=f"{run.period:%m/%Y}",
            ),
            "success",
        )
        return self.back(run.id)

    @expose("/<int:run_id>/resume/", methods=("POST",))
    @run_action("resume")
    def resume_view(self, run: BillingRun):
        if not FlaskForm().validate_on_submit():
            abort(400)
        try:
            monthend.start_run(run.period, staff_actor(), clock())
        except DomainError as error:
            flash(error.message, "error")
        else:
            self._queue(run.id)
            flash(_("The billing run continues where it stopped."), "success")
        return self.back(run.id)

    @expose("/settings/", methods=("POST",))
    @requires(Permission.MANAGE_BILLING)
    def settings_view(self):
        form = AutoFinalizeForm()
        if not form.validate_on_submit():
            abort(400)
        monthend.set_auto_finalize(bool(form.auto_finalize.data), staff_actor(), clock())
        flash(_("Saved."), "success")
        return redirect(url_for(".index_view"))

    @expose("/<int:run_id>/report.csv")
    @run_action("report")
    def report_view(self, run: BillingRun):
        run = monthend_report.record_report_export(run.id, staff_actor(), clock())

        def rows():
            buffer = io.StringIO()
            writer = csv.writer(buffer)
            writer.writerow(["# period", f"{run.period:%Y-%m}", "state", run.state])
            writer.writerow(
                ["# customers checked", run.processed, "billed", run.billed, "skipped", run.skipped]
            )
            for reason, count in sorted(monthend_report.skip_reasons(run).items()):
                writer.writerow(["# skipped", reason, count])
            writer.writerow(["# payment failed", run.payment_failed])
            writer.writerow(monthend_report.REPORT_FIELDS)
            yield buffer.getvalue()
            for row in monthend_report.report_rows(run.id):
                buffer.seek(0)
                buffer.truncate()
                values = ["" if v is None else v for v in row]
                values[3] = defuse(values[3])
                writer.writerow(values)
                yield buffer.getvalue()

        return Response(
            stream_with_context(rows()),
            mimetype="text/csv",
            headers={
                "Content-Disposition": (
                    f'attachment; filename="billing-run-{run.period:%Y-%m}.csv"'
                ),
                "Cache-Control": "no-store",
            },
        )

    def is_action_allowed(self, name):
        return False
