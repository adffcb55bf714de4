"""The dataset version page's grid over a real server: a page of samples with their labels and
its 48 thumbnails, measured against decoding the same 48 original images with Pillow.

A dataset of 2,000 photo-sized JPEGs (640x480, with a class and a box each) in the lake.

1. a grid page, warm: the samples JSON plus 48 thumbnails from the thumbnail cache over HTTP,
   six requests at a time as a browser makes them. Floor ≤ 300 ms. Baseline: as many requests
   for a small static file from the same server, six at a time (the HTTP floor).
2. the same page cold: thumbnails made from the asset bytes (the first visit), for information,
   against ``Image.open(...).load()`` of the 48 originals (the least work any page showing
   them needs).
3. the same page revalidated: the browser's ``If-None-Match`` answered with 304, for information.
4. the first samples request of a version (its browse index built), for information.

    python bench/datasets_web.py [--quick]
"""

from __future__ import annotations

import io
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import _common
import numpy as np
from _common import Result, median

IMAGES = 2000
PER_PAGE = 48
SIZE = (640, 480)
STATIC = f"{PER_PAGE + 1} requests for a static file, same server"
BROWSER_CONNECTIONS = 6  # what Chromium opens per host over HTTP/1.1


def write_images(folder: Path, count: int) -> Path:
    """``count`` JPEGs with a gradient and a block (so they compress like photos, not noise),
    in two class folders, and a JSONL file with one box per image."""
    from PIL import Image

    rng = np.random.default_rng(0)
    ys, xs = np.mgrid[0 : SIZE[1], 0 : SIZE[0]]
    folder.mkdir(parents=True, exist_ok=True)
    labels = folder.parent / "boxes.jsonl"
    with labels.open("w") as out:
        for i in range(count):
            label = ("cat", "dog")[i % 2]
            base = rng.integers(0, 255, 3)
            pixels = ((xs[..., None] * base / SIZE[0] + ys[..., None] * 0.2) % 255).astype(np.uint8)
            x, y = int(rng.integers(0, 400)), int(rng.integers(0, 300))
            pixels[y : y + 120, x : x + 160] = rng.integers(0, 255, 3)
            path = folder / label / f"{i:05d}.jpg"
            path.parent.mkdir(exist_ok=True)
            Image.fromarray(pixels).save(path, quality=85)
            box = {"file": str(path), "bbox": [x, y, 160, 120], "box_label": label}
            out.write(json.dumps(box) + "\n")
    return labels


def make_dataset(settings: Any, folder: Path, count: int) -> Any:
    from daybreak.lake import datasets
    from daybreak.lake.ingest import ingest
    from daybreak.lake.labels import import_labels
    from daybreak.lake.tables import Lake

    labels = write_images(folder, count)
    lake = Lake(settings)
    ingest(lake, [folder], source="bench", folder_labels=True)
    import_labels(lake, labels, "jsonl", source="boxes")
    return datasets.create(
        lake, settings, "bench", "label_kind = 'class'", {"train": 0.9, "val": 0.1}
    )


def timed(fn: Callable[[], Any], reps: int) -> tuple[list[float], Any]:
    times, out = [], None
    for _ in range(reps):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return times, out


def grid_page(client: Any, page: int, etags: dict[str, str] | None = None) -> int:
    """The samples JSON of ``page``, then its thumbnails six at a time as a browser fetches
    them; returns the bytes received."""
    from concurrent.futures import ThreadPoolExecutor

    found = client.get("/api/datasets/bench/1/samples", params={"page": page})
    found.raise_for_status()
    urls = [f"/api/datasets/bench/1/thumbnails/{s['sha256']}" for s in found.json()["samples"]]

    def fetch(url: str) -> int:
        headers = {"If-None-Match": etags[url]} if etags is not None and url in etags else {}
        answer = client.get(url, headers=headers)
        assert answer.status_code in (200, 304), answer.text
        if answer.status_code == 200 and etags is not None:
            etags[url] = answer.headers["etag"]
        return len(answer.content)

    with ThreadPoolExecutor(BROWSER_CONNECTIONS) as pool:
        return len(found.content) + sum(pool.map(fetch, urls))


