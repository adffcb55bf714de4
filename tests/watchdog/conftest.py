"""The jobs tests' project folder and agent, for the watchdog's restart tests."""

from tests.jobs.conftest import project, start_agent  # noqa: F401
