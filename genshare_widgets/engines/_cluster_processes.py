"""Start a small real Dask cluster on this machine: one ``dask scheduler`` and N ``dask worker``
processes on loopback, as a user would start them by hand. The tests and the benchmark use it.

Nothing here schedules work: the processes are Dask's own command-line programs (from the
same environment's ``bin``); :mod:`genshare_widgets.engines._distributed` connects to them.
Ports are chosen by the operating system (``--port 0``); the scheduler writes its address in a
scheduler file, which the workers read. Every wait is bounded and :meth:`close` always stops
what was started.
"""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

from genshare_widgets._errors import GenShareError


def _dask_command() -> str:
    exe = Path(sys.executable).parent / "dask"
    if not exe.is_file():
        raise GenShareError(
            f"{exe} not found: the 'distributed' package provides the dask command "
            "(pip install distributed)"
        )
    return str(exe)


class LocalDaskProcesses:
    """A ``dask scheduler`` and ``n_workers`` ``dask worker`` processes (no nanny, so a killed
    worker stays dead), listening on 127.0.0.1 only.

    Examples
    --------
    >>> with LocalDaskProcesses(tmp_path, n_workers=2) as cluster:  # doctest: +SKIP
    ...     counts = allele_counts_by_group(cohort, scheduler=cluster.address)
    """

    def __init__(
        self,
        workdir: Path,
        *,
        n_workers: int = 2,
        nthreads: int = 1,
        timeout: float = 120.0,
    ) -> None:
        self.workdir = Path(workdir)
        self.n_workers = n_workers
        self.nthreads = nthreads
        self.timeout = timeout
        self.address = ""
        self.scheduler: subprocess.Popen | None = None
        self.workers: list[subprocess.Popen] = []
        self._logs: list = []

    def _spawn(self, args: list[str], log_name: str) -> subprocess.Popen:
        log = open(self.workdir / log_name, "wb")  # noqa: SIM115 (closed in close())
        self._logs.append(log)
        return subprocess.Popen([_dask_command(), *args], stdout=log, stderr=subprocess.STDOUT)

    def _log_tail(self, name: str) -> str:
        path = self.workdir / name
        return path.read_text(errors="replace")[-2000:] if path.is_file() else ""

    def start(self) -> "LocalDaskProcesses":
        """Start the scheduler, then the workers; return once all workers have registered."""
        try:
            return self._start()
        except BaseException:
            self.close()
            raise

    def _start(self) -> "LocalDaskProcesses":
        self.workdir.mkdir(parents=True, exist_ok=True)
        scheduler_file = self.workdir / "scheduler.json"
        scheduler_file.unlink(missing_ok=True)
        loopback = ["--host", "127.0.0.1", "--dashboard-address", "127.0.0.1:0"]
        self.scheduler = self._spawn(
            ["scheduler", *loopback, "--port", "0", "--scheduler-file", str(scheduler_file)],
            "scheduler.log",
        )
        deadline = time.monotonic() + self.timeout
        while not scheduler_file.is_file():
            if self.scheduler.poll() is not None or time.monotonic() > deadline:
                raise GenShareError(
                    "the local dask scheduler did not start; its log:\n"
                    + self._log_tail("scheduler.log")
                )
            time.sleep(0.1)
        # The file appears once the scheduler listens; read it when complete.
        while not self.address:
            try:
                self.address = json.loads(scheduler_file.read_text())["address"]
            except (ValueError, KeyError):
                if time.monotonic() > deadline:
                    raise GenShareError(f"unreadable scheduler file {scheduler_file}") from None
                time.sleep(0.1)
        for i in range(self.n_workers):
            self.workers.append(
                self._spawn(
                    [
                        "worker",
                        self.address,
                        *loopback,
                        "--nthreads",
                        str(self.nthreads),
                        "--no-nanny",
                        "--name",
                        f"worker-{i}",
                        "--local-directory",
                        str(self.workdir / f"worker-{i}"),
                    ],
                    f"worker-{i}.log",
                )
            )
        self._wait_for_workers(deadline)
        return self

    def _wait_for_workers(self, deadline: float) -> None:
        from distributed import Client

        with Client(self.address, timeout=max(1.0, deadline - time.monotonic())) as client:
            try:
                left = max(1.0, deadline - time.monotonic())
                client.wait_for_workers(self.n_workers, timeout=left)
            except TimeoutError:
                logs = "\n".join(self._log_tail(f"worker-{i}.log") for i in range(self.n_workers))
                raise GenShareError(
                    f"{self.n_workers} dask workers did not register with {self.address} in "
                    f"{self.timeout:.0f} s; their logs:\n{logs}"
                ) from None

    def worker_addresses(self) -> dict[str, str]:
        """Worker name → address, as the scheduler knows them."""
        from distributed import Client

        with Client(self.address, timeout=10) as client:
            info = client.scheduler_info()["workers"]
        return {w["name"]: addr for addr, w in info.items()}

    def kill_worker(self, index: int) -> None:
        """SIGKILL one worker process (no clean shutdown: as when a machine dies)."""
        proc = self.workers[index]
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)

    def close(self) -> None:
        """Stop the workers, then the scheduler (SIGTERM, SIGKILL after 10 s): workers that
        lose their scheduler first would wait for it to come back."""
        for group in (self.workers, [self.scheduler] if self.scheduler else []):
            for proc in group:
                if proc.poll() is None:
                    proc.terminate()
            for proc in group:
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=10)
        for log in self._logs:
            log.close()
        self._logs.clear()

    def __enter__(self) -> "LocalDaskProcesses":
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
