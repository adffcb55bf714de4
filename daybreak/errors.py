"""The one exception tree. Every error says what is wrong and how to fix it."""

from __future__ import annotations


class DaybreakError(Exception):
    """Base of every error Daybreak raises on purpose.

    ``hint`` tells the user what to do; ``http_status`` is what the API answers with.
    """

    http_status: int = 400
    exit_code: int = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message

    def to_dict(self) -> dict[str, str | None]:
        return {"type": type(self).__name__, "message": self.message, "hint": self.hint}


class ConfigError(DaybreakError):
    """A setting, flag or config value is wrong."""

    exit_code = 2


class InvalidMetricError(DaybreakError):
    """A metric key or value cannot be logged."""

    http_status = 422


class NotFoundError(DaybreakError):
    """A project, run, metric, artifact or checkpoint does not exist."""

    http_status = 404


class ConflictError(DaybreakError):
    """The request contradicts what is stored (for example finishing a finished run)."""

    http_status = 409


class StoreError(DaybreakError):
    """The metadata database cannot be reached or is not usable."""

    http_status = 503


class StorageFullError(DaybreakError):
    """The disk under Daybreak's home or blob store is full."""

    http_status = 507


class RemoteError(DaybreakError):
    """The Daybreak server cannot be reached or refused a request."""

    http_status = 502


class AuthError(DaybreakError):
    """A missing or wrong API token."""

    http_status = 401


class ImportFormatError(DaybreakError):
    """A file given to ``runs import`` is not valid Daybreak JSONL."""

    http_status = 422


class PayloadTooLargeError(DaybreakError):
    """An upload is larger than the server accepts."""

    http_status = 413
