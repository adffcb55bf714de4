"""The REST API fuzzed from its own OpenAPI schema (schemathesis): no 500s, no hangs.

Every operation gets the same number of generated requests, derandomized so that CI runs the
same cases each time; each call has a deadline, and a call that misses it counts as a hang."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import daybreak

schemathesis = pytest.importorskip("schemathesis", reason="fuzzing needs schemathesis (dev extra)")
from hypothesis import HealthCheck, given, settings  # noqa: E402

# CI runs the same 20 cases per operation each time; to explore, run with e.g.
# FUZZ_EXAMPLES=200 FUZZ_RANDOM=1 (new cases every run).
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "20"))
RANDOM = os.environ.get("FUZZ_RANDOM") == "1"
DEADLINE_S = 20.0


def _seed(home: Path) -> str:
    run = daybreak.init(
        project="fuzz", name="seed", config={"lr": 0.1}, system_metrics=False, capture_output=False
    )
    for step in range(50):
        run.log({"loss": 1.0 / (step + 1)}, step=step)
    run.finish()
    return run.id


def test_no_operation_answers_500_or_hangs(server: str, home: Path) -> None:
    _seed(home)
    schema = schemathesis.openapi.from_url(f"{server}/openapi.json")
    problems: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=not RANDOM,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def call(case: schemathesis.Case) -> None:
            try:
                response = case.call(timeout=DEADLINE_S)
            except Exception as exc:  # a timeout is a hang; a dropped connection a crash
                problems.append(f"{case.operation.label}: {type(exc).__name__}: {exc}")
                return
            if response.status_code >= 500:
                problems.append(
                    f"{case.operation.label} -> {response.status_code}: {response.text[:300]}\n"
                    f"  {case.as_curl_command()}"
                )

        call()
    assert operations > 60, f"only {operations} operations in the schema"
    assert not problems, "\n".join(problems[:20])
