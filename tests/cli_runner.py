"""Run the ``genshare`` command as a user would: a subprocess of this Python, the test
session's environment (private cache, offline, mirror) plus ``env``, with a bounded wait."""

import os
import subprocess
import sys


def run_genshare(
    *args: str, env: dict[str, str] | None = None, timeout: float = 900
) -> subprocess.CompletedProcess:
    """``genshare ARGS...`` → the finished process (stdout/stderr as text)."""
    return subprocess.run(
        [sys.executable, "-m", "genshare_widgets", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=timeout,
    )
