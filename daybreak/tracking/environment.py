"""What a run records about where it ran: git state, host, command line, Python and packages.

Collected on the writer thread, never on the caller's: ``git`` and package metadata cost tens
of milliseconds.
"""

from __future__ import annotations

import os
import platform
import socket
import subprocess
import sys
from importlib import metadata
from typing import Any

PACKAGES = (
    "daybreak",
    "torch",
    "numpy",
    "onnx",
    "onnxruntime",
    "pytorch-lightning",
    "transformers",
    "timm",
)


def git_state(cwd: str | None = None) -> dict[str, Any]:
    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=5, check=False
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return {}
    status = git("status", "--porcelain", "--untracked-files=no")
    return {
        "commit": commit,
        "branch": git("rev-parse", "--abbrev-ref", "HEAD"),
        "dirty": bool(status),
        "root": git("rev-parse", "--show-toplevel"),
    }


def package_versions() -> dict[str, str]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def environment() -> dict[str, Any]:
    return {
        "python": sys.version.split()[0],
        "executable": sys.executable,
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "cwd": os.getcwd(),
        "packages": package_versions(),
    }


def host() -> str:
    return socket.gethostname()


def command_line() -> str:
    import shlex

    return shlex.join([sys.executable.rsplit("/", 1)[-1], *sys.argv])
