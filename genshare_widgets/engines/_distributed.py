"""Where the Dask genotype passes run: the local threads, or an existing Dask cluster.

Every genotype pass (per-group counts, per-sample counts, the PCA products) ends in
:func:`compute`. It runs the task graph

- on the ``dask.distributed`` scheduler named by the ``scheduler`` argument (an address such as
  ``tcp://10.0.0.5:8786``), else by the cohort's ``scheduler``, else by the environment variable
  ``GENSHARE_DASK_SCHEDULER``;
- otherwise where Dask computes by default: its local threads, or a ``distributed.Client``
  that the user created in the session (a local scheduler name such as ``"threads"`` or
  ``"synchronous"`` may also be given).

The graph is the same either way, so the results are identical. One ``distributed.Client``
per process and scheduler address is created on first use and reused; ``dask.distributed`` is
imported only then (importing :mod:`genshare_widgets` stays light). The cluster's workers read
the store themselves: it must be on storage they share with this process (a shared file system)
or at a URL (``https://``, ``s3://``, ``gs://``) they can reach.
"""

import os
import threading
from typing import Any

from genshare_widgets._errors import GenShareError

SCHEDULER_ENV = "GENSHARE_DASK_SCHEDULER"
CONNECT_TIMEOUT_ENV = "GENSHARE_DASK_CONNECT_TIMEOUT"
LOCAL_SCHEDULERS = ("threads", "threading", "sync", "synchronous", "single-threaded", "processes")

_clients: dict[str, Any] = {}
_lock = threading.Lock()


def resolve_scheduler(scheduler: str | None = None) -> str | None:
    """The scheduler to use: ``scheduler`` if given, else ``$GENSHARE_DASK_SCHEDULER``, else
    None (local threads). Empty strings count as unset.

    Examples
    --------
    >>> resolve_scheduler("tcp://127.0.0.1:8786")
    'tcp://127.0.0.1:8786'
    """
    if scheduler:
        return scheduler.strip()
    env = os.environ.get(SCHEDULER_ENV, "").strip()
    return env or None


def is_cluster_address(scheduler: str | None) -> bool:
    """True for a ``dask.distributed`` scheduler address (``tcp://``, ``tls://``, ``ws://``...).

    Examples
    --------
    >>> is_cluster_address("tcp://127.0.0.1:8786"), is_cluster_address("threads")
    (True, False)
    """
    return bool(scheduler) and "://" in str(scheduler)


def check_scheduler(scheduler: str) -> None:
    """Raise :class:`GenShareError` unless ``scheduler`` is a cluster address or a local
    Dask scheduler name (no connection is attempted)."""
    if not is_cluster_address(scheduler) and scheduler not in LOCAL_SCHEDULERS:
        raise GenShareError(
            f"scheduler {scheduler!r} is neither a Dask scheduler address (tcp://HOST:PORT, "
            f"e.g. tcp://10.0.0.5:8786) nor a local scheduler name {LOCAL_SCHEDULERS}. "
            f"Check --scheduler or ${SCHEDULER_ENV}."
        )


def cluster_client(address: str):  # -> distributed.Client
    """The process's ``distributed.Client`` for ``address``, connected on first use.

    Raises :class:`GenShareError` naming the address when no scheduler answers within
    ``$GENSHARE_DASK_CONNECT_TIMEOUT`` seconds (default 10).

    Examples
    --------
    >>> client = cluster_client("tcp://127.0.0.1:8786")  # doctest: +SKIP
    """
    with _lock:
        client = _clients.get(address)
        if client is not None and client.status == "running":
            return client
        try:
            from distributed import Client
        except ImportError:
            raise GenShareError(
                f"running on the Dask cluster {address} needs the 'distributed' package: "
                'pip install "distributed" (it is a dependency of genshare_widgets; '
                "reinstall with 'make env')"
            ) from None
        timeout = float(os.environ.get(CONNECT_TIMEOUT_ENV, "10"))
        try:
            client = Client(address, timeout=timeout, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as exc:
            raise GenShareError(
                f"cannot reach the Dask scheduler at {address} ({type(exc).__name__}: {exc}). "
                "Start one (`dask scheduler`, then `dask worker ADDRESS` on each machine), "
                f"check the address and firewall, or drop --scheduler / unset ${SCHEDULER_ENV} "
                "to compute on this machine."
            ) from None
        _clients[address] = client
        return client


def compute(collection, *, scheduler: str | None = None):
    """Compute a Dask collection on the chosen scheduler (see the module docstring).

    Examples
    --------
    >>> import dask.array as da
    >>> int(compute(da.ones(10, chunks=5).sum(), scheduler="threads"))
    10
    """
    chosen = resolve_scheduler(scheduler)
    if chosen is None:  # Dask's own choice: threads, or a Client the user made the default
        return collection.compute()
    check_scheduler(chosen)
    if not is_cluster_address(chosen):
        return collection.compute(scheduler=chosen)
    client = cluster_client(chosen)
    return collection.compute(scheduler=client)


def close_clients() -> None:
    """Close every client this process opened (the clusters keep running)."""
    with _lock:
        for client in _clients.values():
            client.close()
        _clients.clear()
