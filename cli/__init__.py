"""The ``flask …`` commands, one module per group: argument parsing and output only, each
command calling ``billing`` (or a job, or a seed builder). ``app.py`` registers ``COMMANDS``;
nothing else imports this package (an import-linter contract)."""

from __future__ import annotations

from .backup import backup_group
from .billing import billing_group
from .customers import customers_group
from .secrets import secrets_group
from .seed import seed_group
from .staff import staff_group
from .worker import scheduler_command, worker_command

COMMANDS = (
    staff_group,
    customers_group,
    secrets_group,
    backup_group,
    worker_command,
    billing_group,
    scheduler_command,
    seed_group,
)
