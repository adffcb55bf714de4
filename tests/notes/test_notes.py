"""The notes service: subjects, filters, time windows, and action items on real SQLite."""

from __future__ import annotations

import pytest

from daybreak.config import Settings
from daybreak.errors import ConfigError, ConflictError, NotFoundError
from daybreak.notes import service
from daybreak.store.engine import Database, get_database
from daybreak.store.schema import daily_logs, dataset_tags, dataset_versions, datasets
from daybreak.tracking import service as tracking
from daybreak.tracking.records import RunRecord
from daybreak.watchdog.findings import Finding
from daybreak.watchdog.store import record_findings

RUN = "a1b2c3d4e5f60718293a4b5c6d7e8f90"
OTHER_RUN = "ffee00112233445566778899aabbccdd"


def make_run(
    db: Database, run_id: str = RUN, name: str = "resnet-lr3", project: str = "zoo"
) -> str:
    """A stored run (no process, no metrics): all notes need is its row."""
    tracking.create_run(
        db, RunRecord(id=run_id, project=project, name=name, started_at=1.0, last_heartbeat=1.0)
    )
    return run_id


def make_dataset(db: Database, name: str, versions: int = 2, tag: str | None = None) -> None:
    """A dataset with ``versions`` version rows (and optionally a tag on the last)."""
    with db.write() as conn:
        result = conn.execute(datasets.insert().values(name=name, created_at=1.0))
        dataset_id = int(result.inserted_primary_key[0])  # type: ignore[index]
        for version in range(1, versions + 1):
            conn.execute(dataset_versions.insert().values(**_version_row(dataset_id, version)))
        if tag:
            conn.execute(
                dataset_tags.insert().values(
                    dataset_id=dataset_id, tag=tag, version=versions, created_at=1.0
                )
            )


def _version_row(dataset_id: int, version: int) -> dict[str, object]:
    return {
        "dataset_id": dataset_id,
        "version": version,
        "fingerprint": f"fp{version}",
        "predicate": "true",
        "splits": {"train": 1.0},
        "seed": 0,
        "rows": 0,
        "split_counts": {},
        "uri": "file:///nowhere",
        "created_at": 1.0,
    }


def make_log(db: Database, end: float = 100.0) -> int:
    """A stored Daily Log row for the window ending at ``end``."""
    with db.write() as conn:
        result = conn.execute(
            daily_logs.insert().values(
                window_start=end - 86400,
                window_end=end,
                timezone="UTC",
                built_at=end,
                headline="quiet night",
                content={},
            )
        )
        return int(result.inserted_primary_key[0])  # type: ignore[index]


def make_finding(db: Database, run_id: str = RUN, kind: str = "nan") -> int:
    """A stored watchdog finding about ``run_id``."""
    found = Finding(kind, "critical", 1200, "loss became NaN at step 1200", "lower the LR")
    return int(record_findings(db, run_id, [found], now=50.0)[0]["id"])


@pytest.fixture
def db(settings: Settings) -> Database:
    return get_database(settings.db_url)


# -- notes -----------------------------------------------------------------------------------


def test_each_subject_has_a_label_and_a_filter(db: Database) -> None:
    make_run(db)
    make_dataset(db, "faces")
    make_dataset(db, "faces2")
    log_id = make_log(db)
    add = service.add_note
    add(db, "lr 3e-4 helps", author="ana", run_id=RUN, now=10)
    add(db, "zoo plan", project="zoo", now=11)
    add(db, "pose-lite is fast", model="pose-lite", now=12)
    add(db, "v2 quantises badly", model="pose-lite@2", now=13)
    add(db, "faces has **dupes**", dataset="faces", now=14)
    add(db, "v2 fixed them", dataset="faces@2", now=15)
    add(db, "faces2 is unrelated", dataset="faces2@1", now=16)
    add(db, "agreed in standup", log_id=log_id, now=17)
    add(db, "team offsite friday", now=18)

    everything = service.list_notes(db)
    assert [n["subject"] for n in everything] == [
        "run a1b2c3d4 (resnet-lr3)",
        "project zoo",
        "model pose-lite",
        "model pose-lite@2",
        "dataset faces",
        "dataset faces@2",
        "dataset faces2@1",
        f"log {log_id}",
        "team",
    ]
    assert everything[0]["project"] == "zoo" and everything[0]["author"] == "ana"

    def bodies(**filters: object) -> list[str]:
        return [n["body"] for n in service.list_notes(db, **filters)]  # type: ignore[arg-type]

    assert bodies(run_id=RUN) == ["lr 3e-4 helps"]
    assert bodies(project="zoo") == ["lr 3e-4 helps", "zoo plan"]  # a run note records its project
    assert bodies(model="pose-lite") == ["pose-lite is fast", "v2 quantises badly"]
    assert bodies(model="pose-lite@2") == ["v2 quantises badly"]
    assert bodies(dataset="faces") == ["faces has **dupes**", "v2 fixed them"]
    assert bodies(dataset="faces@2") == ["v2 fixed them"]
    assert bodies(log_id=log_id) == ["agreed in standup"]
    assert bodies(project="zoo", run_id=RUN) == ["lr 3e-4 helps"]


