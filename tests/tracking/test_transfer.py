"""Runs JSONL export and import: exact round trips (NaN and infinities included), many runs
per file, and corrupt files that are refused with the line number and leave nothing behind."""

from __future__ import annotations

import io
import itertools
import json
import math
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import daybreak
from daybreak.config import Settings, get_settings
from daybreak.errors import ConflictError, ImportFormatError, NotFoundError
from daybreak.tracking import transfer
from daybreak.tracking.readers import LocalBackend

PG_ADMIN_URL = os.environ.get("DAYBREAK_TEST_DB", "")
RECORD_FIELDS = (*transfer.RUN_FIELDS, "error", "git", "host", "command", "attempts")


def make_run(name: str, steps: int = 20, fail: bool = False, **config: object) -> str:
    run = daybreak.init(
        project="p",
        name=name,
        config={"lr": 0.1, "model": {"depth": 3}, **config},
        tags=["nightly", name],
        system_metrics=False,
        capture_output=False,
    )
    for i in range(steps):
        loss = math.nan if i == 3 else 1.0 / (i + 1)
        run.log({"train/loss": loss, "val/acc": i / steps}, step=i)
    run.log({"weird": math.inf}, step=0)
    run.log({"weird": -math.inf}, step=1)
    run.log({"weird": math.nan}, step=2)
    run.log({"weird": 1e-310}, step=3)
    run.summary["best"] = 0.25
    if fail:
        run.finish("failed", "Traceback: boom")
    else:
        run.finish()
    return run.id


def export_text(settings: Settings, run_ids: list[str]) -> str:
    out = io.StringIO()
    transfer.export_runs(LocalBackend(settings), run_ids, out)
    return out.getvalue()


def import_text(
    settings: Settings, text: str, project: str | None = None, new_ids: bool = False
) -> transfer.TransferResult:
    return transfer.import_runs(settings, io.BytesIO(text.encode()), project, new_ids)


def assert_same_run(a: Settings, b: Settings, run_id: str) -> None:
    left, right = (
        daybreak.get_run(run_id, home=a.home, db=a.db),
        daybreak.get_run(run_id, home=b.home, db=b.db),
    )
    for field in RECORD_FIELDS:
        assert getattr(left.record, field) == getattr(right.record, field), field
    assert left.metric_keys() == right.metric_keys()
    for key in left.metric_keys():
        one, two = left.history(key), right.history(key)
        np.testing.assert_array_equal(one.steps, two.steps)
        np.testing.assert_array_equal(one.timestamps, two.timestamps)
        np.testing.assert_array_equal(one.values, two.values)  # NaN == NaN here
        assert one.values.tobytes() == two.values.tobytes()
    index_a, index_b = left.metrics(), right.metrics()
    for key, stats in index_a.items():
        other = index_b[key]
        assert (stats.count, stats.nonfinite, stats.last_step) == (
            other.count,
            other.nonfinite,
            other.last_step,
        )
        np.testing.assert_array_equal(
            [stats.last, stats.min, stats.max], [other.last, other.min, other.max]
        )


def assert_empty(settings: Settings) -> None:
    """No run rows, no run folders, no staging left behind."""
    assert LocalBackend(settings).list_runs() == []
    assert not settings.runs_dir.exists() or list(settings.runs_dir.iterdir()) == []
    staging = settings.home / "tmp"
    assert not staging.exists() or list(staging.iterdir()) == []


@pytest.fixture
def other_home(tmp_path: Path, home: Path) -> Iterator[Settings]:
    """A second, empty Daybreak home and database to import into."""
    folder = tmp_path / "other"
    folder.mkdir()
    if not PG_ADMIN_URL:
        yield get_settings(home=folder, db=f"sqlite:///{folder / 'daybreak.db'}")
        return
    import sqlalchemy as sa

    name = f"dbk_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield get_settings(home=folder, db=PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}")
    from daybreak.store.engine import forget_databases

    forget_databases()
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


