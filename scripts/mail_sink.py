"""`make run`'s mail sink: an SMTP server on 127.0.0.1 that keeps every message in a Maildir.

Usage: python scripts/mail_sink.py MAILDIR PORT

A development tool, started and stopped by scripts/run.sh; nothing in the product imports it.
The admin's Settings → Demo mailbox reads the Maildir (``MAIL_SINK_MAILDIR``).
"""

from __future__ import annotations

import argparse
import os
import signal

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox

HOST = "127.0.0.1"


def maildir(path: str) -> str:
    """``path`` as a Maildir: its ``tmp``, ``new`` and ``cur`` folders exist afterwards, also when
    the folder itself existed already (empty, or from an older run)."""
    for folder in ("tmp", "new", "cur"):
        os.makedirs(os.path.join(path, folder), mode=0o700, exist_ok=True)
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("maildir", help="where every message is stored (created if missing)")
    parser.add_argument("port", type=int, help=f"SMTP port on {HOST}")
    args = parser.parse_args(argv)
    controller = Controller(Mailbox(maildir(args.maildir)), hostname=HOST, port=args.port)
    stop = {signal.SIGINT, signal.SIGTERM}
    # blocked before the server's thread starts, so that only sigwait below receives them
    signal.pthread_sigmask(signal.SIG_BLOCK, stop)
    controller.start()
    print(f"mail sink: SMTP on {HOST}:{args.port}, messages in {args.maildir}", flush=True)
    try:
        signal.sigwait(stop)
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