def test_time_window_is_since_inclusive_until_exclusive(db: Database) -> None:
    for at in (10.0, 20.0, 30.0):
        service.add_note(db, f"at {at:g}", now=at)
    window = service.list_notes(db, since=20.0, until=30.0)
    assert [n["body"] for n in window] == ["at 20"]
    assert [n["body"] for n in service.list_notes(db, since=20.0)] == ["at 20", "at 30"]
    assert [n["body"] for n in service.list_notes(db, until=20.0)] == ["at 10"]


def test_dataset_filter_is_not_fooled_by_like_wildcards(db: Database) -> None:
    make_dataset(db, "a_b", versions=1)
    make_dataset(db, "axb", versions=1)
    service.add_note(db, "about axb", dataset="axb@1")
    service.add_note(db, "about a_b", dataset="a_b@1")
    assert [n["body"] for n in service.list_notes(db, dataset="a_b")] == ["about a_b"]


def test_dataset_refs_are_checked_and_tags_pinned(db: Database) -> None:
    make_dataset(db, "faces", versions=3, tag="best")
    service.add_note(db, "the tagged one", dataset="faces@best")
    assert service.list_notes(db)[0]["dataset"] == "faces@3"
    with pytest.raises(NotFoundError, match="no dataset called 'nope'") as missing:
        service.add_note(db, "x", dataset="nope")
    assert "dataset ls" in (missing.value.hint or "")
    with pytest.raises(NotFoundError, match="no version or tag '9'"):
        service.add_note(db, "x", dataset="faces@9")
    with pytest.raises(NotFoundError, match="no version or tag 'worst'"):
        service.add_note(db, "x", dataset="faces@worst")


def test_bad_notes_are_refused_and_nothing_is_written(db: Database) -> None:
    make_run(db)
    with pytest.raises(ConfigError, match="needs a body"):
        service.add_note(db, "  \n ")
    with pytest.raises(NotFoundError, match="no run with id 'nope'") as unknown:
        service.add_note(db, "x", run_id="nope")
    assert "runs ls" in (unknown.value.hint or "")
    with pytest.raises(NotFoundError, match="no Daily Log with id 7"):
        service.add_note(db, "x", log_id=7)
    with pytest.raises(ConfigError, match="one subject, got run and model"):
        service.add_note(db, "x", run_id=RUN, model="m")
    with pytest.raises(ConfigError, match="belongs to project 'zoo', not 'other'"):
        service.add_note(db, "x", run_id=RUN, project="other")
    with pytest.raises(ConfigError, match="model is blank"):
        service.add_note(db, "x", model=" ")
    assert service.list_notes(db) == []


def test_tracking_notes_go_through_the_notes_service(db: Database) -> None:
    make_run(db)
    note_id = tracking.add_note(db, "from the SDK", run_id=RUN, author="bo")
    (note,) = tracking.list_notes(db, project="zoo")
    assert note["id"] == note_id and note["run_id"] == RUN and note["subject"].startswith("run ")
    assert tracking.list_notes(db, run_id=RUN) == [note]


# -- action items ------------------------------------------------------------------------------


