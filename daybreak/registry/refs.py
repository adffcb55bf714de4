"""Model references: ``NAME`` (the latest version), ``NAME@3`` or ``NAME@production``."""

from __future__ import annotations

import re

from daybreak.errors import ConfigError

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$")
ALIAS = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,99}$")
LATEST = "latest"


def check_name(name: str) -> str:
    if not NAME.match(name):
        raise ConfigError(
            f"{name!r} is not a model name",
            "use letters, digits, '-', '_' or '.', starting with a letter or digit",
        )
    return name


def check_alias(alias: str) -> str:
    if not ALIAS.match(alias) or alias == LATEST:
        raise ConfigError(
            f"{alias!r} cannot be an alias",
            "start with a letter and use letters, digits, '-', '_' or '.' "
            "(not a version number, not 'latest')",
        )
    return alias


def parse(ref: str) -> tuple[str, int | str | None]:
    """``(name, selector)``: a version number, an alias, or ``None`` for the latest."""
    name, _, selector = ref.partition("@")
    check_name(name)
    if not selector or selector == LATEST:
        return name, None
    if selector.isascii() and selector.isdigit():
        return name, int(selector)
    return name, check_alias(selector)
