"""Debian's headless Chromium for the tests (installed by ``make browser``; never downloaded).

:func:`chromium` finds it: missing, a test fails under CI (``$CI`` set) and is skipped elsewhere.
:data:`HEADLESS_ARGS` are the flags every test starts it with (no first-run, no background network
on this machine's closed network).
"""

from __future__ import annotations

import os
import shutil

import pytest

HEADLESS_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; .ci/run installs Debian's chromium")
        pytest.skip("chromium not installed (apt-get install chromium)")
    return exe