def test_action_item_lifecycle(db: Database) -> None:
    make_run(db)
    item_id = service.add_action_item(
        db, "rerun with warmup", body="see the spike", run_id=RUN, created_by="ana", now=5.0
    )
    item = service.get_action_item(db, item_id)
    assert (item["status"], item["project"], item["run_name"]) == ("open", "zoo", "resnet-lr3")
    assert service.assign_action_item(db, item_id, "bo")["owner"] == "bo"
    assert [i["id"] for i in service.list_action_items(db, owner="bo")] == [item_id]
    with pytest.raises(ConfigError, match="takes a note"):
        service.resolve_action_item(db, item_id, " ")
    done = service.resolve_action_item(db, item_id, "warmup 500 fixed it", by="bo", now=9.0)
    assert (done["status"], done["resolution"], done["resolved_by"], done["resolved_at"]) == (
        "resolved",
        "warmup 500 fixed it",
        "bo",
        9.0,
    )
    with pytest.raises(ConflictError, match="already resolved"):
        service.resolve_action_item(db, item_id, "again")
    with pytest.raises(ConflictError, match="already resolved"):
        service.assign_action_item(db, item_id, "cy")
    assert service.get_action_item(db, item_id)["resolution"] == "warmup 500 fixed it"
    assert service.list_action_items(db) == []
    assert [i["id"] for i in service.list_action_items(db, status="resolved")] == [item_id]


def test_action_item_lists_filter_and_order(db: Database) -> None:
    first = service.add_action_item(db, "label more hands", project="pose", owner="ana", now=2.0)
    second = service.add_action_item(db, "fix the loader", owner="bo", now=1.0)
    third = service.add_action_item(db, "old thing", now=3.0)
    service.resolve_action_item(db, third, "done")
    assert [i["id"] for i in service.list_action_items(db)] == [second, first]
    assert [i["id"] for i in service.list_action_items(db, status=None)] == [second, first, third]
    assert [i["id"] for i in service.list_action_items(db, project="pose")] == [first]
    assert [i["id"] for i in service.list_action_items(db, owner="nobody")] == []
    with pytest.raises(ConfigError, match="unknown status 'closed'"):
        service.list_action_items(db, status="closed")


def test_bad_action_items_are_refused(db: Database) -> None:
    with pytest.raises(ConfigError, match="needs a title"):
        service.add_action_item(db, "")
    with pytest.raises(NotFoundError, match="no run with id"):
        service.add_action_item(db, "x", run_id="nope")
    with pytest.raises(NotFoundError, match="no finding with id 4"):
        service.add_action_item(db, "x", finding_id=4)
    with pytest.raises(NotFoundError, match="no action item with id 99") as missing:
        service.get_action_item(db, 99)
    assert "action ls --all" in (missing.value.hint or "")
    with pytest.raises(NotFoundError):
        service.resolve_action_item(db, 99, "done")
    item_id = service.add_action_item(db, "x")
    with pytest.raises(ConfigError, match="owner is blank"):
        service.assign_action_item(db, item_id, "")
    assert [i["id"] for i in service.list_action_items(db)] == [item_id]


def test_a_finding_has_one_open_action_item(db: Database) -> None:
    make_run(db)
    finding_id = make_finding(db)
    item_id = service.action_item_from_finding(db, finding_id, owner="ana", created_by="cy")
    item = service.get_action_item(db, item_id)
    assert item["title"] == "nan in resnet-lr3: loss became NaN at step 1200"
    assert (item["body"], item["run_id"], item["project"]) == ("lower the LR", RUN, "zoo")
    assert (item["owner"], item["created_by"], item["finding_id"]) == ("ana", "cy", finding_id)
    assert service.action_item_from_finding(db, finding_id) == item_id
    with pytest.raises(ConflictError, match=f"already has an open action item \\({item_id}\\)"):
        service.add_action_item(db, "my own title", finding_id=finding_id)
    service.resolve_action_item(db, item_id, "lowered it")
    again = service.action_item_from_finding(db, finding_id)  # it came back after the fix
    assert again != item_id
    with pytest.raises(NotFoundError, match="no finding with id 999"):
        service.action_item_from_finding(db, 999)


def test_an_item_with_a_title_takes_its_run_from_the_finding(db: Database) -> None:
    make_run(db)
    finding_id = make_finding(db)
    item_id = service.add_action_item(db, "look at the data", finding_id=finding_id)
    item = service.get_action_item(db, item_id)
    assert (item["run_id"], item["project"], item["title"]) == (RUN, "zoo", "look at the data")
