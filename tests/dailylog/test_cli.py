"""``daybreak dailylog`` through the CLI: build, show, ls, webhooks, deliveries, bad input."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from daybreak.cli.main import app, main
from tests.dailylog.conftest import END, START


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


def test_build_show_ls(settings, night, tmp_path):
    night()
    built = invoke("dailylog", "build", "--until", "2026-11-20T09:30", "--format", "json")
    assert built.exit_code == 0, built.output
    log = json.loads(built.output)
    assert (log["window_start"], log["window_end"]) == (START, END)
    shown = invoke("dailylog", "show", "latest", "--format", "text")
    assert shown.exit_code == 0 and log["headline"] in shown.output
    terminal = invoke("dailylog", "show", str(log["id"]))
    assert terminal.exit_code == 0 and "Problems" in terminal.output
    page = tmp_path / "log.html"
    wrote = invoke("dailylog", "show", "latest", "--format", "html", "--out", str(page))
    assert wrote.exit_code == 0 and page.read_text().startswith("<!doctype html>")
    listed = invoke("dailylog", "ls", "--json")
    assert [row["id"] for row in json.loads(listed.output)] == [log["id"]]
    assert "divergence" in invoke("dailylog", "ls").output
    again = invoke(
        "dailylog", "build", "--since", str(START), "--until", str(END), "--format", "json"
    )
    assert json.loads(again.output)["id"] == log["id"]  # one log per window


def test_build_send_and_deliveries(settings, night, hook):
    night()
    added = invoke("dailylog", "webhook", "add", "team", hook.url, "--format", "slack")
    assert added.exit_code == 0, added.output
    listed = json.loads(invoke("dailylog", "webhook", "ls", "--json").output)
    assert [(w["name"], w["format"]) for w in listed] == [("team", "slack")]
    sent = invoke("dailylog", "build", "--until", str(END), "--send", "--format", "text")
    assert sent.exit_code == 0, sent.output
    assert hook.json()["blocks"] and "sent" in sent.output
    rows = json.loads(invoke("dailylog", "deliveries", "--json").output)
    assert [(r["target"], r["status"]) for r in rows] == [("team", "sent")]
    assert invoke("dailylog", "webhook", "rm", "team").exit_code == 0
    assert json.loads(invoke("dailylog", "webhook", "ls", "--json").output) == []


def test_a_failed_delivery_is_shown_and_retried(settings, night, hook):
    night()
    invoke("dailylog", "webhook", "add", "team", hook.url, "--format", "teams")
    hook.script = [(400, {}, 0.0)]
    failed = invoke("dailylog", "build", "--until", str(END), "--send", "--format", "json")
    assert failed.exit_code == 1 and "HTTP 400" in failed.output
    shown = invoke("dailylog", "deliveries")
    assert "failed" in shown.output and "--retry" in shown.output
    retried = invoke("dailylog", "deliveries", "--retry", "--json")
    assert [r["status"] for r in json.loads(retried.output)] == ["sent"]
    assert hook.json()["type"] == "message"


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["dailylog", "build", "--since", "last tuesday"], "cannot read --since"),
        (["dailylog", "build", "--since", str(END), "--until", str(START)], "before --until"),
        (["dailylog", "build", "--format", "pdf"], "unknown format 'pdf'"),
        (["dailylog", "build", "--until", "4000000000"], "future"),
        (["dailylog", "show", "42"], "no Daily Log #42"),
        (["dailylog", "show", "yesterday"], "not a Daily Log id"),
        (["dailylog", "webhook", "add", "team", "not-a-url", "--format", "slack"], "not an http"),
        (["dailylog", "webhook", "add", "team", "https://x.test/h", "--format", "fax"], "fax"),
        (["dailylog", "webhook", "rm", "nope"], "no webhook named"),
        (["dailylog", "build", "--send", "--until", str(END)], "no webhook to send to"),
    ],
)
def test_bad_input_is_a_clear_error(settings, args, says, capsys):
    with pytest.raises(SystemExit) as exited:
        main(args)
    assert exited.value.code != 0
    err = capsys.readouterr().err
    assert "error:" in err and says in err and "hint:" in err


def test_a_bad_time_zone_is_a_clear_error(home, monkeypatch, capsys):
    monkeypatch.setenv("DAYBREAK_TIMEZONE", "Europe/Atlantis")
    with pytest.raises(SystemExit) as exited:
        main(["dailylog", "build"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "Europe/Atlantis" in err and "IANA" in err
