"""Errors in MLflow's wire shape: ``{"error_code": "RESOURCE_DOES_NOT_EXIST", "message": …}``,
which the ``mlflow`` client turns into its own exceptions."""

from __future__ import annotations

from typing import Any

from daybreak.errors import DaybreakError

PATH_PREFIXES = ("/api/2.0/mlflow", "/ajax-api/2.0/mlflow", "/api/2.0/mlflow-artifacts")

CODES = {  # HTTP status of a Daybreak error -> MLflow error code
    400: "INVALID_PARAMETER_VALUE",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "RESOURCE_DOES_NOT_EXIST",
    409: "RESOURCE_ALREADY_EXISTS",
    413: "REQUEST_LIMIT_EXCEEDED",
    422: "INVALID_PARAMETER_VALUE",
    503: "TEMPORARILY_UNAVAILABLE",
}


class MlflowApiError(DaybreakError):
    """An error with an explicit MLflow error code."""

    def __init__(self, message: str, hint: str | None, code: str, status: int = 400) -> None:
        super().__init__(message, hint)
        self.code = code
        self.http_status = status


def invalid(message: str, hint: str | None = None) -> MlflowApiError:
    return MlflowApiError(message, hint, "INVALID_PARAMETER_VALUE")


def is_mlflow_path(path: str) -> bool:
    return path.startswith(PATH_PREFIXES)


def error_response(exc: DaybreakError) -> tuple[dict[str, Any], int]:
    """The body and status MLflow clients understand for ``exc``."""
    code = getattr(exc, "code", None) or CODES.get(exc.http_status, "INTERNAL_ERROR")
    status = exc.http_status
    if code in ("RESOURCE_ALREADY_EXISTS", "INVALID_PARAMETER_VALUE") and status in (409, 422):
        status = 400  # what MLflow's own server answers
    message = f"{exc.message} ({exc.hint})" if exc.hint else exc.message
    return {"error_code": code, "message": message}, status
