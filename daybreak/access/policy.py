"""What each principal may do, decided from the request's method and path alone, so that no
endpoint can forget: viewers and kiosks never change anything, kiosks only see the kiosk.

Admin-only endpoints add ``Depends(require_role("admin"))`` from :mod:`daybreak.web.deps`."""

from __future__ import annotations

import fnmatch

from daybreak.access.errors import ForbiddenError
from daybreak.access.principal import Principal

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# Everything a kiosk token may do. Extend it when the kiosk grows a screen that needs more.
KIOSK_ALLOWED: tuple[tuple[str, str], ...] = (
    ("GET", "/kiosk"),
    ("GET", "/kiosk/*"),
    ("GET", "/api/kiosk/*"),
    ("GET", "/static/*"),
    ("GET", "/api/health"),
    ("GET", "/api/me"),
    ("POST", "/api/kiosk/predict/*"),  # the live demo, through the serving layer
)

# Anyone signed in may do these, whatever their role.
EVERYONE_ALLOWED: tuple[tuple[str, str], ...] = (("POST", "/logout"),)

# POSTs that only read (the MLflow API's searches): viewers may send them, kiosks may not.
READ_ONLY_POSTS: tuple[tuple[str, str], ...] = (
    ("POST", "/api/2.0/mlflow/runs/search"),
    ("POST", "/api/2.0/mlflow/experiments/search"),
)


def _listed(rules: tuple[tuple[str, str], ...], method: str, path: str) -> bool:
    method = "GET" if method == "HEAD" else method
    return any(method == m and fnmatch.fnmatchcase(path, p) for m, p in rules)


def kiosk_may(method: str, path: str) -> bool:
    return _listed(KIOSK_ALLOWED, method, path)


def refusal(principal: Principal, method: str, path: str) -> ForbiddenError | None:
    """Why ``principal`` may not send ``method path``, or None when it may."""
    if _listed(EVERYONE_ALLOWED, method, path):
        return None
    if principal.role == "kiosk":
        if kiosk_may(method, path):
            return None
        return ForbiddenError(
            f"a kiosk token may only show the kiosk, not {method} {path}",
            "sign in as a user to see or change anything else",
        )
    if method in SAFE_METHODS or principal.can_change_things:
        return None
    if _listed(READ_ONLY_POSTS, method, path):
        return None
    return ForbiddenError(
        f"{principal.name or 'you'} ({principal.role}) may look but not change anything",
        "ask an admin for the member role: daybreak user role NAME member",
    )
