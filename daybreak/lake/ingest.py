"""``daybreak lake ingest``: files and folders into the lake, content-addressed and resumable.

Files are read, hashed (sha256) and probed (format, width, height). An exact duplicate of
something already in the lake (or earlier in the same ingest) is stored once and reported;
corrupt, truncated or unsupported files are skipped and listed. Assets are appended in commits
of ``batch_bytes``: each commit is atomic, so an interrupted ingest leaves no half-written
version, and running the same ingest again skips what is already in.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import posixpath
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from daybreak.errors import ConfigError, NotFoundError
from daybreak.lake.tables import ASSETS, Lake

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}
TEXT_SUFFIXES = {".txt"}
VIDEO_SUFFIXES = {".mp4", ".mov", ".avi", ".mkv", ".webm"}
BATCH_BYTES = 32 << 20
VERIFY = ("structure", "decode")


@dataclasses.dataclass
class IngestReport:
    added: int = 0
    duplicates: list[tuple[str, str]] = dataclasses.field(default_factory=list)  # (path, sha256)
    skipped: list[tuple[str, str]] = dataclasses.field(default_factory=list)  # (path, reason)
    labels_added: int = 0
    bytes_added: int = 0
    commits: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class Probe:
    kind: str
    format: str | None
    width: int | None
    height: int | None
    text: str | None = None


def probe(path: Path | str, data: bytes, verify: str = "structure") -> Probe:
    """What the file is, or ValueError saying why it cannot go in."""
    suffix = posixpath.splitext(str(path))[1].lower()
    if suffix in TEXT_SUFFIXES:
        try:
            return Probe("text", "txt", None, None, data.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise ValueError(f"not UTF-8 text ({exc.reason})") from exc
    if suffix not in IMAGE_SUFFIXES:
        raise ValueError(f"unsupported file type {suffix or '(none)'}")
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            fmt = (image.format or suffix[1:]).lower()
            if verify == "decode" or not _looks_whole(fmt, data):
                image.load()  # decodes fully: a truncated file fails here
            return Probe("image", fmt, image.width, image.height)
    except UnidentifiedImageError as exc:
        raise ValueError("not a readable image (corrupt, or not really a JPEG/PNG/WebP)") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise ValueError(f"corrupt or truncated image ({exc})") from exc


def _looks_whole(fmt: str, data: bytes) -> bool:
    """The file ends as its format says it must (JPEG's end-of-image marker, PNG's IEND
    chunk, WebP's RIFF length): a truncated file does not."""
    if fmt == "jpeg":
        return data.rstrip(b"\x00")[-2:] == b"\xff\xd9"
    if fmt == "png":
        return data[-12:-4] == b"\x00\x00\x00\x00IEND"
    if fmt == "webp":
        return int.from_bytes(data[4:8], "little") + 8 in (len(data), len(data) - 1)
    return False


def is_remote(location: str | Path) -> bool:
    return "://" in str(location) and not str(location).startswith("file://")


def read(location: str) -> bytes:
    """A file's bytes, from this machine or from object storage (``s3://...``)."""
    if not is_remote(location):
        return Path(location).read_bytes()
    import fsspec

    with fsspec.open(location, "rb", skip_instance_cache=True) as handle:
        return bytes(handle.read())


def total_size(files: list[tuple[str, str]]) -> int:
    """Bytes of ``files`` (as ``walk`` yields them): one listing per remote root, not one
    request per object."""
    import fsspec

    total = sum(Path(p).stat().st_size for p, _ in files if not is_remote(p))
    wanted = {p for p, _ in files if is_remote(p)}
    for root in {r for p, r in files if is_remote(p)}:
        fs, path = fsspec.core.url_to_fs(root, skip_instance_cache=True)
        protocol = root.split("://", 1)[0]
        listing = fs.find(path, detail=True) if fs.isdir(path) else {path: fs.info(path)}
        total += sum(
            int(info.get("size") or 0)
            for key, info in listing.items()
            if f"{protocol}://{key}" in wanted
        )
    return total


def walk(paths: Iterable[str | Path]) -> Iterator[tuple[str, str]]:
    """(file, the root it was found under), in a stable order; local paths or ``s3://`` prefixes."""
    for raw in paths:
        if is_remote(raw):
            yield from _walk_remote(str(raw))
            continue
        root = Path(raw).expanduser()
        if root.is_file():
            yield str(root), str(root.parent)
        elif root.is_dir():
            for folder, dirs, files in os.walk(root):
                dirs.sort()
                for name in sorted(files):
                    if not name.startswith("."):
                        yield str(Path(folder) / name), str(root)
        else:
            raise NotFoundError(f"{root} does not exist", "check the path you gave to ingest")


def _walk_remote(url: str) -> Iterator[tuple[str, str]]:
    import fsspec

    try:
        fs, path = fsspec.core.url_to_fs(url, skip_instance_cache=True)
        protocol = url.split("://", 1)[0]
        if fs.isfile(path):
            yield url, posixpath.dirname(url)
            return
        found = sorted(fs.find(path))
    except (ImportError, ValueError) as exc:
        raise NotFoundError(
            f"cannot read {url}: {exc}",
            "for s3:// install 'daybreak[s3]' and set the AWS variables",
        ) from exc
    if not found:
        raise NotFoundError(f"nothing found under {url}", "check the prefix and your credentials")
    for key in found:
        if not posixpath.basename(key).startswith("."):
            yield f"{protocol}://{key}", url.rstrip("/")


class _Pending:
    """Rows waiting for the next commit, kept as columns (building 10,000s of dicts is slow)."""

    def __init__(self) -> None:
        self.assets: dict[str, list[Any]] = {name: [] for name in ASSETS.names}
        self.labels: list[dict[str, Any]] = []
        self.bytes = 0

    def add_asset(
        self,
        digest: str,
        data: bytes,
        found: Probe,
        source: str,
        path: str,
        frame: tuple[str, float] | None,
    ) -> None:
        values = (
            digest,
            data,
            found.kind,
            found.format,
            found.width,
            found.height,
            len(data),
            source,
            path,
            time.time(),
            frame[0] if frame else None,
            frame[1] if frame else None,
            found.text,
        )
        for column, value in zip(self.assets.values(), values, strict=True):
            column.append(value)
        self.bytes += len(data)

    def commit(self, lake: Lake, report: IngestReport) -> None:
        import pyarrow as pa

        if self.assets["sha256"]:
            lake.append("assets", pa.table(self.assets, schema=ASSETS))
            report.commits += 1
        if self.labels:
            lake.append("annotations", pa.Table.from_pylist(self.labels))


class _Committer:
    """Commits in a background thread (Lance writes without the GIL) while the next batch is
    read; at most one commit in flight, so memory stays bounded and commits keep their order."""

    def __init__(self, lake: Lake, report: IngestReport) -> None:
        from concurrent.futures import Future, ThreadPoolExecutor

        self.lake, self.report = lake, report
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="daybreak-commit")
        self.inflight: Future[None] | None = None

    def submit(self, pending: _Pending) -> None:
        self.wait()
        self.inflight = self.pool.submit(pending.commit, self.lake, self.report)

    def wait(self) -> None:
        if self.inflight is not None:
            future, self.inflight = self.inflight, None
            future.result()  # a failed commit raises here

    def close(self) -> None:
        try:
            self.wait()
        finally:
            self.pool.shutdown()


