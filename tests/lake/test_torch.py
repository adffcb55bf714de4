"""TorchDataset: the right bytes for each row, through DataLoader workers (fork and spawn)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from daybreak.lake import datasets
from daybreak.lake.ingest import ingest
from daybreak.lake.tables import Lake
from daybreak.lake.torch import TorchDataset
from tests.lake.test_lake import make_images

torch = pytest.importorskip("torch")


@pytest.fixture
def pets(settings, tmp_path):
    lake = Lake(settings)
    make_images(tmp_path / "data", {"cat": 12, "dog": 9})
    ingest(lake, [tmp_path / "data"], folder_labels=True)
    return datasets.create(lake, settings, "pets", "TRUE", {"train": 0.7, "val": 0.3})


def to_tensor(image):
    import numpy as np

    return torch.from_numpy(np.asarray(image.resize((16, 16)), dtype=np.uint8).copy())


def sha(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def test_rows_come_back_with_their_own_bytes_and_labels(settings, pets):
    train = TorchDataset("pets@1", split="train", decode=False, settings=settings)
    val = TorchDataset("pets", split="val", decode=False, settings=settings)
    assert len(train) + len(val) == 21 and len(train) == pets.split_counts["train"]
    assert train.classes == ["cat", "dog"]
    batch = train.__getitems__(list(range(len(train)))[::-1])
    assert [sha(raw) for raw, _ in batch] == train.sha256[::-1]
    image, label = TorchDataset("pets@1", split="train", settings=settings)[0]
    assert image.size[1] == 24 and label in (0, 1)


def test_a_version_reads_the_same_after_more_ingest(settings, pets, tmp_path):
    before = [
        sha(raw)
        for raw, _ in TorchDataset(
            "pets@1", split=None, decode=False, settings=settings
        ).__getitems__(list(range(21)))
    ]
    make_images(tmp_path / "later", {"cat": 5}, seed=7)
    ingest(Lake(settings), [tmp_path / "later"], folder_labels=True)
    after = TorchDataset("pets@1", split=None, decode=False, settings=settings)
    assert [sha(raw) for raw, _ in after.__getitems__(list(range(21)))] == before


LOADER_SCRIPT = """
import sys
import torch
from daybreak.lake.torch import TorchDataset
from tests.lake.test_torch import to_tensor

dataset = TorchDataset("pets@1", split=None, transform=to_tensor)
loader = torch.utils.data.DataLoader(dataset, batch_size=4, num_workers=2, multiprocessing_context=sys.argv[1])
seen, labels = 0, []
for images, targets in loader:
    assert images.shape[1:] == (16, 16, 3)
    seen += len(images)
    labels.extend(targets.tolist())
