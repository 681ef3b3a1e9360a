"""Domain errors; views translate them into flash messages or form errors."""

from __future__ import annotations


class DomainError(Exception):
    """A rule refused the request. ``message`` is user-facing (already translated)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class NotFound(DomainError):
    pass


class Conflict(DomainError):
    """The record changed since the user loaded it (optimistic locking)."""


class AuthenticationFailed(DomainError):
    pass