# -- round trips ---------------------------------------------------------------------------


def test_round_trip_into_a_fresh_home_is_exact(settings: Settings, other_home: Settings) -> None:
    ids = [make_run("a"), make_run("b", fail=True, lr=0.5)]
    text = export_text(settings, ids)
    result = import_text(other_home, text)
    assert result.run_ids == ids
    assert result.points == sum(
        len(daybreak.get_run(i).history(k)) for i in ids for k in daybreak.get_run(i).metric_keys()
    )
    for run_id in ids:
        assert_same_run(settings, other_home, run_id)
    failed = daybreak.get_run(ids[1], home=other_home.home, db=other_home.db)
    assert failed.status == "failed"
    assert failed.error == "Traceback: boom"
    assert failed.config == {"lr": 0.5, "model": {"depth": 3}}
    assert failed.summary == {"best": 0.25}
    assert failed.tags == ["nightly", "b"]
    weird = failed.history("weird").values
    assert math.isinf(weird[0]) and weird[0] > 0
    assert math.isinf(weird[1]) and weird[1] < 0
    assert math.isnan(weird[2])
    assert weird[3] == 1e-310


def test_export_of_an_import_is_the_same_file(settings: Settings, other_home: Settings) -> None:
    ids = [make_run("a")]
    text = export_text(settings, ids)
    import_text(other_home, text)
    assert export_text(other_home, ids) == text


def test_file_format_is_run_line_then_its_points(settings: Settings) -> None:
    ids = [make_run("a", steps=5), make_run("b", steps=7), make_run("c", steps=2)]
    lines = export_text(settings, ids).splitlines()
    run_lines = [i for i, line in enumerate(lines) if line.startswith('{"run"')]
    assert len(run_lines) == 3
    assert run_lines[0] == 0
    runs = [json.loads(lines[i])["run"] for i in run_lines]
    assert [r["id"] for r in runs] == ids
    for run in runs:
        assert set(transfer.RUN_FIELDS) <= set(run)
    bounds = [*run_lines, len(lines)]
    expected = [5 * 2 + 4, 7 * 2 + 4, 2 * 2 + 4]
    for n, (start, stop) in enumerate(itertools.pairwise(bounds)):
        points = [json.loads(line) for line in lines[start + 1 : stop]]
        assert len(points) == expected[n]
        assert all(set(p) == {"key", "step", "ts", "value"} for p in points)
    assert any(line.endswith('"value": NaN}') for line in lines)
    assert any('"value": Infinity' in line for line in lines)
    assert any('"value": -Infinity' in line for line in lines)


def test_many_runs_in_one_file_import_together(settings: Settings, other_home: Settings) -> None:
    ids = [make_run(f"r{i}", steps=3 + i) for i in range(4)]
    result = import_text(other_home, export_text(settings, ids))
    assert sorted(result.run_ids) == sorted(ids)
    assert {r.id for r in LocalBackend(other_home).list_runs()} == set(ids)
    for run_id in ids:
        assert_same_run(settings, other_home, run_id)


def test_chunked_writes_keep_every_point(
    settings: Settings, other_home: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(transfer, "CHUNK", 7)  # exercise chunk edges without a huge run
    ids = [make_run("a", steps=50)]
    text = export_text(settings, ids)
    result = import_text(other_home, text)
    assert result.points == 50 * 2 + 4
    assert_same_run(settings, other_home, ids[0])


def test_export_to_a_file_and_import_from_it(
    settings: Settings, other_home: Settings, tmp_path: Path
) -> None:
    ids = [make_run("a")]
    path = tmp_path / "runs.jsonl"
    seen: list[int] = []
    result = transfer.export_file(LocalBackend(settings), ids, path, seen.append)
    assert result.points == sum(seen) == transfer.count_points(LocalBackend(settings), ids)
    read: list[int] = []
    with path.open("rb") as source:
        transfer.import_runs(other_home, source, progress=read.append)
    assert sum(read) == path.stat().st_size
    assert_same_run(settings, other_home, ids[0])
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".partial")] == []