assert seen == len(dataset) == 21, seen
assert sorted(labels) == sorted(dataset.targets)
print("ok", seen)
"""


@pytest.mark.parametrize("context", ["fork", "spawn"])
def test_dataloader_workers_see_every_row_once(settings, pets, context):
    # A training script of its own, as in real use: its parent process has not opened Lance
    # before the workers start (Lance is not fork-safe once opened; the test process has).
    import os
    import subprocess
    import sys

    root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}
    done = subprocess.run(
        [sys.executable, "-c", LOADER_SCRIPT, context],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok 21"


def test_unknown_split_says_which_exist(settings, pets):
    with pytest.raises(datasets.ConfigError, match="no split 'test'"):
        TorchDataset("pets@1", split="test", settings=settings)


def test_a_run_that_reads_a_dataset_records_the_lineage(settings, pets):
    import json

    from typer.testing import CliRunner

    import daybreak
    from daybreak.cli.main import app

    with daybreak.init(project="p", system_metrics=False, capture_output=False) as run:
        TorchDataset("pets@1", split="train", settings=settings)
        TorchDataset("pets@1", split="val", settings=settings)  # the same version: recorded once
    other = daybreak.init(project="p", system_metrics=False, capture_output=False)
    other.finish()
    assert datasets.used_by_run(settings, run.id) == ["pets@1"]
    assert datasets.used_by_run(settings, other.id) == []
    assert datasets.runs_using(settings, pets) == [run.id]
    runner = CliRunner()
    shown = json.loads(runner.invoke(app, ["runs", "show", run.id, "--json"]).output)
    assert shown["datasets"] == ["pets@1"]
    dataset = json.loads(runner.invoke(app, ["dataset", "show", "pets@1", "--json"]).output)
    assert dataset["runs"] == [run.id]


def keep_items(batch):
    return batch


def _rank_main(rank: int, world: int, port: int, out: str) -> None:
    import hashlib as _hashlib

    import torch.distributed as dist
    from torch.utils.data import DataLoader, DistributedSampler

    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world
    )
    try:
        dataset = TorchDataset("pets@1", split=None, decode=False)
        sampler = DistributedSampler(dataset, num_replicas=world, rank=rank, shuffle=True, seed=3)
        sampler.set_epoch(0)
        loader = DataLoader(
            dataset, batch_size=3, sampler=sampler, num_workers=2, collate_fn=keep_items
        )
        seen = [_hashlib.sha256(raw).hexdigest() for batch in loader for raw, _ in batch]
        with open(f"{out}.{rank}", "w") as handle:
            handle.write("\n".join(seen))
        dist.barrier()
    finally:
        dist.destroy_process_group()


def test_two_ranks_with_two_workers_each_see_every_row_once(settings, tmp_path):
    from tests.conftest import free_port

    lake = Lake(settings)
    make_images(tmp_path / "ddp", {"a": 10, "b": 10})
    ingest(lake, [tmp_path / "ddp"], folder_labels=True)
    version = datasets.create(lake, settings, "pets", "TRUE", {"train": 1.0})
    out = str(tmp_path / "seen")
    torch.multiprocessing.spawn(_rank_main, args=(2, free_port(), out), nprocs=2, join=True)
    ranks = [Path(f"{out}.{r}").read_text().split("\n") for r in range(2)]
    assert len(ranks[0]) == len(ranks[1]) == 10
    assert not set(ranks[0]) & set(ranks[1])
    assert sorted(ranks[0] + ranks[1]) == sorted(
        TorchDataset("pets@1", split=None, settings=settings).sha256
    )
    assert version.rows == 20


def test_a_dataset_version_reads_the_same_after_relabels_compaction_and_cleanup(
    settings, pets, tmp_path
):
    from typer.testing import CliRunner

    from daybreak.cli.main import app
    from daybreak.lake.labels import import_labels

    lake = Lake(settings)
    original = TorchDataset("pets@1", split=None, decode=False, settings=settings)
    before = [(sha(raw), label) for raw, label in original.__getitems__(list(range(len(original))))]
    for seed in (11, 12):  # more commits, so there is something to compact and clean up
        make_images(tmp_path / f"more{seed}", {"cat": 3}, seed=seed)
        ingest(lake, [tmp_path / f"more{seed}"], folder_labels=True)
    relabel = tmp_path / "relabel.csv"
    relabel.write_text("sha256,label\n" + "".join(f"{s},fox\n" for s in original.sha256[:3]))
    import_labels(lake, relabel, "csv")
    runner = CliRunner()
    assert runner.invoke(app, ["dataset", "tag", "pets@1", "paper"]).exit_code == 0
    compacted = runner.invoke(app, ["lake", "compact", "--json"])
    assert compacted.exit_code == 0, compacted.output
    cleaned = runner.invoke(app, ["lake", "cleanup", "--older-than-days", "0", "--json"])
    assert cleaned.exit_code == 0, cleaned.output
    import json

    assert json.loads(cleaned.output)["assets"]["versions_removed"] >= 1
    again = TorchDataset("pets@paper", split=None, decode=False, settings=settings)
    assert [
        (sha(raw), label) for raw, label in again.__getitems__(list(range(len(again))))
    ] == before
    with pytest.raises(datasets.NotFoundError, match="no tag 'draft'"):
        datasets.get(settings, "pets@draft")


def test_deleted_assets_leave_new_versions_and_old_versions_still_read(settings, pets):
    from typer.testing import CliRunner

    from daybreak.cli.main import app
    from daybreak.lake.remove import delete

    lake = Lake(settings)
    old = TorchDataset("pets@1", split=None, decode=False, settings=settings)
    before = sorted(sha(raw) for raw, _ in old.__getitems__(list(range(len(old)))))
    report = delete(lake, settings, "label = 'cat'")
    assert (
        len(report.assets) == 12
        and report.labels_removed == 12
        and report.affected_datasets == ["pets@1"]
    )
    fresh = datasets.create(lake, settings, "pets", "TRUE", {"train": 0.7, "val": 0.3})
    assert fresh.rows == 9 and datasets.stats(settings, fresh).keys() <= {"train", "val"}
    assert all(set(per_split) == {"dog"} for per_split in datasets.stats(settings, fresh).values())
    again = TorchDataset("pets@1", split=None, decode=False, settings=settings)
    assert sorted(sha(raw) for raw, _ in again.__getitems__(list(range(len(again))))) == before
    runner = CliRunner()
    nothing = runner.invoke(app, ["lake", "delete", "--where", "label = 'cat'", "--yes"])
    assert nothing.exit_code != 0
