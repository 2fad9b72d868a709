"""VCF-Zarr stores read over HTTP, in place: a loopback ``http.server`` serves a prepared store
and logs every GET, so the tests can count which chunks a genotype pass fetched.
"""

import functools
import json
import os
import re
import socket
import subprocess
import sys
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest
import xarray as xr

from genshare_widgets import GenShareError, open_cohort
from genshare_widgets.counts import allele_counts_by_group
from genshare_widgets.samples import sample_stats

_GENOTYPE_CHUNK = re.compile(r"/call_genotype/\d+\.\d+\.\d+$")


class _LoggingHandler(SimpleHTTPRequestHandler):
    """Serves files (with folder listings, which Zarr format 2 needs to find the arrays) and
    records each GET path."""

    def do_GET(self) -> None:
        with self.server.lock:  # type: ignore[attr-defined]
            self.server.requests.append(self.path)  # type: ignore[attr-defined]
        super().do_GET()

    def log_message(self, format, *args) -> None:  # quiet
        return


class _NoListingHandler(_LoggingHandler):
    """Like a static host or a bucket's HTTPS endpoint: files only, no folder listings."""

    def list_directory(self, path):
        self.send_error(404, "no listing")
        return None


class CountingServer(ThreadingHTTPServer):
    """A loopback HTTP server over ``root`` that remembers the paths it was asked for."""

    daemon_threads = True

    def __init__(self, root, *, listings: bool = True) -> None:
        handler = _LoggingHandler if listings else _NoListingHandler
        super().__init__(("127.0.0.1", 0), functools.partial(handler, directory=root))
        self.lock = threading.Lock()
        self.requests: list[str] = []

    def genotype_chunks(self) -> list[str]:
        """The call_genotype chunk files requested since the last :meth:`reset`."""
        with self.lock:
            return [p for p in self.requests if _GENOTYPE_CHUNK.search(p)]

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()


@pytest.fixture(scope="session")
def store_server(sim_ooa):
    """Serves the folder holding sim-ooa's converted store; yields (server, store URL)."""
    server = CountingServer(sim_ooa.store_path.parent)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/{sim_ooa.store_path.name}"
        yield server, url
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def populations_tsv(sim_ooa, tmp_path_factory):
    """sim-ooa's sample table as a --samples TSV (a remote store brings no catalog table)."""
    path = tmp_path_factory.mktemp("remote") / "populations.tsv"
    sim_ooa.samples[["population"]].rename_axis("sample").to_csv(path, sep="\t")
    return path


def test_remote_store_equals_local_and_reads_only_the_region(
    sim_ooa, store_server, populations_tsv
):
    server, url = store_server
    stores_before = sorted(sim_ooa.store_path.parent.iterdir())
    server.reset()
    remote = open_cohort(url, samples=populations_tsv)
    assert server.genotype_chunks() == []  # opening reads metadata only
    assert remote.store_path == url and remote.n_variants == sim_ooa.n_variants
    assert remote.provenance["source"] == url and remote.provenance["remote"] is True
    assert remote.provenance["files"] == []  # not hashed
    assert remote.provenance["store_key"] == sim_ooa.provenance["store_key"]
    # the content hash comes with the root attributes (no extra request), as recorded at build
    assert remote.provenance["store_content_sha256"] == sim_ooa.provenance["store_content_sha256"]
    assert "genshare_manifest" not in remote.genotypes.attrs
    assert sorted(sim_ooa.store_path.parent.iterdir()) == stores_before  # not converted

    server.reset()
    full = allele_counts_by_group(remote, by="population")
    full_chunks = server.genotype_chunks()
    xr.testing.assert_identical(
        full.drop_attrs(), allele_counts_by_group(sim_ooa, by="population").drop_attrs()
    )
    assert full.attrs["filters"] == allele_counts_by_group(sim_ooa).attrs["filters"]
    n_chunks = len(sim_ooa.genotypes["call_genotype"].chunks[0])
    assert len(set(full_chunks)) == n_chunks  # every chunk once

    server.reset()
    region = "1:1-1000000"
    regional = allele_counts_by_group(remote, by="population", region=region)
    region_chunks = server.genotype_chunks()
    xr.testing.assert_identical(
        regional.drop_attrs(),
        allele_counts_by_group(sim_ooa, by="population", region=region).drop_attrs(),
    )
    assert 0 < len(region_chunks) < len(full_chunks)

    columns = ["n_variants", "n_called", "n_het", "n_missing", "observed_het", "missingness"]
    assert sample_stats(remote)[columns].equals(sample_stats(sim_ooa)[columns])


