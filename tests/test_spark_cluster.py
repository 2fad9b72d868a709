"""Hail on a real Spark standalone cluster (master + worker from the installed pyspark, on
loopback): GENSHARE_SPARK_MASTER=spark://... gives the same counts as the Dask engine."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytestmark = [pytest.mark.hail, pytest.mark.slow]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port: int, proc: subprocess.Popen, log: Path, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.skip(f"the Spark process exited ({proc.returncode}): {log.read_text()[-800:]}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.5)
    raise TimeoutError(f"port {port} did not open in {seconds} s: {log.read_text()[-800:]}")


@pytest.fixture(scope="module")
def spark_master(tmp_path_factory):
    pytest.importorskip("pyspark")
    import pyspark

    spark_class = Path(pyspark.__file__).parent / "bin" / "spark-class"
    folder = tmp_path_factory.mktemp("spark")
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "SPARK_LOG_DIR": str(folder)}
    port, ui, worker_ui = _free_port(), _free_port(), _free_port()
    procs = []
    try:
        log_m = folder / "master.log"
        master = subprocess.Popen(
            [str(spark_class), "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
             "--port", str(port), "--webui-port", str(ui)],
            env=env, stdout=log_m.open("w"), stderr=subprocess.STDOUT,
        )  # fmt: skip
        procs.append(master)
        _wait_port(port, master, log_m)
        url = f"spark://127.0.0.1:{port}"
        log_w = folder / "worker.log"
        worker = subprocess.Popen(
            [str(spark_class), "org.apache.spark.deploy.worker.Worker", url, "--host",
             "127.0.0.1", "--cores", "2", "--memory", "3g", "--webui-port", str(worker_ui),
             "--work-dir", str(folder / "work")],
            env=env, stdout=log_w.open("w"), stderr=subprocess.STDOUT,
        )  # fmt: skip
        procs.append(worker)
        deadline = time.monotonic() + 90
        while "Successfully registered with master" not in log_w.read_text():
            if worker.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the Spark worker did not register: {log_w.read_text()[-800:]}")
            time.sleep(0.5)
        yield url
    finally:
        for proc in reversed(procs):
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


def test_hail_on_a_spark_standalone_cluster_equals_dask(spark_master, sim_ooa, tmp_path):
    from genshare_widgets.counts import allele_counts_by_group

    expected = allele_counts_by_group(sim_ooa, by="population", region="1:1-1500000")
    out = tmp_path / "hail_counts.npz"
    code = (
        "import numpy as np\n"
        "from genshare_widgets import open_cohort\n"
        "from genshare_widgets.counts import allele_counts_by_group\n"
        "import hail as hl\n"
        "c = allele_counts_by_group(open_cohort('sim-ooa', engine='hail'), by='population',"
        " region='1:1-1500000')\n"
        f"np.savez({str(out)!r}, ac=c['allele_count'].values, an=c['allele_number'].values,"
        " idx=c['variant_index'].values, master=hl.spark_context().master)\n"
    )
    env = {**os.environ, "GENSHARE_SPARK_MASTER": spark_master}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    got = np.load(out)
    assert str(got["master"]) == spark_master
    np.testing.assert_array_equal(got["idx"], expected["variant_index"].values)
    np.testing.assert_array_equal(got["ac"], expected["allele_count"].values)
    np.testing.assert_array_equal(got["an"], expected["allele_number"].values)
