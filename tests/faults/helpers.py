"""What the fault tests share: scripts run as real processes, a `daybreak server` process that
can be killed and started again, and the check that a run's history is whole."""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import subprocess
import sys
import textwrap
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest

IN_CI = os.environ.get("CI") == "true"


def unavailable(reason: str) -> None:
    """Skip with the reason, except under CI=true, where a missing prerequisite fails."""
    if IN_CI:
        pytest.fail(f"{reason}; fault tests are required in CI (CI=true)")
    pytest.skip(reason)


def wait_until(check: Callable[[], Any], timeout: float, what: str, every: float = 0.05) -> Any:
    """Poll ``check`` until it returns something truthy; fail saying ``what`` did not happen."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout:g} s")
        time.sleep(every)


class Script:
    """A Python script run as its own process. Its stdout lines are collected by a thread (so
    waiting for a line can time out); stderr goes to a file, so a chatty child never blocks."""

    def __init__(
        self,
        folder: Path,
        name: str,
        body: str,
        args: tuple[str, ...] = (),
        env: Mapping[str, str] | None = None,
        stdin: bool = False,
    ) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name}.py"
        path.write_text(textwrap.dedent(body))
        self.name = name
        self.stderr_path = folder / f"{name}.stderr"
        with open(self.stderr_path, "wb") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, str(path), *args],
                stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
            )
        self.lines: list[str] = []  # every stdout line read so far
        self._unread: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))
            self._unread.put(self.lines[-1])
        self._unread.put(None)

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def wait_for_line(self, prefix: str, timeout: float = 60) -> str:
        """The next stdout line starting with ``prefix``."""
        deadline = time.monotonic() + timeout
        with contextlib.suppress(queue.Empty):
            while (
                line := self._unread.get(timeout=max(0.0, deadline - time.monotonic()))
            ) is not None:
                if line.startswith(prefix):
                    return line
        raise AssertionError(
            f"{self.name}: no line starting with {prefix!r}; stderr:\n{self.stderr[-3000:]}"
        )

    def send(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def run_id(self) -> str:
        return self.wait_for_line("ID").split()[1]

    def finish(self, timeout: float = 120) -> list[str]:
        """Wait for the process to end well; returns all its stdout lines."""
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait(timeout)
        self._reader.join(10)
        assert self.process.returncode == 0, (
            f"{self.name} exited {self.process.returncode}:\n{self.stderr[-3000:]}"
        )
        return self.lines

    def kill(self) -> None:
        kill_quietly(self.process)

    def close(self) -> None:
        kill_quietly(self.process)
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()


WRITER = """
import sys, time, daybreak
points, pause = int(sys.argv[1]), float(sys.argv[2])
run = daybreak.init(project="faults", name=sys.argv[3], system_metrics=False)
print("ID", run.id, flush=True)
assert sys.stdin.readline().strip() == "go"  # all writers start together
for i in range(points):
    run.log({"loss": 1.0 / (i + 1), "i": float(i)}, step=i)
    if i % 300 == 0:
        print("at step", i)  # captured into the run's log
    time.sleep(pause)
run.finish(timeout=120)
print("DONE", flush=True)
"""


def writers(
    tmp_path: Path,
    name: str,
    count: int,
    points: int,
    url: str | None = None,
    env: Mapping[str, str] | None = None,
) -> list[Script]:
    """Processes logging ``points`` steps of ``loss = 1/(i+1)`` and ``i`` over a few seconds
    once told to (:func:`start_together`), each in its own folder ``NAME-N``. With ``url``
    they log to that server (remote mode), each with its own home for its spool."""
    made = []
    for n in range(count):
        folder = tmp_path / f"{name}-{n}"
        remote = {"DAYBREAK_URL": url, "DAYBREAK_HOME": str(folder / "home")} if url else {}
        args = (str(points), "0.002", f"{name}-{n}")
        made.append(Script(folder, "train", WRITER, args, {**(env or {}), **remote}, stdin=True))
    return made


def start_together(processes: list[Script]) -> list[str]:
    """Wait until every writer has its run, then let them all log; returns the run ids."""
    run_ids = [p.run_id() for p in processes]
    for process in processes:
        process.send("go")
    return run_ids


def spooled(writer: Script) -> list[Path]:
    """Batches a remote writer left for `daybreak sync` (none when everything arrived)."""
    return list((writer.stderr_path.parent / "home" / "spool").rglob("*.op"))


def check_writer_run(view: Any, points: int) -> None:
    """A run of :data:`WRITER`: finished, every step once with its values, its output kept."""
    assert view.status == "finished", view.error
    check_whole(view.history("loss"), points, lambda s: 1.0 / (s + 1))
    check_whole(view.history("i"), points, lambda s: s.astype(np.float64))
    assert f"at step {(points - 1) // 300 * 300}" in view.logs()


def http_status(url: str, timeout: float = 2.0) -> int | None:
    """The status of a GET, or None when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (OSError, ValueError):
        return None


class ServerProcess:
    """`daybreak server` as a real process over the store named by the environment."""

    def __init__(self, port: int, log: Path, env: Mapping[str, str] | None = None) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log = log
        self.env = {**os.environ, **(env or {})}
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60) -> ServerProcess:
        command = [sys.executable, "-m", "daybreak.cli", "server", "--port", str(self.port)]
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, env=self.env
            )
        wait_until(self.answers, timeout, f"the server on {self.url} answering", every=0.1)
        return self

    def answers(self) -> bool:
        """True when the server answers a request that reads the database."""
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(f"the server exited:\n{self.log.read_text()[-3000:]}")
        return http_status(f"{self.url}/api/runs", timeout=5) == 200

    def kill(self) -> None:
        """SIGKILL: no shutdown handler, no flush, like a power cut of that process."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.kill()


def check_whole(history: Any, count: int, value: Callable[[np.ndarray], np.ndarray]) -> None:
    """Steps ``0 .. count-1`` each exactly once, each with its expected value."""
    steps = np.asarray(history.steps)
    expected = np.arange(count)
    missing = sorted(set(expected.tolist()) - set(steps.tolist()))
    assert len(steps) == count and not missing, (
        f"{history.key}: {len(steps)} points for {count} steps; missing {missing[:10]}, "
        f"duplicated {sorted({int(s) for s in steps if (steps == s).sum() > 1})[:10]}"
    )
    np.testing.assert_array_equal(steps, expected)
    np.testing.assert_array_equal(np.asarray(history.values), value(expected))


def kill_quietly(process: subprocess.Popen[Any]) -> None:
    with contextlib.suppress(ProcessLookupError):
        process.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(10)