def ingest(
    lake: Lake,
    paths: Iterable[str | Path],
    source: str = "",
    folder_labels: bool = False,
    batch_bytes: int = BATCH_BYTES,
    progress: Callable[[int, int], None] | None = None,
    fps: float = 1.0,
    verify: str = "structure",
) -> IngestReport:
    """Add files to the lake; ``progress(files, bytes)`` is called as they are read. Videos
    are sampled at ``fps`` frames per second; each frame is a JPEG asset. ``verify``
    is ``structure`` (headers and end markers; a file that fails is decoded to be sure) or
    ``decode`` (every image decoded)."""
    if verify not in VERIFY:
        raise ConfigError(f"unknown check {verify!r}", f"use one of {', '.join(VERIFY)}")
    started = time.monotonic()
    report = IngestReport()
    files = list(walk(paths))
    known = lake.shas()
    labelled = _existing_folder_labels(lake) if folder_labels else set()
    pending = _Pending()
    committer = _Committer(lake, report)

    def add(
        path: str,
        root: str,
        data: bytes,
        found: Probe,
        frame: tuple[str, float] | None = None,
        digest: str | None = None,
    ) -> None:
        digest = digest or hashlib.sha256(data).hexdigest()
        folder = posixpath.dirname(path)
        label = posixpath.basename(folder)
        if (
            folder_labels
            and folder.rstrip("/") != root.rstrip("/")
            and (digest, label) not in labelled
        ):
            labelled.add((digest, label))
            pending.labels.append(_class_label(digest, label, time.time()))
            report.labels_added += 1
        if digest in known:
            report.duplicates.append(
                (str(path) if frame is None else f"{path}@{frame[1]:.3f}s", digest)
            )
            return
        known.add(digest)
        pending.add_asset(digest, data, found, source or str(root), path, frame)
        report.added += 1
        report.bytes_added += len(data)

    try:
        for done, (path, root, loaded) in enumerate(_load_all(files, verify), 1):
            if isinstance(loaded, str):
                report.skipped.append((path, loaded))
                continue
            data, found, digest = loaded
            try:
                if found is None:  # a video: frames are decoded here, in order
                    video = hashlib.sha256(data).hexdigest()
                    for timestamp, frame, probed in video_frames(data, fps):
                        add(path, root, frame, probed, (video, timestamp))
                else:
                    add(path, root, data, found, None, digest)
            except ValueError as exc:
                report.skipped.append((path, str(exc)))
                continue
            if progress:
                progress(done, len(data))
            if pending.bytes >= batch_bytes:
                committer.submit(pending)
                pending = _Pending()
        committer.submit(pending)
    finally:
        committer.close()
    report.seconds = time.monotonic() - started
    return report