def static_files(client: Any, count: int) -> int:
    """``count`` requests for a small static file, six at a time: the same server's floor."""
    from concurrent.futures import ThreadPoolExecutor

    def fetch(_: int) -> int:
        answer = client.get("/static/daybreak.css")
        answer.raise_for_status()
        return len(answer.content)

    with ThreadPoolExecutor(BROWSER_CONNECTIONS) as pool:
        return sum(pool.map(fetch, range(count)))


def decode_originals(settings: Any, record: Any, page: int) -> int:
    from PIL import Image

    from daybreak.lake import datasets
    from daybreak.lake.reader import read_assets
    from daybreak.lake.tables import Lake

    shas = datasets.rows(settings, record).column("sha256").to_pylist()
    chosen = shas[(page - 1) * PER_PAGE : page * PER_PAGE]
    pixels = 0
    for row in read_assets(Lake(settings), record.assets_version, chosen, ["data"]):
        with Image.open(io.BytesIO(row["data"])) as image:
            image.load()
            pixels += image.width * image.height
    return pixels


def main() -> int:
    options = _common.args(__doc__.split("\n")[0])
    count = 400 if options.quick else IMAGES
    reps = 3 if options.quick else 7
    import httpx

    limits = httpx.Limits(max_connections=BROWSER_CONNECTIONS)
    from daybreak.config import get_settings
    from daybreak.stack import ServerThread

    with _common.temp_home() as home:
        settings = get_settings()
        made = time.perf_counter()
        record = make_dataset(settings, home / "images", count)
        made = time.perf_counter() - made
        server = ServerThread(settings, "127.0.0.1", _free_port()).start()
        try:
            with httpx.Client(base_url=server.url, timeout=60, limits=limits) as client:
                start = time.perf_counter()
                client.get("/api/datasets/bench/1/samples").raise_for_status()
                first = time.perf_counter() - start
                pages = list(range(2, 2 + reps))
                cold = [timed(lambda p=p: grid_page(client, p), 1)[0][0] for p in pages]
                warm, received = timed(lambda: grid_page(client, pages[0]), reps)
                etags: dict[str, str] = {}
                grid_page(client, pages[0], etags)
                revalidated, _ = timed(lambda: grid_page(client, pages[0], etags), reps)
                floor, _ = timed(lambda: static_files(client, PER_PAGE + 1), reps)
            base, pixels = timed(lambda: decode_originals(settings, record, pages[0]), reps)
        finally:
            server.stop()
    assert pixels == PER_PAGE * SIZE[0] * SIZE[1], pixels
    decode = f"decoding the {PER_PAGE} originals with Pillow takes {median(base) * 1e3:.0f} ms"
    note = f"{count} images of {SIZE[0]}x{SIZE[1]}; making the dataset took {made:.1f} s"
    results = [
        Result(
            f"grid page (samples JSON + {PER_PAGE} thumbnails), warm cache",
            median(warm) * 1e3,
            "ms",
            STATIC,
            median(floor) * 1e3,
            300.0,
            note=f"reps {_common.spread([w * 1e3 for w in warm])} ms; {received / 1e3:.0f} KB; "
            f"{decode}; {note}",
        ),
        Result(
            "the same page cold (thumbnails made from the asset bytes)",
            median(cold) * 1e3,
            "ms",
            f"Pillow decode of the {PER_PAGE} originals",
            median(base) * 1e3,
            note=f"reps {_common.spread([c * 1e3 for c in cold])} ms, a new page each",
        ),
        Result(
            "the same page revalidated (304 Not Modified)",
            median(revalidated) * 1e3,
            "ms",
            STATIC,
            median(floor) * 1e3,
        ),
        Result(
            f"first samples request of a version ({count} rows: browse index built)",
            first * 1e3,
            "ms",
            "none",
            None,
        ),
    ]
    return _common.report("datasets_web: the dataset grid page", results, options)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


if __name__ == "__main__":
    sys.exit(main())