def test_remote_errors_name_the_url(store_server, monkeypatch):
    _, url = store_server
    base = url.rsplit("/", 1)[0]
    with pytest.raises(GenShareError, match=re.escape(f"{base}/no-such.vcz")):
        open_cohort(f"{base}/no-such.vcz")
    with pytest.raises(GenShareError, match=re.escape(f"{url}/call_genotype")):
        open_cohort(f"{url}/call_genotype")  # an array inside the store, not a store
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again below: nobody listens
    dead = f"http://127.0.0.1:{port}/cohort.vcz"
    with pytest.raises(GenShareError, match=re.escape(dead) + ".*not a reachable"):
        open_cohort(dead)
    monkeypatch.setenv("GENSHARE_OFFLINE", "1")
    with pytest.raises(GenShareError, match="GENSHARE_OFFLINE=1 forbids"):
        open_cohort("https://example.org/cohort.vcz")  # refused before any network access
    with pytest.raises(GenShareError, match="storage_options apply to a URL"):
        open_cohort("sim-ooa", storage_options={"anon": True})


def test_consolidated_store_needs_no_folder_listing(sim_ooa, populations_tsv, tmp_path):
    """A server without folder listings serves a store with consolidated metadata; without
    it, the error names the URL."""
    import shutil

    import zarr

    plain = tmp_path / "plain.vcz"
    shutil.copytree(sim_ooa.store_path, plain)
    consolidated = tmp_path / "consolidated.vcz"
    shutil.copytree(sim_ooa.store_path, consolidated)
    zarr.consolidate_metadata(str(consolidated), zarr_format=2)
    server = CountingServer(tmp_path, listings=False)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_port}"
        remote = open_cohort(f"{base}/consolidated.vcz", samples=populations_tsv)
        region = "1:2000000-3000000"
        xr.testing.assert_identical(
            allele_counts_by_group(remote, region=region).drop_attrs(),
            allele_counts_by_group(sim_ooa, region=region).drop_attrs(),
        )
        assert not any(p.endswith("/") for p in server.requests)  # nothing was listed
        with pytest.raises(GenShareError, match=re.escape(f"{base}/plain.vcz") + ".*list"):
            open_cohort(f"{base}/plain.vcz", samples=populations_tsv)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.mark.slow
def test_cli_stats_on_a_url_equals_the_local_store(
    sim_ooa, store_server, populations_tsv, tmp_path
):
    _, url = store_server

    def stats(source: str, out: str) -> None:
        run = subprocess.run(
            [
                *(sys.executable, "-m", "genshare_widgets", "stats", source),
                *("--samples", str(populations_tsv), "--region", "1:1-2000000"),
                *("--freq", "--fst", "--out", str(tmp_path / out)),
            ],
            capture_output=True,
            text=True,
            timeout=600,
            env=os.environ.copy(),
        )
        assert run.returncode == 0, run.stderr

    stats(url, "remote")
    stats(str(sim_ooa.store_path), "local")
    for name in ("freq.tsv", "fst.tsv"):
        assert (tmp_path / "remote" / name).read_bytes() == (tmp_path / "local" / name).read_bytes()
    record = json.loads((tmp_path / "remote" / "provenance.json").read_text())
    assert record["source"] == url
