"""A throwaway PostgreSQL cluster of a test's own (so the test may restart it), started with
the binaries in /usr/lib/postgresql/*/bin as .ci/run does: as the postgres user when root."""

from __future__ import annotations

import glob
import os
import subprocess
import time
from pathlib import Path

from tests.conftest import free_port


def bin_dir() -> Path | None:
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(p.split("/")[-3]) if p.split("/")[-3].isdigit() else 0,
    )
    return Path(found[-1]).parent if found else None


class Cluster:
    def __init__(self, bin_dir: Path, root: Path) -> None:
        self.bin_dir = bin_dir
        self.root = root
        self.data = root / "data"
        self.port = free_port()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str, timeout: float = 60) -> None:
        command = [str(self.bin_dir / args[0]), *args[1:]]
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, cwd=self.root
        )
        if done.returncode != 0:
            log = (
                (self.root / "server.log").read_text()
                if (self.root / "server.log").exists()
                else ""
            )
            raise AssertionError(f"{' '.join(args[:2])} failed:\n{done.stdout}{done.stderr}{log}")

    def _ctl(self, action: str, *extra: str) -> None:
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} -c fsync=off"
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.root / "server.log"), "-w",
            "-o", options, *extra, action,
        )  # fmt: skip

    def init(self) -> Cluster:
        self._run(
            "initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
            "--locale=C.UTF-8",
        )  # fmt: skip
        return self

    def start(self) -> None:
        self._ctl("start")

    def restart(self, down_for: float = 0.0) -> None:
        """A fast restart: every open connection is cut, as after a failover or an upgrade;
        with ``down_for``, the server stays down that long in between."""
        if not down_for:
            self._ctl("restart", "-m", "fast")
            return
        self._ctl("stop", "-m", "fast")
        time.sleep(down_for)
        self._ctl("start")

    def stop(self, mode: str = "fast") -> None:
        if (self.data / "postmaster.pid").exists():
            self._ctl("stop", "-m", mode)
