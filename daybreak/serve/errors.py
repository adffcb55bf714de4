"""The server's errors: each is answered as ``{"error": {type, message, hint}}`` with its status."""

from __future__ import annotations

from daybreak.errors import DaybreakError


class BadInputError(DaybreakError):
    """The body does not fit the model: wrong shape, channels or dtype, bad JSON."""

    http_status = 422


class EmptyBodyError(DaybreakError):
    """The request has no body."""

    http_status = 400


class BodyTooLargeError(DaybreakError):
    """The body is larger than ``--max-body-mb``."""

    http_status = 413


class UnsupportedMediaTypeError(DaybreakError):
    """The body's content type is not one the server reads."""

    http_status = 415


class NotAnImageError(DaybreakError):
    """An image was expected but the bytes are not an image Pillow can decode."""

    http_status = 422


class NoSignatureError(DaybreakError):
    """The model's version has no input signature, so inputs cannot be checked or decoded."""

    http_status = 422


class ModelUnavailableError(DaybreakError):
    """The model is served but not loaded: its alias points nowhere, it has no recommended
    export, or the export cannot be loaded."""

    http_status = 409


def unavailable(name: str, cause: DaybreakError) -> ModelUnavailableError:
    """A served model that cannot answer, with the reason, the fix and the status of ``cause``
    (404: its alias or export is gone; 422: its export or signature is unusable)."""
    if isinstance(cause, ModelUnavailableError):
        return cause
    error = ModelUnavailableError(f"model {name!r} is not loaded: {cause.message}", cause.hint)
    error.http_status = cause.http_status
    return error
