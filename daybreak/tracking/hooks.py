"""Process-level hooks so that no run stays "running": an exception marks it failed, Ctrl-C
stopped, SIGTERM stopped, a normal exit finished. Also the stdout/stderr tee."""

from __future__ import annotations

import atexit
import collections
import os
import signal
import sys
import threading
import traceback
from types import FrameType, TracebackType
from typing import Any, Protocol, TextIO


class _Finishable(Protocol):
    def finish(self, status: str = ..., error: str | None = ..., timeout: float = ...) -> None: ...


_active: list[_Finishable] = []
_installed_pid: int | None = None
_previous_excepthook = sys.excepthook
_lock = threading.Lock()


def register(run: _Finishable) -> None:
    global _installed_pid
    with _lock:
        _active.append(run)
        if _installed_pid != os.getpid():
            _installed_pid = os.getpid()
            _install()


def active_runs() -> list[_Finishable]:
    with _lock:
        return list(_active)


def unregister(run: _Finishable) -> None:
    with _lock:
        if run in _active:
            _active.remove(run)


def _install() -> None:
    global _previous_excepthook
    _previous_excepthook = sys.excepthook
    sys.excepthook = _excepthook
    atexit.register(_at_exit)
    if (
        threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    ):
        signal.signal(signal.SIGTERM, _on_sigterm)


def _finish_all(status: str, error: str | None) -> None:
    if os.getpid() != _installed_pid:
        return
    for run in list(_active):
        try:
            run.finish(status, error)
        except Exception as exc:  # a broken run must not keep the others from finishing
            print(f"daybreak: could not finish a run: {exc}", file=sys.__stderr__)


def _excepthook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    _previous_excepthook(kind, exc, tb)  # first, so the traceback is in the run's output too
    if issubclass(kind, KeyboardInterrupt):
        _finish_all("stopped", "interrupted (Ctrl-C)")
    else:
        _finish_all("failed", "".join(traceback.format_exception(kind, exc, tb)))


def _at_exit() -> None:
    _finish_all("finished", None)


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    _finish_all("stopped", "terminated (SIGTERM)")
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)


class _Tee:
    """Writes go to the real stream and, as text, to the run's output queue."""

    def __init__(self, stream: TextIO, sink: collections.deque[str]) -> None:
        self._stream = stream
        self._sink = sink

    def write(self, text: str) -> int:
        self._sink.append(text)
        return self._stream.write(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class OutputCapture:
    def __init__(self, sink: collections.deque[str]) -> None:
        self._originals = (sys.stdout, sys.stderr)
        sys.stdout = _Tee(sys.stdout, sink)
        sys.stderr = _Tee(sys.stderr, sink)

    def close(self) -> None:
        out, err = self._originals
        if isinstance(sys.stdout, _Tee):
            sys.stdout = out
        if isinstance(sys.stderr, _Tee):
            sys.stderr = err


def capture_output(sink: collections.deque[str]) -> OutputCapture:
    return OutputCapture(sink)