def test_failed_export_leaves_no_file(settings: Settings, tmp_path: Path) -> None:
    ids = [make_run("a"), "nosuchrun"]
    path = tmp_path / "runs.jsonl"
    with pytest.raises(NotFoundError):
        transfer.export_file(LocalBackend(settings), ids, path)
    assert list(tmp_path.glob("*runs.jsonl*")) == []


def test_export_into_a_missing_folder_is_a_clear_error(settings: Settings, tmp_path: Path) -> None:
    ids = [make_run("a")]
    with pytest.raises(NotFoundError, match="no folder"):
        transfer.export_file(LocalBackend(settings), ids, tmp_path / "nope" / "runs.jsonl")


def test_select_runs_by_prefix_or_project(settings: Settings) -> None:
    ids = [make_run("a"), make_run("b")]
    store = LocalBackend(settings)
    assert transfer.select_runs(store, [ids[0][:6], ids[0]], None) == [ids[0]]
    assert sorted(transfer.select_runs(store, [], "p")) == sorted(ids)
    with pytest.raises(NotFoundError):
        transfer.select_runs(store, [], "nope")
    with pytest.raises(daybreak.DaybreakError):
        transfer.select_runs(store, [ids[0]], "p")
    with pytest.raises(daybreak.DaybreakError):
        transfer.select_runs(store, [], None)


# -- hand-written files ----------------------------------------------------------------------

RUN = {
    "id": "abc123",
    "project": "p",
    "name": "hand",
    "config": {"lr": 0.1},
    "tags": [],
    "status": "finished",
    "started_at": 1000.0,
    "ended_at": 1010.0,
    "last_heartbeat": 1010.0,
    "summary": {},
}


def run_line(**changes: object) -> str:
    return json.dumps({"run": {**RUN, **changes}})


def test_nonfinite_tokens_and_strings_are_accepted(settings: Settings) -> None:
    values = ["NaN", '"NaN"', "Infinity", '"Infinity"', "-Infinity", '"-Infinity"', "1.5", "2"]
    lines = [run_line()] + [
        f'{{"key": "v", "step": {i}, "ts": {1000 + i}, "value": {v}}}' for i, v in enumerate(values)
    ]
    result = import_text(settings, "\n".join(lines) + "\n")
    assert result.run_ids == ["abc123"] and result.points == len(values)
    got = daybreak.get_run("abc123").history("v").values
    np.testing.assert_array_equal(
        got, [math.nan, math.nan, math.inf, math.inf, -math.inf, -math.inf, 1.5, 2.0]
    )
    stats = daybreak.get_run("abc123").metrics()["v"]
    assert (stats.count, stats.nonfinite, stats.min, stats.max, stats.last) == (8, 6, 1.5, 2.0, 2.0)


def test_import_into_a_project_and_with_new_ids(settings: Settings) -> None:
    text = run_line() + '\n{"key": "v", "step": 0, "ts": 1, "value": 3}\n'
    import_text(settings, text)
    with pytest.raises(ConflictError, match=r"abc123.*already exists"):
        import_text(settings, text)
    again = import_text(settings, text, project="q", new_ids=True)
    (new_id,) = again.run_ids
    assert new_id != "abc123"
    copy = daybreak.get_run(new_id)
    assert copy.project == "q" and copy.name == "hand"
    np.testing.assert_array_equal(copy.history("v").values, [3.0])
    assert len(LocalBackend(settings).list_runs()) == 2


def test_existing_id_is_refused_and_untouched(settings: Settings) -> None:
    ids = [make_run("a")]
    text = export_text(settings, ids)
    before = daybreak.get_run(ids[0]).history("train/loss")
    with pytest.raises(ConflictError) as info:
        import_text(settings, text)
    assert "--new-ids" in (info.value.hint or "")
    after = daybreak.get_run(ids[0]).history("train/loss")
    np.testing.assert_array_equal(before.values, after.values)
    assert [r.id for r in LocalBackend(settings).list_runs()] == ids


