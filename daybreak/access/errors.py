"""Access errors: subclasses of the one tree in :mod:`daybreak.errors`.

A missing, wrong, expired or revoked credential is :class:`daybreak.errors.AuthError` (401);
a known principal asking for what its role does not allow is :class:`ForbiddenError` (403).
"""

from __future__ import annotations

from daybreak.errors import DaybreakError


class ForbiddenError(DaybreakError):
    """The caller is known but its role may not do this."""

    http_status = 403
