"""The dataset pages against a real server and a real Chromium: the datasets, a dataset's
versions, a version's stats and its grid of thumbnails with labels drawn, the diff of two
versions; the JSON behind them, the thumbnails and masks, and bad input."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

import daybreak
from daybreak.lake import datasets
from daybreak.lake.labels import import_labels
from daybreak.lake.tables import Lake
from daybreak.zoo import detection, pose, segmentation
from tests.web.conftest import BrowserPage

SCREENS = Path("/tmp/screens")
DETECTION = "source = 'zoo-detection' AND label_kind = 'box'"


@pytest.fixture
def lake_data(settings: Any, tmp_path: Path) -> dict[str, Any]:
    """zoo-detection@1 (60 images with boxes), pose and segmentation versions, and
    zoo-detection@2: 3 assets dropped, the pose images added, 2 relabelled, 1 box redrawn."""
    det = datasets.get(settings, detection.prepare(settings, count=60))
    pose.prepare(settings, count=12)
    segmentation.prepare(settings, count=12)
    shas = datasets.rows(settings, det).column("sha256").to_pylist()
    lake = Lake(settings)
    first_box = next(r for r in datasets.labels_of(lake, settings, det) if r["sha256"] == shas[5])
    fixes = tmp_path / "fixes.jsonl"
    fixes.write_text(
        json.dumps({"sha256": shas[3], "label": "odd", "caption": "a strange one"})
        + "\n"
        + json.dumps({"sha256": shas[4], "label": "odd"})
        + "\n"
        + json.dumps({"sha256": shas[5], "bbox": [1, 1, 20, 20], "box_label": first_box["label"]})
        + "\n"
    )
    import_labels(lake, fixes, "jsonl", source="fixes")
    dropped = ", ".join(f"'{s}'" for s in shas[:3])
    where = (
        f"({DETECTION} AND sha256 NOT IN ({dropped})) "
        "OR (source = 'zoo-pose' AND label_kind = 'keypoints')"
    )
    new = datasets.create(lake, settings, "zoo-detection", where, det.splits)
    run = daybreak.init(project="vision", name="reads-v2", system_metrics=False)
    run.finish()
    datasets.record_use(settings, run.id, new, "train")
    return {"old": det, "new": new, "shas": shas, "run": run.id}


def api(server: str, path: str, status: int = 200, **params: Any) -> Any:
    answer = httpx.get(server + path, params=params)
    assert answer.status_code == status, answer.text
    return answer.json()


def test_the_dataset_api(lake_data: dict[str, Any], server: str) -> None:
    listed = {d["name"]: d for d in api(server, "/api/datasets")}
    assert set(listed) == {"zoo-detection", "zoo-pose", "zoo-segmentation"}
    assert listed["zoo-detection"]["versions"] == 2
    assert listed["zoo-detection"]["latest"]["rows"] == 60 - 3 + 12
    versions = api(server, "/api/datasets/zoo-detection")["versions"]
    assert [v["version"] for v in versions] == [2, 1]
    assert versions[0]["runs"] == [lake_data["run"]] and versions[1]["runs"] == []

    version = api(server, "/api/datasets/zoo-detection/2")
    stats = version["stats"]
    assert stats["rows"] == 69 and stats["splits"] == ["train", "val"]
    assert sum(stats["split_counts"].values()) == 69
    assert "odd" in stats["labels"] and "person" in stats["labels"]
    assert {"box", "keypoints", "class", "caption"} <= set(stats["annotation_kinds"])
    assert stats["sizes"]["buckets"][0]["count"] == 69  # every zoo image has the same size

    page = api(server, "/api/datasets/zoo-detection/2/samples", page=2, per_page=30)
    assert page["total"] == 69 and page["pages"] == 3 and len(page["samples"]) == 30
    people = api(server, "/api/datasets/zoo-detection/2/samples", label="person")
    assert people["total"] == 12
    kinds = {a["kind"] for s in people["samples"] for a in s["annotations"]}
    assert kinds == {"box", "keypoints"}
    keypoints = next(a for a in people["samples"][0]["annotations"] if a["kind"] == "keypoints")
    assert keypoints["skeleton"] and len(keypoints["names"]) * 3 == len(keypoints["keypoints"])
    val = api(server, "/api/datasets/zoo-detection/2/samples", split="val")
    assert val["total"] == stats["split_counts"]["val"]

    changes = api(server, "/api/datasets/zoo-detection/diff", a=1, b=2)
    assert changes["counts"] == {
        "added": 12,
        "removed": 3,
        "moved": 0,
        "relabelled": 2,
        "redrawn": 1,
    }
    assert changes["samples"]["redrawn"][0]["sha256"] == lake_data["shas"][5]
    assert api(server, "/api/datasets/zoo-detection/diff")["new"] == "zoo-detection@2"


def test_thumbnails_and_masks_are_small_images_cached_by_etag(
    lake_data: dict[str, Any], server: str, settings: Any
) -> None:
    from PIL import Image

    sha = lake_data["shas"][10]
    url = f"{server}/api/datasets/zoo-detection/1/thumbnails/{sha}"
    first = httpx.get(url, params={"size": 64})
    assert first.status_code == 200 and first.headers["content-type"] == "image/png"
    assert "immutable" in first.headers["cache-control"]
    with Image.open(io.BytesIO(first.content)) as image:
        assert max(image.size) <= 64
    assert list((settings.home / "cache" / "thumbnails").rglob(f"{sha}-64.*"))
    again = httpx.get(url, params={"size": 64}, headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304 and not again.content

    sample = api(server, "/api/datasets/zoo-segmentation/1/samples", per_page=1)["samples"][0]
    masked = next(a for a in sample["annotations"] if a["mask"])
    found = httpx.get(
        f"{server}/api/datasets/zoo-segmentation/1/masks/{sample['sha256']}/{masked['index']}"
    )
    assert found.status_code == 200 and found.headers["content-type"] == "image/png"
    with Image.open(io.BytesIO(found.content)) as image:
        assert image.mode == "L" and set(image.getextrema()) <= {0, 255}


def test_bad_input_gets_clear_errors_not_500s(lake_data: dict[str, Any], server: str) -> None:
    sha = lake_data["shas"][10]
    missing = lake_data["shas"][0]  # dropped from v2
    for path, status, params in [
        ("/api/datasets/nope", 404, {}),
        ("/api/datasets/zoo-detection/9", 404, {}),
        ("/api/datasets/zoo-detection/9/samples", 404, {}),
        ("/api/datasets/zoo-detection/1/samples", 400, {"page": 0}),
        ("/api/datasets/zoo-detection/1/samples", 422, {"page": "two"}),
        ("/api/datasets/zoo-detection/1/samples", 400, {"per_page": 10_000}),
        ("/api/datasets/zoo-detection/1/thumbnails/../../etc", 404, {}),
        ("/api/datasets/zoo-detection/1/thumbnails/not-a-sha", 404, {}),
        (f"/api/datasets/zoo-detection/2/thumbnails/{missing}", 404, {}),
        (f"/api/datasets/zoo-detection/1/thumbnails/{sha}", 400, {"size": 7}),
        (f"/api/datasets/zoo-detection/1/masks/{sha}/0", 404, {}),
        (f"/api/datasets/zoo-detection/1/masks/{sha}/99", 404, {}),
        ("/api/datasets/zoo-detection/diff", 404, {"a": 7}),
        ("/api/datasets/bad name!/1", 400, {}),
    ]:
        answer = httpx.get(server + path, params=params)
        assert answer.status_code == status, (path, params, answer.text)
        assert answer.json()["error"]["message"], path
    html = {"Accept": "text/html"}
    for path, status, text in [
        ("/datasets/nope", 404, "no dataset called"),
        ("/datasets/zoo-detection/9", 404, "has no version 9"),
        ("/datasets/zoo-detection/1?page=abc", 400, "not a page number"),
        ("/datasets/zoo-detection/diff?a=1&b=8", 404, "has no version 8"),
        ("/datasets/zoo-detection/nosuchtag", 404, "has no tag"),
    ]:
        answer = httpx.get(server + path, headers=html)
        assert answer.status_code == status, (path, answer.text)
        assert answer.headers["content-type"].startswith("text/html") and text in answer.text


@pytest.mark.browser
def test_the_dataset_pages_in_a_browser(
    lake_data: dict[str, Any], server: str, tab: BrowserPage
) -> None:
    SCREENS.mkdir(exist_ok=True)
    page = tab.page
    page.goto(f"{server}/datasets")
    assert page.locator("#datasets tbody tr").count() == 3
    page.screenshot(path=str(SCREENS / "datasets.png"), full_page=True)
    page.click("#datasets >> text=zoo-detection")
    assert page.locator("#versions tbody tr").count() == 2
    assert lake_data["run"][:8] in page.locator('#versions tr[data-version="2"]').inner_text()
    page.screenshot(path=str(SCREENS / "dataset.png"), full_page=True)

    page.click('#versions >> text="v2"')
    page.wait_for_selector("body[data-charts-ready]")
    assert page.locator("#label-chart").get_attribute("data-series") == "2"  # train, val
    assert page.locator("#label-chart canvas").count() == 1
    assert page.locator("#size-chart").get_attribute("data-series") == "1"
    grid = page.locator("#samples")
    page.wait_for_selector("#samples[data-tiles='48']")
    assert grid.get_attribute("data-total") == "69"
    page.click("text=Next →")
    page.wait_for_selector("#samples[data-tiles='21']")
    assert "page=2" in page.url
    page.select_option("select[name=label]", "person")
    page.wait_for_selector("#samples[data-total='12']")
    first = page.locator("figure.sample").first
    assert int(first.get_attribute("data-keypoints") or 0) == 1
    assert first.locator("circle.kp").count() == 14 and first.locator("line.bone").count() > 0
    assert first.locator("rect.box").count() == 1
    page.select_option("select[name=label]", "")
    page.select_option("select[name=split]", "val")
    val = lake_data["new"].split_counts["val"]
    page.wait_for_selector(f"#samples[data-total='{val}']")
    page.select_option("select[name=split]", "")
    page.wait_for_selector("#samples[data-total='69']")
    _all_thumbnails_loaded(page)
    page.screenshot(path=str(SCREENS / "dataset_version.png"), full_page=True)

    page.goto(f"{server}/datasets/zoo-segmentation/1")
    page.wait_for_selector("#samples[data-tiles='12']")
    assert page.locator("figure.sample rect.mask").count() == 12
    _all_thumbnails_loaded(page)
    page.screenshot(path=str(SCREENS / "dataset_masks.png"), full_page=True)

    page.goto(f"{server}/datasets/zoo-detection/diff?a=1&b=2")
    page.wait_for_selector("body[data-diff-ready]")
    assert page.locator('#diff-counts [data-kind="added"]').get_attribute("data-count") == "12"
    assert page.locator('.diff-samples[data-kind="added"] .pair').count() == 12
    relabelled = page.locator('.diff-samples[data-kind="relabelled"] .pair')
    assert relabelled.count() == 2 and relabelled.first.locator("figure.sample").count() == 2
    assert "odd" in relabelled.first.inner_text()
    _all_thumbnails_loaded(page)
    page.screenshot(path=str(SCREENS / "dataset_diff.png"), full_page=True)
    assert tab.errors == []


def _all_thumbnails_loaded(page: Any) -> None:
    page.wait_for_function(
        "[...document.querySelectorAll('figure.sample img')]"
        ".every(i => i.complete && i.naturalWidth > 0)"
    )
