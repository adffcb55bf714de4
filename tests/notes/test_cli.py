"""``daybreak note`` and ``daybreak action`` through the CLI, on this test's own store."""

from __future__ import annotations

import datetime
import json
import subprocess
import sys
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from daybreak.config import Settings
from daybreak.errors import ConfigError, ConflictError, NotFoundError
from daybreak.store.engine import Database, get_database
from tests.notes.test_notes import RUN, make_dataset, make_finding, make_log, make_run


def cli(*args: str) -> Result:
    from daybreak.cli.main import app

    return CliRunner().invoke(app, list(args))


def ok(*args: str) -> Result:
    result = cli(*args)
    assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"
    return result


def as_json(*args: str) -> Any:
    return json.loads(ok(*args, "--json").stdout)


def process(*args: str) -> subprocess.CompletedProcess[str]:
    """The real command line, so errors look the way the user sees them."""
    command = [sys.executable, "-m", "daybreak.cli", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


@pytest.fixture
def db(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Database:
    monkeypatch.setenv("DAYBREAK_USER", "ana")
    return get_database(settings.db_url)


def test_note_add_and_ls_by_subject(db: Database) -> None:
    make_run(db)
    make_dataset(db, "faces")
    ok("note", "add", "warmup helps", "--run", RUN[:6])
    ok("note", "add", "dupes in v2", "--dataset", "faces@2", "--author", "bo")
    ok("note", "add", "pose-lite is fast", "--model", "pose-lite")
    notes = as_json("note", "ls")
    assert [n["subject"] for n in notes] == [
        "run a1b2c3d4 (resnet-lr3)",
        "dataset faces@2",
        "model pose-lite",
    ]
    first = notes[0]
    assert {"id", "body", "author", "created_at", "run_id", "project", "subject"} <= set(first)
    assert (first["author"], first["project"], first["run_id"]) == ("ana", "zoo", RUN)
    assert [n["body"] for n in as_json("note", "ls", "--dataset", "faces")] == ["dupes in v2"]
    assert [n["author"] for n in as_json("note", "ls", "--run", RUN[:4])] == ["ana"]
    assert [n["body"] for n in as_json("note", "ls", "--project", "zoo")] == ["warmup helps"]
    table = ok("note", "ls", "--model", "pose-lite").stdout
    assert "pose-lite is fast" in table and "warmup" not in table


def test_note_ls_since_takes_iso_or_unix(db: Database) -> None:
    from daybreak.notes import service

    service.add_note(db, "old", now=1000.0)
    service.add_note(db, "new", now=2000.0)
    assert [n["body"] for n in as_json("note", "ls", "--since", "2000")] == ["new"]
    iso = datetime.datetime.fromtimestamp(1500.0).isoformat()
    assert [n["body"] for n in as_json("note", "ls", "--since", iso)] == ["new"]
    assert [n["body"] for n in as_json("note", "ls", "--until", iso)] == ["old"]
    refused = cli("note", "ls", "--since", "yesterday-ish")
    assert refused.exit_code != 0 and isinstance(refused.exception, ConfigError)


def test_note_on_the_latest_log(db: Database) -> None:
    refused = cli("note", "add", "x", "--log", "latest")
    assert refused.exit_code != 0 and "no Daily Log yet" in str(refused.exception)
    make_log(db, end=100.0)
    newest = make_log(db, end=200.0)
    ok("note", "add", "agreed: retrain pose", "--log", "latest")
    assert [n["log_id"] for n in as_json("note", "ls", "--log", str(newest))] == [newest]
    assert "not a log id" in str(cli("note", "add", "x", "--log", "yesterday").exception)


def test_note_errors_are_a_message_and_a_hint_not_a_traceback(db: Database) -> None:
    done = process("note", "add", "x", "--log", "latest")
    assert done.returncode != 0
    assert "no Daily Log yet" in done.stderr and "dailylog build" in done.stderr
    assert "Traceback" not in done.stderr
    unknown = cli("note", "add", "x", "--run", "nope")
    assert (
        isinstance(unknown.exception, NotFoundError)
        and "no run with id" in unknown.exception.message
    )
    blank = cli("note", "add", "   ")
    assert isinstance(blank.exception, ConfigError) and "needs a body" in blank.exception.message


def test_action_items_from_add_to_resolve(db: Database) -> None:
    make_run(db)
    ok("action", "add", "rerun with warmup", "--run", RUN[:6], "--body", "see step 1200")
    (item,) = as_json("action", "ls")
    assert (item["title"], item["status"], item["project"]) == ("rerun with warmup", "open", "zoo")
    assert (item["owner"], item["created_by"], item["body"]) == ("", "ana", "see step 1200")
    assigned = as_json("action", "assign", str(item["id"]), "bo")
    assert assigned["owner"] == "bo"
    assert [i["id"] for i in as_json("action", "ls", "--owner", "bo")] == [item["id"]]
    assert cli("action", "resolve", str(item["id"])).exit_code != 0  # --note is required
    ok("action", "resolve", str(item["id"]), "--note", "warmup 500 fixed it")
    again = cli("action", "resolve", str(item["id"]), "--note", "again")
    assert again.exit_code != 0 and isinstance(again.exception, ConflictError)
    assert as_json("action", "ls") == []
    (resolved,) = as_json("action", "ls", "--resolved")
    assert (resolved["resolution"], resolved["resolved_by"]) == ("warmup 500 fixed it", "ana")
    assert len(as_json("action", "ls", "--all")) == 1
    shown = ok("action", "show", str(item["id"])).stdout
    assert "warmup 500 fixed it" in shown and "bo" in shown
    assert as_json("action", "show", str(item["id"]))["status"] == "resolved"


def test_action_from_a_finding_needs_no_title(db: Database) -> None:
    make_run(db)
    finding_id = make_finding(db)
    ok("action", "add", "--finding", str(finding_id), "--owner", "cy")
    ok("action", "add", "--finding", str(finding_id))  # the same open item, not a second
    (item,) = as_json("action", "ls")
    assert item["title"].startswith("nan in resnet-lr3") and item["owner"] == "cy"
    assert "needs a title" in str(cli("action", "add").exception)
    assert isinstance(cli("action", "show", "42").exception, NotFoundError)
    assert isinstance(cli("action", "ls", "--all", "--resolved").exception, ConfigError)


def test_dataset_show_lists_its_notes(db: Database) -> None:
    make_dataset(db, "faces")
    ok("note", "add", "about every version", "--dataset", "faces")
    ok("note", "add", "about v1", "--dataset", "faces@1")
    ok("note", "add", "about v2", "--dataset", "faces@2")
    shown = as_json("dataset", "show", "faces@2")
    assert [n["body"] for n in shown["notes"]] == ["about every version", "about v2"]
    assert "about v2" in ok("dataset", "show", "faces@2").stdout
