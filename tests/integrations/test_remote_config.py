"""Hyperparameters a logger learns after the run started reach a run on a server too."""

from __future__ import annotations

import daybreak
from daybreak.integrations._common import update_config
from tests.tracking.test_remote import client_env


def test_a_late_config_reaches_the_server(settings, server, monkeypatch, tmp_path):
    client_env(monkeypatch, tmp_path, server)
    run = daybreak.init(project="remote", config={"a": 1}, system_metrics=False)
    update_config(run, {"lr": 0.1, "model": {"width": 32}})
    run.finish()
    assert daybreak.get_run(run.id).config == {"a": 1, "lr": 0.1, "model": {"width": 32}}
    assert "config" not in daybreak.get_run(run.id).record.summary
