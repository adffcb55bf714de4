"""The integrations cost nothing until used, and say which package is missing."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

from daybreak.errors import DaybreakError


def test_import_daybreak_imports_no_framework():
    code = (
        "import sys, daybreak, daybreak.integrations\n"
        "heavy = [m for m in ('lightning', 'pytorch_lightning', 'transformers', 'torch')"
        " if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


@pytest.mark.parametrize(
    ("module", "blocked", "package"),
    [
        ("daybreak.integrations.lightning", ("lightning", "pytorch_lightning"), "lightning"),
        ("daybreak.integrations.huggingface", ("transformers",), "transformers"),
    ],
)
def test_missing_framework_is_a_daybreak_error(monkeypatch, module, blocked, package):
    for loaded in list(sys.modules):
        if loaded.split(".")[0] in blocked:
            monkeypatch.setitem(sys.modules, loaded, None)
    for name in blocked:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.delitem(sys.modules, module, raising=False)
    with pytest.raises(DaybreakError) as caught:
        importlib.import_module(module)
    assert repr(package) in caught.value.message and "pip install" in (caught.value.hint or "")
