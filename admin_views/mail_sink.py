"""Settings → Demo mailbox: the e-mails a mail sink received (``MAIL_SINK_MAILDIR``; `make run`
starts one), newest first, each readable as text. The screen exists only where a sink is
configured, and only for admins: the messages carry invite, registration and password links."""

from __future__ import annotations

from flask import abort, current_app, request
from flask_admin import expose

from billing.infra.mail_sink import LIST_LIMIT, list_messages, read_message
from billing.kernel.permissions import Permission

from .base import SecureBaseView

MAX_SEARCH = 200


class MailSinkView(SecureBaseView):
    permission = Permission.MANAGE_SETTINGS

    def _maildir(self) -> str:
        return current_app.config["MAIL_SINK_MAILDIR"]

    @expose("/")
    def index(self):
        search = request.args.get("q", "")[:MAX_SEARCH]
        total, entries = list_messages(self._maildir(), search)
        return self.render(
            "admin/mail_sink.html",
            entries=entries,
            total=total,
            limit=LIST_LIMIT,
            search=search,
            maildir=self._maildir(),
        )

    @expose("/<key>/")
    def message_view(self, key: str):
        message = read_message(self._maildir(), key)
        if message is None:
            abort(404)
        return self.render("admin/mail_sink_message.html", message=message)
