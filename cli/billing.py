"""``flask billing …``: the daily billing jobs run by hand, and the month-end run."""

from __future__ import annotations

from datetime import datetime

import click
from flask import current_app
from flask.cli import with_appcontext


@click.group("billing")
def billing_group() -> None:
    """Billing maintenance."""


@billing_group.command("apply-changes")
@with_appcontext
def apply_changes_command() -> None:
    """Apply scheduled changes due by today and expire subscriptions whose runtime ended."""
    from jobs.billing import apply_changes

    result = apply_changes()
    click.echo(
        f"Applied {result['applied']} change(s); expired {result['expired']} subscription(s)."
    )


@billing_group.command("renew-subscriptions")
@with_appcontext
def renew_subscriptions_command() -> None:
    """Renew additional subscriptions whose term ended, or end them when auto-renew is off."""
    from jobs.billing import renew_subscriptions

    result = renew_subscriptions()
    click.echo(
        f"Renewed {result['renewed']} subscription(s); ended {result['ended']} subscription(s)."
    )


@billing_group.command("notify-expiring-keys")
@with_appcontext
def notify_expiring_keys_command() -> None:
    """Queue the e-mails about project keys whose subscription ends within 30 days."""
    from jobs.billing import notify_expiring_keys

    click.echo(f"Queued {notify_expiring_keys()} e-mail(s).")


@billing_group.command("run-month-end")
@click.option("--period", help="The booking month to bill, YYYY-MM (default: last month).")
@click.option(
    "--now",
    "now_text",
    help=(
        "Run as of this moment (ISO 8601, e.g. 2026-11-01T00:30+01:00) instead of the clock; "
        "the run keeps it, also in a worker (--queue)."
    ),
)
@click.option("--approve", is_flag=True, help="Finalize right after drafting (no review).")
@click.option(
    "--rehearse", is_flag=True, help="Charge no card and send no e-mail (for a staging database)."
)
@click.option("--queue", "use_queue", is_flag=True, help="Hand the run to a worker and return.")
@with_appcontext
def run_month_end_command(
    period: str | None, now_text: str | None, approve: bool, rehearse: bool, use_queue: bool
) -> None:
    """Start (or continue) the month-end run for a booking month."""
    from billing.invoicing import monthend, monthend_report, monthend_work
    from billing.kernel.audit import SYSTEM
    from billing.kernel.clock import clock_as_of
    from billing.kernel.errors import DomainError
    from billing.kernel.site import Site
    from jobs.billing import month_end_hooks, queue_month_end

    if rehearse and use_queue:
        # A worker runs a queued run with its own hooks: it would charge cards and send e-mails.
        raise click.UsageError("--rehearse runs in this process; it cannot be used with --queue.")
    clock = current_app.config["CLOCK"]
    as_of = None
    if now_text:
        try:
            as_of = datetime.fromisoformat(now_text)
        except ValueError:
            raise click.BadParameter(
                "use ISO 8601, e.g. 2026-11-01T00:30+01:00", param_hint="--now"
            ) from None
        if as_of.tzinfo is None:
            as_of = as_of.replace(tzinfo=clock.tz)
    try:
        month = (
            monthend.parse_period(period)
            if period
            else monthend.last_closed_period(clock_as_of(clock, as_of))
        )
        started = monthend.start_run(
            month, SYSTEM, clock, auto_finalize=approve or None, as_of=as_of
        )
    except monthend.RunDone as done:
        click.echo(done.message)
        return
    except DomainError as error:
        raise click.ClickException(str(error)) from None
    verb = "Continuing" if started.resumed else "Started"
    run = monthend.get_run(started.run_id)
    moment = f" as of {run.as_of.astimezone(clock.tz).isoformat()}" if run.as_of else ""
    click.echo(f"{verb} the billing run for {month:%Y-%m} (run {started.run_id}){moment}.")
    if use_queue:
        queue_month_end(started.run_id)
        click.echo("Queued for the worker; follow it on the Billing Runs screen.")
        return
    hooks = monthend_work.Hooks() if rehearse else month_end_hooks()
    hooks.progress = lambda run: click.echo(
        f"  {run.state}: {run.processed}/{run.total} customers, {run.billed} invoices"
        if run.state == "drafting"
        else f"  {run.state}: {run.finalized}/{run.billed} finalized"
    )
    state = monthend_work.work(started.run_id, clock, hooks, site=Site.of(current_app.config))
    run = monthend.get_run(started.run_id)
    click.echo(
        f"{state}: {run.billed} invoice(s), {run.skipped} skipped "
        f"{monthend_report.skip_reasons(run)}, {run.payment_failed} payment(s) failed."
    )
    if state == "awaiting_approval":
        click.echo("Review the drafts on the Billing Runs screen, then approve them there.")
