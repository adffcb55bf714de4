"""The runs table: its query over the store (filters, sort, groups, pages, lazy columns) and
its page, fragment and JSON through a real server. Runs are made straight through the
tracking service (``put_run``), which the home page tests use too."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from daybreak.config import Settings
from daybreak.store.engine import get_database
from daybreak.tracking import service
from daybreak.tracking.records import RUNNING, KeyStats, RunRecord
from daybreak.tracking.run_filter import RunFilterError, parse_filter, parse_seconds
from daybreak.tracking.run_query import TableQuery, available_columns, table

XSS = "<script>alert(1)</script>"


def put_run(
    settings: Settings,
    run_id: str,
    project: str = "p",
    status: str = "finished",
    config: dict[str, Any] | None = None,
    metrics: dict[str, float] | None = None,
    tags: list[str] | None = None,
    started_at: float | None = None,
    ended_at: float | None = None,
    name: str | None = None,
    host: str = "box",
    step: int = 10,
    error: str | None = None,
) -> str:
    """A run with exactly these fields and metric last values, through the service layer."""
    db = get_database(settings.db_url)
    now = time.time()
    start = now - 3600 if started_at is None else started_at
    record = RunRecord(
        id=run_id,
        project=project,
        name=name or run_id,
        config=config or {},
        tags=tags or [],
        started_at=start,
        last_heartbeat=now,
        host=host,
    )
    service.create_run(db, record)
    stats = {
        key: KeyStats(count=step + 1, last=value, last_step=step, first_ts=start, last_ts=now)
        for key, value in (metrics or {}).items()
    }
    service.index_metrics(db, run_id, stats, heartbeat=now)
    if status != RUNNING:
        end = ended_at if ended_at is not None else start + 600
        service.finish_run(db, run_id, status, end, error=error)
    return run_id


@pytest.fixture
def twelve(settings: Settings) -> Settings:
    """12 runs in 3 projects: lr 0.1/0.01/0.001/0.0001, cnn or mlp, tags, val/acc i/12."""
    now = time.time()
    for i in range(12):
        put_run(
            settings,
            f"run{i:02d}",
            project=("vision", "pose", "text")[i % 3],
            status=RUNNING if i == 0 else ("failed" if i % 5 == 0 else "finished"),
            config={
                "lr": 10.0 ** -(1 + i % 4),
                "model": "cnn" if i % 2 else "mlp",
                "amp": i % 3 == 0,
                "opt": {"beta": i},
            },
            metrics={"val/acc": i / 12, "train/loss": 1 - i / 12, "sys/gpu0/util_percent": 50.0},
            tags=["odd"] if i % 2 else ["even", "base line"],
            started_at=now - 10_000 + i * 100,
            ended_at=now - 9_000 + i * 100 + i * 10,
        )
    return settings


def ids(settings: Settings, **query: Any) -> list[str]:
    page = table(get_database(settings.db_url), TableQuery(**query))
    return [row["id"] for row in page.rows]


def test_filters_by_project_status_tag_text_config_and_metrics(twelve: Settings) -> None:
    assert ids(twelve, filter="project:pose") == ["run10", "run07", "run04", "run01"]
    assert ids(twelve, filter="project:pose project:text") == [
        "run11",
        "run10",
        "run08",
        "run07",
        "run05",
        "run04",
        "run02",
        "run01",
    ]
    assert ids(twelve, filter="status:running,failed") == ["run10", "run05", "run00"]
    assert ids(twelve, filter="tag:odd project:vision") == ["run09", "run03"]
    assert ids(twelve, filter='"tag:base line" status:failed') == ["run10"]
    assert ids(twelve, filter="tag!=odd config.lr>=0.01 val/acc>0.5") == ["run08"]
    assert ids(twelve, filter="config.model=cnn config.lr<0.005") == ["run11", "run07", "run03"]
    assert ids(twelve, filter="config.amp=true metric.val/acc>=0.5") == ["run09", "run06"]
    assert ids(twelve, filter="config.opt.beta>9") == ["run11", "run10"]
    assert ids(twelve, filter="config.model~CN val/acc<=0.25") == ["run03", "run01"]
    assert ids(twelve, filter="config.missing!=3 run1") == ["run11", "run10"]
    assert ids(twelve, filter="duration>=1100 duration<19m") == ["run11", "run10"]
    assert ids(twelve, filter="train/loss=0.5") == ["run06"]
    assert ids(twelve, filter="nothing-matches") == []


def test_sorts_by_any_column_and_pages(twelve: Settings) -> None:
    assert ids(twelve, sort="metric.val/acc", descending=False, page_size=3) == [
        "run00",
        "run01",
        "run02",
    ]
    assert ids(twelve, sort="config.opt.beta", page_size=3, page=2) == ["run08", "run07", "run06"]
    assert ids(twelve, sort="name", descending=False, page_size=2, page=6) == ["run10", "run11"]
    by_lr = ids(twelve, sort="config.lr", descending=False, filter="project:vision")
    assert by_lr == ["run03", "run06", "run09", "run00"]
    page = table(get_database(twelve.db_url), TableQuery(page_size=5, page=99))
    assert (page.total, page.pages, page.query.page, len(page.rows)) == (12, 3, 3, 2)


def test_groups_with_counts_and_rows_in_group_order(twelve: Settings) -> None:
    db = get_database(twelve.db_url)
    page = table(db, TableQuery(group_by="config.lr", sort="metric.val/acc"))
    assert [g["count"] for g in page.groups or []] == [3, 3, 3, 3]
    assert [float(g["value"]) for g in page.groups or []] == [0.0001, 0.001, 0.01, 0.1]
    assert [r["id"] for r in page.rows[:3]] == ["run11", "run07", "run03"]
    by_status = table(db, TableQuery(group_by="status", filter="project:vision"))
    assert by_status.groups == [
        {"value": "finished", "count": 3},
        {"value": "running", "count": 1},
    ]
    flags = table(db, TableQuery(group_by="config.amp"))
    assert flags.groups == [{"value": "false", "count": 8}, {"value": "true", "count": 4}]


def test_only_the_asked_for_columns_are_read(twelve: Settings) -> None:
    db = get_database(twelve.db_url)
    page = table(db, TableQuery(columns=["name", "config.opt.beta", "metric.val/acc"], page_size=2))
    assert [c.id for c in page.columns] == ["name", "config.opt.beta", "metric.val/acc"]
    assert page.rows[0]["values"] == {
        "name": "run11",
        "config.opt.beta": 11,
        "metric.val/acc": 11 / 12,
    }
    assert "config" not in page.rows[0] and "summary" not in page.rows[0]
    default = table(db, TableQuery(project="pose"))
    assert [c.id for c in default.columns] == [
        "name",
        "status",
        "started",
        "duration",
        "tags",
        "metric.train/loss",
        "metric.val/acc",
    ]
    offered = available_columns(db, TableQuery(filter="project:pose"))
    assert offered["config"] == ["amp", "lr", "model", "opt.beta"]
    assert offered["metric"] == ["train/loss", "val/acc", "sys/gpu0/util_percent"]


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("status:nope", "unknown status 'nope'"),
        ("val/acc>high", "compared with numbers"),
        ("config.lr>x", "compares numbers"),
        ("'unclosed", "does not parse"),
        (">3", "no field before"),
        ("config.lr=", "no value"),
        ("started>yesterday", "not a date"),
        ("duration>3x", "not a duration"),
        ("name>4", "compares with = != or ~"),
    ],
)
def test_malformed_filters_say_what_is_wrong(text: str, says: str) -> None:
    with pytest.raises(RunFilterError) as caught:
        parse_filter(text)
    assert says in caught.value.message and caught.value.hint
    assert caught.value.http_status == 400


def test_filter_parsing_details() -> None:
    parsed = parse_filter('resnet project:a,b "config.note=two words" tag:x status:FAILED')
    assert parsed.words == ["resnet"] and parsed.projects == ["a", "b"] and parsed.tags == ["x"]
    assert parsed.statuses == ["failed"]
    assert [(c.field.id, c.op, c.value) for c in parsed.conditions] == [
        ("config.note", "=", "two words")
    ]
    assert parse_seconds("1h30m") == 5400 and parse_seconds("90") == 90


def test_table_json_api(twelve: Settings, server: str) -> None:
    response = httpx.get(
        server + "/api/runs-table",
        params={
            "q": "project:vision",
            "sort": "config.lr",
            "desc": "0",
            "size": "2",
            "cols": "name,config.lr,metric.val/acc",
            "group": "status",
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["total"], body["pages"], body["page"]) == (4, 2, 1)
    assert [c["id"] for c in body["columns"]] == ["name", "config.lr", "metric.val/acc"]
    assert body["groups"] == [{"value": "finished", "count": 3}, {"value": "running", "count": 1}]
    assert [r["id"] for r in body["rows"]] == ["run03", "run06"]
    assert body["rows"][0]["values"]["config.lr"] == 0.0001
    columns = httpx.get(server + "/api/runs-columns", params={"project": "text"}).json()
    assert "opt.beta" in columns["config"] and "val/acc" in columns["metric"]


@pytest.mark.parametrize(
    "params",
    [
        {"q": "status:nope"},
        {"page": "abc"},
        {"size": "100000"},
        {"desc": "maybe"},
        {"group": "val/acc"},
        {"sort": "config."},
        {"page": "0"},
    ],
)
def test_bad_parameters_are_clear_json_400s(home: Any, server: str, params: dict[str, str]) -> None:
    response = httpx.get(server + "/api/runs-table", params=params)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "RunFilterError" and error["message"] and error["hint"]


def test_pages_render_the_table_and_errors_as_html(twelve: Settings, server: str) -> None:
    page = httpx.get(server + "/runs", params={"q": "project:pose", "size": "2"})
    assert page.status_code == 200
    assert 'data-total="4"' in page.text and 'data-pages="2"' in page.text
    assert '<span class="badge finished">finished</span>' in page.text
    assert 'href="/runs?q=project%3Apose&amp;size=2&amp;page=2"' in page.text
    scoped = httpx.get(server + "/projects/pose")
    assert (
        'data-columns="name,status,started,duration,tags,metric.train/loss,metric.val/acc"'
        in scoped.text
    )
    fragment = httpx.get(server + "/projects/pose/runs-table", params={"group": "status"})
    assert (
        fragment.text.lstrip().startswith('<div class="runs-table"')
        and "<html" not in fragment.text
    )
    assert 'class="group-row' in fragment.text and 'data-groups="2"' in fragment.text
    bad = httpx.get(server + "/runs", params={"q": "val/acc>high"}, headers={"Accept": "text/html"})
    assert bad.status_code == 400 and bad.headers["content-type"].startswith("text/html")
    assert "is compared with numbers" in bad.text and 'id="runs-error" role="alert">' in bad.text
    assert 'value="val/acc&gt;high"' in bad.text and "Traceback" not in bad.text
    bad_fragment = httpx.get(server + "/runs-table", params={"size": "x"})
    assert bad_fragment.status_code == 400 and "not a whole number" in bad_fragment.text
    missing = httpx.get(server + "/projects/nope")
    assert missing.status_code == 404 and "no project named" in missing.text
    assert httpx.get(server + "/projects/nope/runs-table").status_code == 404


def test_everything_user_typed_is_escaped(settings: Settings, server: str) -> None:
    put_run(settings, "xss1", name=XSS, config={"note": XSS}, tags=[XSS], project="p")
    for path, params in [
        ("/runs", {"cols": "name,tags,config.note"}),
        ("/projects/p/runs-table", {"group": "config.note"}),
        ("/runs", {"q": XSS}),
    ]:
        text = httpx.get(server + path, params=params).text
        assert XSS not in text, path
        assert "&lt;script&gt;" in text, path
