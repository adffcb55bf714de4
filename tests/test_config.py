"""Settings precedence: flag > DAYBREAK_* env > project file > user file > default."""

from __future__ import annotations

from pathlib import Path

import pytest

from daybreak.config import get_settings, user_config_path
from daybreak.errors import ConfigError


def test_precedence(home, monkeypatch, tmp_path):
    user_file = user_config_path()
    user_file.parent.mkdir(parents=True)
    user_file.write_text('port = 1111\nhost = "0.0.0.0"\nflush_interval = 0.5\n')
    assert get_settings().port == 1111
    Path("daybreak.toml").write_text("[daybreak]\nport = 2222\n")
    assert get_settings().port == 2222 and get_settings().host == "0.0.0.0"
    monkeypatch.setenv("DAYBREAK_PORT", "3333")
    assert get_settings().port == 3333
    assert get_settings(port=4444).port == 4444
    assert get_settings().flush_interval == 0.5


def test_defaults_live_under_home(monkeypatch, tmp_path):
    monkeypatch.delenv("DAYBREAK_DB", raising=False)
    monkeypatch.setenv("DAYBREAK_HOME", str(tmp_path / "h"))
    settings = get_settings()
    assert settings.db_url == f"sqlite:///{tmp_path / 'h' / 'daybreak.db'}"
    assert settings.blobs_url == str(tmp_path / "h" / "blobs")


def test_bad_values_and_unknown_settings(home, monkeypatch):
    monkeypatch.setenv("DAYBREAK_PORT", "eighty")
    with pytest.raises(ConfigError, match="'port' from the environment"):
        get_settings()
    monkeypatch.delenv("DAYBREAK_PORT")
    Path("daybreak.toml").write_text("prot = 1\n")
    with pytest.raises(ConfigError, match="unknown setting 'prot'"):
        get_settings()
    Path("daybreak.toml").write_text("port = [\n")
    with pytest.raises(ConfigError, match="cannot parse"):
        get_settings()
