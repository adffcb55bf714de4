"""``daybreak user`` and ``daybreak token`` on the real store."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from daybreak.access import tokens
from daybreak.cli.main import app
from daybreak.errors import ConfigError, NotFoundError
from daybreak.store.engine import get_database


def cli(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(app, list(args), input=input)


def ok(*args: str, input: str | None = None) -> Result:
    result = cli(*args, input=input)
    assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"
    return result


def as_json(*args: str) -> Any:
    return json.loads(ok(*args, "--json").stdout)


def test_users_are_added_listed_changed_and_disabled(settings):
    ok("user", "add", "ada", "--role", "admin", "--password-stdin", input="a good password\n")
    ok("user", "add", "bob", input="bob's password\nbob's password\n")  # the prompt, twice
    listed = as_json("user", "ls")
    assert [(u["name"], u["role"], u["disabled"]) for u in listed] == [
        ("ada", "admin", False),
        ("bob", "member", False),
    ]
    assert "password" not in json.dumps(listed)
    ok("user", "role", "bob", "viewer")
    ok("user", "disable", "bob")
    ok("user", "passwd", "ada", "--password-stdin", input="a newer password\n")
    assert {u["name"]: (u["role"], u["disabled"]) for u in as_json("user", "ls")} == {
        "ada": ("admin", False),
        "bob": ("viewer", True),
    }
    assert isinstance(cli("user", "role", "bob", "boss").exception, ConfigError)
    assert isinstance(cli("user", "disable", "nobody").exception, NotFoundError)


def test_tokens_are_shown_once_listed_and_revoked(settings, monkeypatch):
    monkeypatch.setenv("DAYBREAK_USER", "ada")
    ok("user", "add", "ada", "--password-stdin", input="a good password\n")
    mine = as_json("token", "create", "--name", "laptop", "--expires", "30d")
    kiosk = as_json("token", "create", "--kiosk", "--name", "hall")
    assert mine["user"] == "ada" and mine["kind"] == "api" and mine["expires_at"]
    assert kiosk["user"] is None and kiosk["kind"] == "kiosk"
    text = ok("token", "create", "--kiosk").stdout
    assert "/kiosk?token=dbk_" in text and "shown only this once" in text
    listed = as_json("token", "ls")
    assert [t["status"] for t in listed] == ["active"] * 3
    assert mine["secret"] not in json.dumps(listed)
    ok("token", "revoke", str(mine["id"]))
    assert as_json("token", "ls")[0]["status"] == "revoked"
    db = get_database(settings.db_url)
    assert tokens.get_token(db, mine["prefix"]).revoked_at is not None


def test_token_for_someone_who_is_not_a_user_says_what_to_do(settings, monkeypatch):
    monkeypatch.setenv("DAYBREAK_USER", "stranger")
    result = cli("token", "create")
    assert isinstance(result.exception, ConfigError)
    assert "--user NAME" in str(result.exception.hint)
    assert isinstance(cli("token", "create", "--expires", "soon").exception, ConfigError)
    assert isinstance(cli("token", "revoke", "99").exception, NotFoundError)


@pytest.mark.parametrize("command", [["user", "add"], ["token", "create"], ["token", "revoke"]])
def test_commands_have_help(command):
    assert "Usage" in ok(*command, "--help").stdout
