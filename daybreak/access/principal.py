"""Who is making a request: a user (by password or API token), a kiosk, the legacy shared
token, or anyone at all on a server in open mode."""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from daybreak.access.roles import Role, can_change_things

Via = Literal["open", "session", "token", "legacy"]


@dataclasses.dataclass(frozen=True)
class Principal:
    name: str
    role: Role
    via: Via
    user_id: int | None = None
    token_id: int | None = None
    csrf_token: str | None = None  # only for cookie sessions, whose unsafe requests need it

    @property
    def is_open(self) -> bool:
        return self.via == "open"

    @property
    def can_change_things(self) -> bool:
        return can_change_things(self.role)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "role": self.role, "via": self.via}


OPEN = Principal(name="", role="admin", via="open")
LEGACY_NAME = "DAYBREAK_TOKEN"
