"""One Hail session per process, started on first use and stopped at exit.

:func:`hail_session` imports Hail (about 5 s) and starts it on Spark (about 8 s more) the first
time any Hail-engine function needs it; later calls return the same module at once. Settings:

- master: ``GENSHARE_SPARK_MASTER`` (e.g. ``spark://host:7077``) or ``local[N]``, N the number
  of cores of this machine;
- Hail's temporary files and its log live in the cache (``$GENSHARE_CACHE/hail/tmp/session-<pid>``,
  removed at exit, and ``$GENSHARE_CACHE/hail/logs``), never in the working directory;
- quiet: no progress bars, no Spark UI.

Hail needs Java. Without it, :func:`hail_session` raises a :class:`GenShareError` that says what
to install; the Dask engine does not need Java and keeps working. Hail 0.2.139 is built for
Java 11 and runs on Java 17 with a warning: GenShare replaces that warning by one log line
(logger ``genshare_widgets.engines``) so that it is not repeated on every session start.
"""

import atexit
import logging
import os
import re
import shutil
import subprocess
import threading
import time
import warnings
from pathlib import Path
from typing import Any

from genshare_widgets._errors import GenShareError
from genshare_widgets.fetch import cache_dir

log = logging.getLogger("genshare_widgets.engines")

_LOCK = threading.Lock()
_STATE: dict[str, Any] = {}

_INSTALL_JAVA = (
    "Install Java 11 (the version Hail 0.2 supports): with conda, "
    "'conda install -c conda-forge openjdk=11' (environments/environment.yml has it); on "
    "Debian/Ubuntu 'apt-get install openjdk-17-jre-headless' also works (Hail warns that 17 is "
    "untested). Then put 'java' on PATH or set JAVA_HOME. The Dask engine (engine='dask', the "
    "default) needs no Java."
)


def hail_dir() -> Path:
    """Folder of the Hail engine's cache: converted MatrixTables, temporary files, logs."""
    return cache_dir() / "hail"


def find_java() -> Path:
    """The ``java`` executable Spark will use (``$JAVA_HOME/bin/java``, else ``java`` on PATH).

    Raises
    ------
    GenShareError
        When there is none, naming what to install.
    """
    home = os.environ.get("JAVA_HOME")
    if home:
        candidate = Path(home) / "bin" / "java"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
        raise GenShareError(
            f"JAVA_HOME is {home!r} but {candidate} is not an executable: the Hail engine "
            f"cannot start Spark. Point JAVA_HOME at a JDK or unset it. {_INSTALL_JAVA}"
        )
    found = shutil.which("java")
    if found is None:
        raise GenShareError(
            "the Hail engine needs Java, and no 'java' is on PATH (JAVA_HOME is unset). "
            + _INSTALL_JAVA
        )
    return Path(found)


def java_major_version(java: Path) -> int | None:
    """Major version of a ``java`` executable (``11``, ``17``), or None if it cannot say."""
    try:
        run = subprocess.run(
            [str(java), "-version"], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r'version "(\d+)(?:\.(\d+))?', run.stderr + run.stdout)
    if not match:
        return None
    major = int(match[1])
    return int(match[2]) if major == 1 and match[2] else major  # "1.8.0" → 8


def spark_master() -> str:
    """``GENSHARE_SPARK_MASTER``, or ``local[N]`` with N the cores of this machine."""
    return os.environ.get("GENSHARE_SPARK_MASTER") or f"local[{os.cpu_count() or 1}]"


def session_tmp_dir() -> Path:
    """This process's temporary folder for Hail (``$GENSHARE_CACHE/hail/tmp/session-<pid>``),
    removed when the session stops."""
    return hail_dir() / "tmp" / f"session-{os.getpid()}"


def _remove_stale_tmp_dirs() -> None:
    """Temporary folders of Hail sessions whose process is gone (killed, crashed)."""
    from genshare_widgets.engines._store import _pid_alive

    root = hail_dir() / "tmp"
    if not root.is_dir():
        return
    for folder in root.glob("session-*"):
        try:
            pid = int(folder.name.rsplit("-", 1)[1])
        except ValueError:
            continue
        if pid != os.getpid() and not _pid_alive(pid):
            shutil.rmtree(folder, ignore_errors=True)


def _stop() -> None:
    hl = _STATE.get("hl")
    if hl is None:
        return
    try:
        hl.stop()
    except Exception as exc:  # interpreter shutdown: report, never hide
        log.info("stopping Hail at exit failed: %s", exc)
    shutil.rmtree(session_tmp_dir(), ignore_errors=True)
    _STATE.clear()


def hail_session():  # -> the hail module, initialised
    """The ``hail`` module with this process's Hail session started (once, lazily).

    Examples
    --------
    >>> hl = hail_session()  # doctest: +SKIP
    >>> hl.utils.range_table(3).count()  # doctest: +SKIP
    3
    """
    with _LOCK:
        if "hl" in _STATE:
            return _STATE["hl"]
        java = find_java()
        try:
            import hail as hl
        except ImportError:
            raise GenShareError(
                "the Hail engine needs Hail: pip install 'genshare_widgets[hail]' "
                "(hail==0.2.139; it also needs Java 11)"
            ) from None
        major = java_major_version(java)
        if major is not None and major < 11:
            raise GenShareError(
                f"{java} is Java {major}; Hail 0.2 needs Java 11 (17 runs with a warning). "
                + _INSTALL_JAVA
            )
        if major is not None and major > 11:
            log.info(
                "Hail: running on Java %d (%s). Hail 0.2.139 is built and tested with Java 11 "
                "and warns that %d is unsupported; results are unaffected in GenShare's tests. "
                "For the supported setup install openjdk=11 (environments/environment.yml).",
                major,
                java,
                major,
            )
        root = hail_dir()
        _remove_stale_tmp_dirs()
        tmp = session_tmp_dir()
        logs = root / "logs"
        tmp.mkdir(parents=True, exist_ok=True)
        logs.mkdir(parents=True, exist_ok=True)
        master = spark_master()
        if master.startswith("local") and "SPARK_LOCAL_IP" not in os.environ:
            os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"  # local mode: no network lookup, no warning
        log_file = logs / f"hail-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
        started = time.perf_counter()
        with warnings.catch_warnings():
            # Hail's "built and tested with Java 11" UserWarning: explained once above instead.
            warnings.filterwarnings("ignore", message=r"Hail was built and tested with Java")
            try:
                hl.init(
                    master=master,
                    app_name="genshare",
                    quiet=True,
                    log=str(log_file),
                    tmp_dir=str(tmp),
                    local_tmpdir=str(tmp),
                    idempotent=True,
                    global_seed=0,
                    spark_conf={
                        "spark.ui.enabled": "false",
                        "spark.ui.showConsoleProgress": "false",
                    },
                )
            except Exception as exc:
                raise GenShareError(
                    f"Hail could not start Spark (master {master!r}, java {java}): {exc}. "
                    f"Hail's log: {log_file}. " + _INSTALL_JAVA
                ) from exc
        log.info(
            "Hail session started in %.1f s (master %s, log %s)",
            time.perf_counter() - started,
            master,
            log_file,
        )
        _STATE["hl"] = hl
        _STATE["log"] = log_file
        if not _STATE.get("atexit"):
            atexit.register(_stop)
            _STATE["atexit"] = True
        return hl
