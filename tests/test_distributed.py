"""Genotype passes on a real Dask cluster: a ``dask scheduler`` and two ``dask worker`` processes
(one thread each, loopback, ports chosen by the OS) started from this environment's ``bin``.

Counts, per-sample statistics and PCA computed on the cluster equal the local ones exactly (the
task graph is the same); a worker killed mid-computation costs recomputation, not results;
``genshare stats --scheduler`` and ``GENSHARE_DASK_SCHEDULER`` write the same files as a local
run.
"""

import concurrent.futures
import json
import socket
import time
from pathlib import Path

import pytest
from cli_runner import run_genshare

from genshare_widgets import GenShareError, open_cohort
from genshare_widgets.counts import allele_counts_by_group
from genshare_widgets.engines._cluster_processes import LocalDaskProcesses
from genshare_widgets.engines._distributed import close_clients
from genshare_widgets.samples import pca, sample_stats

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def dask_cluster(tmp_path_factory):
    """A scheduler and two single-threaded workers for the whole session; always stopped."""
    cluster = LocalDaskProcesses(tmp_path_factory.mktemp("dask-cluster"), n_workers=2)
    cluster.start()
    try:
        yield cluster
    finally:
        close_clients()
        cluster.close()


def _task_stream(address: str):
    """A context that records the tasks the cluster runs (proof the work went there)."""
    from distributed import get_task_stream

    from genshare_widgets.engines._distributed import cluster_client

    return get_task_stream(client=cluster_client(address))


def test_counts_on_the_cluster_equal_local(sim_ooa, dask_cluster):
    local = allele_counts_by_group(sim_ooa, by="population", min_maf=0.01)
    with _task_stream(dask_cluster.address) as stream:
        remote = allele_counts_by_group(
            sim_ooa, by="population", min_maf=0.01, scheduler=dask_cluster.address
        )
    assert remote.identical(local)
    ran_on = {record["worker"] for record in stream.data}
    assert ran_on == set(dask_cluster.worker_addresses().values())  # both workers took part
    regional = allele_counts_by_group(sim_ooa, region="1:1-2000000", scheduler=dask_cluster.address)
    assert regional.identical(allele_counts_by_group(sim_ooa, region="1:1-2000000"))
    assert 0 < regional.sizes["variants"] < local.sizes["variants"]


def test_cohort_scheduler_and_environment_variable(sim_ooa, dask_cluster, monkeypatch):
    local = allele_counts_by_group(sim_ooa, by="population")
    on_cluster = open_cohort("sim-ooa", scheduler=dask_cluster.address)
    assert on_cluster.scheduler == dask_cluster.address
    with _task_stream(dask_cluster.address) as stream:
        assert allele_counts_by_group(on_cluster, by="population").identical(local)
    assert len(stream.data) > 0
    monkeypatch.setenv("GENSHARE_DASK_SCHEDULER", dask_cluster.address)
    with _task_stream(dask_cluster.address) as stream:
        assert allele_counts_by_group(sim_ooa, by="population").identical(local)
    assert len(stream.data) > 0
    # an explicit local scheduler wins over the environment variable
    with _task_stream(dask_cluster.address) as stream:
        threads = allele_counts_by_group(sim_ooa, by="population", scheduler="threads")
    assert threads.identical(local) and len(stream.data) == 0


def test_sample_stats_and_pca_on_the_cluster_equal_local(sim_ooa, dask_cluster):
    address = dask_cluster.address
    local_stats = sample_stats(sim_ooa)
    assert sample_stats(sim_ooa, scheduler=address).equals(local_stats)
    for method in ("exact", "randomized"):
        local = pca(sim_ooa, k=4, method=method)
        remote = pca(sim_ooa, k=4, method=method, scheduler=address)
        assert remote.coordinates.equals(local.coordinates), method
        assert remote.eigenvalues.equals(local.eigenvalues), method
        assert remote.n_variants == local.n_variants


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unreachable_scheduler_is_explained(sim_ooa, monkeypatch):
    monkeypatch.setenv("GENSHARE_DASK_CONNECT_TIMEOUT", "2")
    address = f"tcp://127.0.0.1:{_free_port()}"  # nobody listens there
    with pytest.raises(GenShareError, match="cannot reach the Dask scheduler at " + address):
        allele_counts_by_group(sim_ooa, scheduler=address)
    with pytest.raises(GenShareError, match="neither a Dask scheduler address"):
        open_cohort("sim-ooa", scheduler="127.0.0.1:8786")  # no scheme


