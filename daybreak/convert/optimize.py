"""ONNX Runtime graph optimisation saved as an offline-optimised model.

At ``all`` (ORT_ENABLE_ALL) ONNX Runtime also applies x86 layout transforms (NCHWc), worth
about 2x on this CPU over lower levels, but the file then runs only on CPUs like this one;
``extended`` keeps the file portable (phones, GPUs). Loading an offline-optimised file skips
the optimisation work at start-up.
"""

from __future__ import annotations

from pathlib import Path

from daybreak.convert.runtime import check_onnx, session


def optimize_onnx(
    source: Path | str, dest: Path | str, level: str = "all", threads: int = 1
) -> Path:
    """Write ``source`` optimised at ``level`` to ``dest`` and return ``dest``."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    session(source, threads=threads, level=level, optimized_path=dest)
    if level != "all":  # an "all" file holds contrib ops (NCHWc) that onnx.checker does not know
        check_onnx(dest)
    return dest
