"""ApplicationError: the one exception services raise for a refused request; API and views render it."""

from __future__ import annotations

from typing import Any


class ApplicationError(Exception):
    """A request the domain refuses, with a stable machine code, a human message and details.

    `status` is the HTTP status the API answers with: 400 invalid, 403 forbidden, 404 not found,
    409 conflict (stale version, refused transition), 422 unprocessable.
    """

    status = 400
    code = "invalid"

    def __init__(self, message: str, *, code: str | None = None, details: dict[str, Any] | None = None,
                 status: int | None = None) -> None:
        super().__init__(message)
        self.message = str(message)
        if code:
            self.code = code
        if status:
            self.status = status
        self.details = details or {}


class ValidationFailed(ApplicationError):
    status = 400
    code = "invalid"


class PermissionDenied(ApplicationError):
    status = 403
    code = "forbidden"


class NotFound(ApplicationError):
    status = 404
    code = "not_found"


class Conflict(ApplicationError):
    status = 409
    code = "conflict"
