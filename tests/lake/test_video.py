"""Video ingest: frames sampled at a rate with PyAV, each a JPEG asset with its timestamp."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from daybreak.lake.ingest import ingest
from daybreak.lake.query import run_sql
from daybreak.lake.tables import Lake

av = pytest.importorskip("av")


def write_video(path: Path, seconds: float = 3.0, rate: int = 10) -> None:
    """A real MPEG-4 file whose frames change colour over time."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("mpeg4", rate=rate)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(int(seconds * rate)):
            pixels = np.zeros((48, 64, 3), dtype=np.uint8)
            pixels[:, :, 0] = (i * 8) % 256
            pixels[:, i % 64, 1] = 255
            for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def test_frames_are_sampled_at_the_rate_with_their_timestamps(settings, tmp_path):
    lake = Lake(settings)
    write_video(tmp_path / "clips" / "wave" / "clip.mp4", seconds=3.0)
    report = ingest(lake, [tmp_path / "clips"], fps=2.0, folder_labels=True)
    assert report.added == 6 and report.skipped == []
    _, rows = run_sql(
        lake,
        "SELECT kind, format, width, height, frame_ts, video, path FROM assets ORDER BY frame_ts",
    )
    assert [r[0] for r in rows] == ["frame"] * 6 and {r[1] for r in rows} == {"jpeg"}
    assert (rows[0][2], rows[0][3]) == (64, 48)
    assert [round(r[4], 1) for r in rows] == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]
    assert len({r[5] for r in rows}) == 1 and rows[0][6].endswith("clip.mp4")
    _, labels = run_sql(lake, "SELECT label, count(*) FROM labels GROUP BY label")
    assert labels == [("wave", 6)]
    again = ingest(lake, [tmp_path / "clips"], fps=2.0)
    assert again.added == 0 and len(again.duplicates) == 6


def test_a_corrupt_video_is_skipped_with_the_reason(settings, tmp_path):
    lake = Lake(settings)
    bad = tmp_path / "v" / "broken.mp4"
    bad.parent.mkdir()
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42 this is not a real video")
    report = ingest(lake, [tmp_path / "v"])
    assert report.added == 0 and report.skipped[0][0].endswith("broken.mp4")
    assert "video" in report.skipped[0][1]
    with pytest.raises(ValueError, match="above 0"):
        from daybreak.lake.ingest import video_frames

        list(video_frames(b"", 0))