def test_later_conflict_rolls_back_earlier_runs(settings: Settings) -> None:
    import_text(settings, run_line(id="taken") + "\n")
    text = (
        run_line(id="fresh")
        + '\n{"key": "v", "step": 0, "ts": 1, "value": 3}\n'
        + run_line(id="taken")
        + "\n"
    )
    with pytest.raises(ConflictError, match="line 3"):
        import_text(settings, text)
    assert [r.id for r in LocalBackend(settings).list_runs()] == ["taken"]
    assert not (settings.runs_dir / "fresh").exists()


POINT = '{"key": "v", "step": 0, "ts": 1.0, "value": 1.0}'
CORRUPT = [
    ("bad json", [run_line(), POINT, '{"key": "v", "step": 1,'], 3, "not valid JSON"),
    ("point first", [POINT, run_line()], 1, "before any run line"),
    (
        "run missing field",
        [run_line(), POINT, json.dumps({"run": {k: v for k, v in RUN.items() if k != "status"}})],
        3,
        "missing field 'status'",
    ),
    (
        "point missing value",
        [run_line(), '{"key": "v", "step": 1, "ts": 1.0}'],
        2,
        "missing field 'value'",
    ),
    (
        "non-numeric value",
        [run_line(), POINT, '{"key": "v", "step": 1, "ts": 1.0, "value": "abc"}'],
        3,
        "non-numeric value 'abc'",
    ),
    (
        "boolean value",
        [run_line(), '{"key": "v", "step": 1, "ts": 1.0, "value": true}'],
        2,
        "non-numeric value True",
    ),
    (
        "non-numeric step",
        [run_line(), '{"key": "v", "step": "one", "ts": 1.0, "value": 1}'],
        2,
        "step 'one'",
    ),
    (
        "non-numeric ts",
        [run_line(), '{"key": "v", "step": 1, "ts": null, "value": 1}'],
        2,
        "non-numeric ts None",
    ),
    ("bad key", [run_line(), '{"key": "../x", "step": 1, "ts": 1.0, "value": 1}'], 2, "metric key"),
    ("not an object", [run_line(), "[1, 2]"], 2, "must be a JSON object"),
    ("neither", [run_line(), '{"hello": 1}'], 2, "neither a run line"),
    ("bad status", [run_line(status="great")], 1, "'status' must be one of"),
    ("bad id", [run_line(id="../../etc")], 1, "'id' must be"),
    ("bad config", [run_line(config=[1])], 1, "'config' must be an object"),
    ("repeated run", [run_line(), POINT, run_line()], 3, "repeats run 'abc123'"),
    (
        "second run corrupt",
        [run_line(), POINT, POINT, run_line(id="other"), POINT, "{oops"],
        6,
        "not valid JSON",
    ),
]


@pytest.mark.parametrize(
    ("lines", "number", "what"), [c[1:] for c in CORRUPT], ids=[c[0] for c in CORRUPT]
)
def test_corrupt_file_names_the_line_and_imports_nothing(
    settings: Settings, lines: list[str], number: int, what: str
) -> None:
    with pytest.raises(ImportFormatError) as info:
        import_text(settings, "\n".join(lines) + "\n")
    assert info.value.message.startswith(f"line {number} ")
    assert what in info.value.message
    assert info.value.hint
    assert_empty(settings)


def test_empty_file_is_refused(settings: Settings) -> None:
    with pytest.raises(ImportFormatError, match="no runs"):
        import_text(settings, "\n\n")
    assert_empty(settings)


def test_blank_lines_and_crlf_are_fine(settings: Settings) -> None:
    text = run_line() + "\r\n\r\n" + POINT + "\r\n"
    assert import_text(settings, text).points == 1
