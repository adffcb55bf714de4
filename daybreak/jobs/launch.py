"""The process each job attempt runs under: ``python launch.py JOB_DIR ATTEMPT``.

It starts the job's command with its log as stdout and stderr, passes SIGTERM and SIGINT on,
and writes ``exit-ATTEMPT.json`` when the command ends. So an agent that restarts while the job
runs still learns its exit code. It is run as a file, not as ``-m daybreak...``: it imports
only the standard library and starts in a few tens of milliseconds.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path


def main() -> int:
    folder, attempt = Path(sys.argv[1]), sys.argv[2]
    plan = json.loads((folder / f"launch-{attempt}.json").read_text())
    with open(folder / f"attempt-{attempt}.log", "ab", buffering=0) as log:
        try:
            child = subprocess.Popen(
                plan["argv"],
                cwd=plan["cwd"],
                env={**os.environ, **plan["env"]},
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        except OSError as exc:
            log.write(f"daybreak: cannot start {plan['argv'][0]}: {exc}\n".encode())
            return _record(folder, attempt, 127)

        def forward(signum: int, _frame: object) -> None:
            child.send_signal(signum)

        signal.signal(signal.SIGTERM, forward)
        signal.signal(signal.SIGINT, forward)
        code = child.wait()
    return _record(folder, attempt, code)


def _record(folder: Path, attempt: str, code: int) -> int:
    partial = folder / f".exit-{attempt}.json"
    partial.write_text(json.dumps({"code": code, "ended_at": time.time()}))
    os.replace(partial, folder / f"exit-{attempt}.json")
    return code if code >= 0 else 128 - code  # killed by signal N: 128 + N, as a shell reports


if __name__ == "__main__":
    sys.stdout.flush()
    os._exit(main())  # no interpreter teardown: the agent learns of the exit a few ms sooner
