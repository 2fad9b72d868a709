"""Run the ``genshare`` command as a user would: a subprocess of this Python, the test
session's environment (private cache, offline, mirror) plus ``env``, with a bounded wait."""

import os
import shutil
import subprocess
import sys

import pytest

NOBODY = 65534  # the uid and gid of 'nobody'


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


def run_as_unprivileged_user(
    command: list[str], env: dict[str, str]
) -> subprocess.CompletedProcess:
    """Run ``command`` as a user whom file permissions bind (uid 65534 when we are root)."""
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv: cannot drop to an unprivileged user")
        prefix = [setpriv, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
        probe = subprocess.run(
            [*prefix, sys.executable, "-c", "import genshare_widgets.cli"],
            env=env,
            capture_output=True,
            text=True,
        )
        if probe.returncode != 0:
            pytest.skip(f"uid {NOBODY} cannot import genshare_widgets here: {probe.stderr[-200:]}")
        command = [*prefix, *command]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
