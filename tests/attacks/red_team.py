"""Red-team helpers: k, real ``genshare`` service processes, refusals.

Every attack reads only what a public interface gives (files written by ``genshare``, HTTP
answers of ``genshare site serve`` / ``genshare beacon serve`` processes, the Python API); the
true counts below (:func:`truth`) are the referee's, used only to score what an attack recovered.
"""

import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

K = 20  # the All of Us rule, the registered/controlled default
REPO = Path(__file__).resolve().parents[2]
COHORT = "1kg-phase3-subset"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def genshare_service(*args: str, env: dict[str, str] | None = None, wait: float = 120):
    """Run ``genshare ARGS... --host 127.0.0.1 --port P`` as a process; yield its base URL
    once ``GET /`` answers (any status); stop it (SIGTERM, then kill) afterwards."""
    import httpx

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [
        sys.executable,
        "-m",
        "genshare_widgets",
        *args,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    full_env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    log = open(os.devnull, "w")  # noqa: SIM115 -- closed in finally
    proc = subprocess.Popen(cmd, env=full_env, stdout=log, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + wait
        while True:
            if proc.poll() is not None:
                raise ServiceRefused(" ".join(args), proc.stderr.read() if proc.stderr else "")
            try:
                httpx.get(url + "/", timeout=2)
                break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"genshare {' '.join(args)} did not start in {wait} s")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()


class ServiceRefused(Exception):  # noqa: N818 -- reads as the event it reports
    """The service exited at start (a refusal by the defender); ``message`` is its stderr."""

    def __init__(self, command: str, message: str) -> None:
        super().__init__(f"genshare {command} exited: {message}")
        self.message = message