Loaded = (
    tuple[bytes, Probe | None, str] | str
)  # (data, probe or None for a video, sha256) | why not


def _load(location: str, verify: str) -> Loaded:
    try:
        data = read(location)
    except OSError as exc:
        return f"unreadable ({exc.strerror or exc})"
    if posixpath.splitext(location)[1].lower() in VIDEO_SUFFIXES:
        return data, None, ""
    try:
        return data, probe(location, data, verify), hashlib.sha256(data).hexdigest()
    except ValueError as exc:
        return str(exc)


def _load_all(files: list[tuple[str, str]], verify: str) -> Iterator[tuple[str, str, Loaded]]:
    """Each file read, hashed and probed, in order. Local files are read here: probing is
    mostly Python, and a thread pool only added GIL contention. Remote files are fetched by a
    thread pool a window ahead, where the waiting is on the network."""
    if not files or not is_remote(files[0][0]):
        for path, root in files:
            yield str(path), root, _load(str(path), verify)
        return
    from collections import deque
    from concurrent.futures import Future, ThreadPoolExecutor

    ahead: deque[tuple[str, str, Future[Loaded]]] = deque()
    with ThreadPoolExecutor(16, thread_name_prefix="daybreak-ingest") as pool:
        for path, root in files:
            ahead.append((str(path), root, pool.submit(_load, str(path), verify)))
            if len(ahead) >= 64:
                done_path, done_root, future = ahead.popleft()
                yield done_path, done_root, future.result()
        while ahead:
            done_path, done_root, future = ahead.popleft()
            yield done_path, done_root, future.result()


def video_frames(data: bytes, fps: float) -> Iterator[tuple[float, bytes, Probe]]:
    """Frames sampled every ``1/fps`` seconds, as JPEG bytes, decoded with PyAV (FFmpeg)."""
    if fps <= 0:
        raise ValueError(f"the frame rate must be above 0, not {fps}")
    try:
        import av
    except ModuleNotFoundError as exc:
        raise ValueError("videos need PyAV: pip install 'daybreak[video]'") from exc
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            if not container.streams.video:
                raise ValueError("no video stream")
            stream = container.streams.video[0]
            rate = float(stream.average_rate or 25)
            next_time = 0.0
            for index, frame in enumerate(container.decode(stream)):
                timestamp = float(frame.time) if frame.time is not None else index / rate
                if timestamp + 1e-6 < next_time:
                    continue
                next_time += 1.0 / fps
                while next_time <= timestamp:
                    next_time += 1.0 / fps
                image = frame.to_image()
                buffer = io.BytesIO()
                image.save(buffer, format="JPEG", quality=92)
                yield (
                    timestamp,
                    buffer.getvalue(),
                    Probe("frame", "jpeg", image.width, image.height),
                )
    except av.error.FFmpegError as exc:
        raise ValueError(f"corrupt or unsupported video ({exc})") from exc


def _class_label(digest: str, label: str, now: float) -> dict[str, Any]:
    return {
        "sha256": digest,
        "source": "folder",
        "round": 0,
        "kind": "class",
        "label": label,
        "bbox": None,
        "keypoints": None,
        "mask": None,
        "caption": None,
        "meta": None,
        "created_at": now,
    }


def _existing_folder_labels(lake: Lake) -> set[tuple[str, str]]:
    dataset = lake.open("annotations")
    if dataset is None:
        return set()
    table = dataset.to_table(
        columns=["sha256", "label"], filter="source = 'folder' AND kind = 'class'"
    )
    return set(
        zip(table.column("sha256").to_pylist(), table.column("label").to_pylist(), strict=True)
    )