def test_worker_killed_mid_computation(tmp_path):
    """Kill one worker once it has finished a chunk whose result is still needed: the
    scheduler recomputes that chunk on the survivor and the result is complete and equal."""
    from distributed import Client

    cohort = open_cohort("sim-ooa", variants_chunk_size=1000)  # ~48 chunks: many tasks
    local = allele_counts_by_group(cohort, by="population")
    with LocalDaskProcesses(tmp_path / "cluster", n_workers=2) as cluster:
        try:
            with Client(cluster.address, timeout=30) as observer:
                # Warm both workers up (imports, compiled kernel) on a small region.
                allele_counts_by_group(cohort, region="1:1-300000", scheduler=cluster.address)
                victim = cluster.worker_addresses()["worker-0"]
                observer.get_task_stream()  # installs the scheduler's task-stream recorder
                start = time.time()
                with concurrent.futures.ThreadPoolExecutor(1) as pool:
                    future = pool.submit(
                        allele_counts_by_group, cohort, by="population", scheduler=cluster.address
                    )
                    deadline = time.monotonic() + 60
                    done_on_victim: list[str] = []
                    while not done_on_victim:  # a finished chunk held by the victim
                        assert time.monotonic() < deadline, "no chunk finished on worker-0"
                        assert not future.done(), "finished before any chunk was seen"
                        done_on_victim = [
                            str(r["key"])
                            for r in observer.get_task_stream(start=start)
                            if r["worker"] == victim and "count_block" in str(r["key"])
                        ]
                        time.sleep(0.01)
                    finished_before_kill = future.done()
                    cluster.kill_worker(0)
                    result = future.result(timeout=120)
                records = observer.get_task_stream(start=start)
        finally:
            close_clients()
    assert not finished_before_kill
    assert result.identical(local)
    # the victim's finished chunks were lost with it and computed again by the survivor
    survivor_keys = {str(r["key"]) for r in records if r["worker"] != victim}
    assert set(done_on_victim) <= survivor_keys


def test_cli_scheduler_option_and_environment_write_the_same_files(sim_ooa, dask_cluster, tmp_path):
    stats = ["--freq", "--fst", "--het", "--sfs", "--sample-stats", "--pca", "3"]
    local = run_genshare("stats", "sim-ooa", *stats, "--out", str(tmp_path / "local"))
    assert local.returncode == 0, local.stderr
    option = run_genshare(
        "stats",
        "sim-ooa",
        *stats,
        "--scheduler",
        dask_cluster.address,
        "--out",
        str(tmp_path / "option"),
    )
    assert option.returncode == 0, option.stderr
    env = run_genshare(
        "stats",
        "sim-ooa",
        "--fst",
        "--pca",
        "3",
        "--out",
        str(tmp_path / "env"),
        env={"GENSHARE_DASK_SCHEDULER": dask_cluster.address},
    )
    assert env.returncode == 0, env.stderr
    tables = sorted(p.name for p in (tmp_path / "local").glob("*.tsv"))
    assert len(tables) == 7
    for name in tables:
        expected = (tmp_path / "local" / name).read_bytes()
        assert (tmp_path / "option" / name).read_bytes() == expected, name
        if (tmp_path / "env" / name).exists():
            assert (tmp_path / "env" / name).read_bytes() == expected, name
    assert sorted(p.name for p in (tmp_path / "env").glob("*.tsv")) == [
        "fst.tsv",
        "pca.tsv",
        "pca_eigenvalues.tsv",
    ]
    for folder, where in (("local", "local threads"), ("option", dask_cluster.address)):
        record = json.loads((tmp_path / folder / "provenance.json").read_text())
        assert record["dask_scheduler"] == where
    record = json.loads((tmp_path / "env" / "provenance.json").read_text())
    assert record["dask_scheduler"] == dask_cluster.address


def test_cli_unreachable_scheduler_exits_with_the_address(tmp_path):
    address = f"tcp://127.0.0.1:{_free_port()}"
    out = run_genshare(
        "stats",
        "sim-ooa",
        "--fst",
        "--scheduler",
        address,
        "--out",
        str(tmp_path),
        env={"GENSHARE_DASK_CONNECT_TIMEOUT": "2"},
    )
    assert out.returncode == 2
    assert f"cannot reach the Dask scheduler at {address}" in out.stderr
    assert "Traceback" not in out.stderr
    assert not list(Path(tmp_path).glob("*.tsv"))
