"""Faults in the network services, with real processes (issue 15).

- A federation site process SIGKILLed with the coordinator's counts request in flight is
  excluded by URL and name with the reason (console, ``provenance.json``), and the combined
  files equal a run over the surviving sites only.
- A "site" that accepts the connection and never answers, and one that trickles its answer a
  byte at a time, are excluded after ``--timeout``; ``--min-sites`` stops a run that has too
  few sites left, writing nothing.
- ``site serve --by COLUMN`` refuses to start when the sample table lacks the column, and the
  coordinator's ``--by`` for a grouping a site does not serve names what the site serves.
- The Beacon answers 1,000 concurrent loopback connections without a 5xx and with a bounded
  peak RSS.

Every process is started by a fixture or a ``try`` that kills it in ``finally``; every wait
is bounded. Sites serve the simulated ``sim-ooa`` cohort (300 samples) cut in three.
"""

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

REPO = Path(__file__).resolve().parents[1]
FILES = ("freq.tsv", "fst.tsv", "het.tsv", "sfs.tsv", "shared.tsv")


def _env() -> dict[str, str]:
    """The session's cache and state (set by conftest) plus this checkout on the path."""
    return {**os.environ, "PYTHONPATH": str(REPO), "GENSHARE_PROGRESS": "0"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _genshare(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "genshare_widgets", *args]
    return subprocess.run(command, env=_env(), capture_output=True, text=True, timeout=timeout)


def _stop(proc: subprocess.Popen) -> None:
    """End a process this module started (by its own handle), waiting a bounded time."""
    if proc.poll() is None:
        proc.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):  # kill -9 does not take 10 s
        proc.wait(10)


def _wait_listening(url: str, proc: subprocess.Popen, seconds: float, log: Path) -> None:
    import httpx

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{url} exited with {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            if httpx.get(url + "/", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} did not come up in {seconds} s: {log.read_text()[-2000:]}")


def _start_site(table: Path, name: str, folder: Path) -> tuple[subprocess.Popen, str]:
    """``genshare site serve sim-ooa --samples TABLE --by population`` on a free port."""
    port = _free_port()
    log = folder / f"{name}.log"
    with log.open("w") as sink:  # a file, not a pipe: a chatty server never blocks on it
        proc = subprocess.Popen(
            [sys.executable, "-m", "genshare_widgets", "site", "serve", "sim-ooa",
             "--samples", str(table), "--name", name, "--by", "population",
             "--host", "127.0.0.1", "--port", str(port)],
            env=_env(), stdout=sink, stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_listening(url, proc, 60, log)
    except BaseException:
        _stop(proc)
        raise
    return proc, url


@pytest.fixture(scope="module")
def site_tables(sim_ooa, tmp_path_factory) -> list[Path]:
    """Three sample lists of sim-ooa (index mod 3: every population at every site); opening
    the cohort here builds its store once, before any site process starts."""
    folder = tmp_path_factory.mktemp("fault-sites")
    table = sim_ooa.samples.reset_index()
    paths = []
    for i in range(3):
        path = folder / f"site{i}.tsv"
        table.iloc[i::3].to_csv(path, sep="\t", index=False)
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def two_sites(site_tables, tmp_path_factory):
    """site-0 and site-1 as real ``genshare site serve`` processes (they survive every test)."""
    folder = tmp_path_factory.mktemp("fault-logs")
    procs: list[subprocess.Popen] = []
    try:
        urls = []
        for i in range(2):
            proc, url = _start_site(site_tables[i], f"site-{i}", folder)
            procs.append(proc)
            urls.append(url)
        yield urls
    finally:
        for proc in procs:
            _stop(proc)


class WatchingRelay:
    """A transparent TCP relay on loopback in front of a site: bytes pass unchanged both
    ways. The first time a client sends ``trigger``, ``before`` runs before those bytes go
    on and ``after`` right after: it lets a test act at an exact point of the protocol (the
    fault itself is injected into the real site process, not here). When either side
    closes or resets, the other is closed too, as a network path would."""

    def __init__(self, upstream_port: int, trigger: bytes, before, after) -> None:
        self.upstream_port, self.trigger = upstream_port, trigger
        self.before, self.after = before, after
        self.fired = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            self._sockets.append(client)
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port), 5)
            except OSError:  # the site is gone: so is the path to it
                client.close()
                continue
            self._sockets.append(upstream)
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, from_client: bool) -> None:
        try:
            while data := source.recv(65536):
                watch = from_client and not self.fired.is_set() and self.trigger in data
                if watch:
                    self.fired.set()
                    self.before()
                sink.sendall(data)
                if watch:
                    self.after()
        except OSError:
            pass
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._listener.close()
        for sock in self._sockets:
            sock.close()


def _provenance(folder: Path) -> dict:
    return json.loads((folder / "provenance.json").read_text())


@pytest.mark.slow
def test_site_killed_mid_run_is_excluded_by_name(two_sites, site_tables, tmp_path):
    """SIGSTOP site-2 when the coordinator's ``POST /counts`` reaches it, let the request
    in, then SIGKILL it: the request is in flight and unanswered when the process dies."""
    import filecmp

    from genshare_widgets.federation import federate

    victim, victim_url = _start_site(site_tables[2], "site-2", tmp_path)
    port = int(victim_url.rsplit(":", 1)[1])
    relay = WatchingRelay(
        port,
        b"POST /counts",
        before=lambda: os.kill(victim.pid, signal.SIGSTOP),  # it cannot answer any more
        after=lambda: os.kill(victim.pid, signal.SIGKILL),  # ...and dies with it unread
    )
    out = tmp_path / "with-kill"
    try:
        started = time.monotonic()
        done = _genshare(
            "federate", "--site", two_sites[0], "--site", relay.url, "--site", two_sites[1],
            "--by", "population", "--timeout", "20", "--out", str(out),
        )  # fmt: skip
        elapsed = time.monotonic() - started
        assert relay.fired.is_set(), "the coordinator never asked site-2 for counts"
        assert victim.wait(10) == -signal.SIGKILL
    finally:
        relay.close()
        _stop(victim)
    assert done.returncode == 0, done.stderr
    assert elapsed < 60
    # the console names the site by URL and by the name it gave, and says why
    assert f"excluded {relay.url} (site-2): site down or unreachable" in done.stderr
    provenance = _provenance(out)["federation"]
    (gone,) = provenance["excluded"]
    assert gone["site"] == relay.url and gone["name"] == "site-2"
    assert "site down or unreachable" in gone["reason"] and "3 attempts" in gone["reason"]
    assert [s["site"] for s in provenance["sites"]] == ["site-0", "site-1"]
    # the combined result is exactly the one over the surviving sites
    survivors = tmp_path / "survivors"
    result = federate(two_sites, by="population", out=survivors, timeout=20)
    assert not result.excluded
    for name in FILES:
        assert filecmp.cmp(out / name, survivors / name, shallow=False), name


SILENT_SITES = r"""
import pathlib, socket, sys, threading, time
mode, port_file = sys.argv[1], pathlib.Path(sys.argv[2])
server = socket.create_server(("127.0.0.1", 0))
port_file.with_suffix(".tmp").write_text(str(server.getsockname()[1]))
port_file.with_suffix(".tmp").rename(port_file)
held = []
def trickle(conn):
    try:
        conn.recv(65536)
        conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                     b"content-length: 100000\r\n\r\n{")
        while True:
            time.sleep(0.2)
            conn.sendall(b" ")
    except OSError:
        pass
while True:
    conn, _ = server.accept()
    held.append(conn)  # "hang": accepted, never read, never answered
    if mode == "trickle":
        threading.Thread(target=trickle, args=(conn,), daemon=True).start()
"""


@pytest.fixture
def silent_sites(tmp_path):
    """Two real processes on loopback: one accepts connections and never answers, one
    sends headers then one byte every 0.2 s, forever."""
    procs, urls = [], []
    try:
        for mode in ("hang", "trickle"):
            port_file = tmp_path / f"{mode}.port"
            procs.append(subprocess.Popen([sys.executable, "-c", SILENT_SITES, mode, port_file]))
            deadline = time.monotonic() + 20
            while not port_file.exists():
                assert time.monotonic() < deadline, f"the {mode} server did not start"
                time.sleep(0.05)
            urls.append(f"http://127.0.0.1:{int(port_file.read_text())}")
        yield urls
    finally:
        for proc in procs:
            _stop(proc)


def test_hanging_and_trickling_sites_are_excluded_after_the_timeout(
    two_sites, silent_sites, tmp_path
):
    hang, trickle = silent_sites
    started = time.monotonic()
    done = _genshare(
        "federate", "--site", two_sites[0], "--site", hang, "--site", trickle,
        "--by", "population", "--stats", "fst,freq", "--timeout", "2", "--out", str(tmp_path),
        timeout=60,
    )  # fmt: skip
    elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    # 2 s per request; the trickle keeps httpx's per-read timer fresh, the deadline does not
    assert elapsed < 20, elapsed
    provenance = _provenance(tmp_path)["federation"]
    reasons = {e["site"]: e["reason"] for e in provenance["excluded"]}
    assert set(reasons) == {hang, trickle}
    assert reasons[hang].startswith("timeout (ReadTimeout") and "after 2 s" in reasons[hang]
    assert "answer not complete after 2 s" in reasons[trickle]
    for url in (hang, trickle):
        assert f"excluded {url}: timeout" in done.stderr
    assert [s["site"] for s in provenance["sites"]] == ["site-0"]


def test_too_few_sites_left_stops_the_run_and_writes_nothing(two_sites, silent_sites, tmp_path):
    hang, _ = silent_sites
    out = tmp_path / "out"
    done = _genshare(
        "federate", "--site", two_sites[0], "--site", two_sites[1], "--site", hang,
        "--by", "population", "--stats", "fst", "--timeout", "2", "--min-sites", "3",
        "--out", str(out),
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert lines[0].startswith("genshare: error: only 2 of 3 sites could be used")
    assert "--min-sites is 3" in lines[0] and f"{hang}: timeout" in lines[0]
    assert not out.exists()
    bad = _genshare("federate", "--site", two_sites[0], "--by", "population",
                    "--min-sites", "2", "--out", str(out))  # fmt: skip
    assert bad.returncode == 2 and "--min-sites 2: give 1..1" in bad.stderr
    assert not out.exists()


def test_site_refuses_to_start_without_its_by_column(site_tables, tmp_path):
    port = _free_port()
    done = _genshare(
        "site", "serve", "sim-ooa", "--samples", str(site_tables[0]), "--by", "superpopulation",
        "--port", str(port), timeout=60,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert lines[0] == (
        f"genshare: error: --by superpopulation: no such column in --samples {site_tables[0]} "
        "(its columns: population, sex, height_like, disease_like, confounded_like, age); "
        "give --by naming one of them or add "
        "the column to the table"
    )
    with socket.socket() as sock:  # it never listened
        assert sock.connect_ex(("127.0.0.1", port)) != 0


def test_coordinator_by_a_grouping_no_site_serves_is_refused(two_sites, tmp_path):
    out = tmp_path / "out"
    done = _genshare("federate", "--site", two_sites[0], "--site", two_sites[1],
                     "--by", "sex", "--out", str(out))  # fmt: skip
    assert done.returncode == 2, done.stderr
    line = done.stderr.strip()
    assert "\n" not in line and line.startswith("genshare: error: no site could be used")
    for url, name in zip(two_sites, ("site-0", "site-1"), strict=True):
        assert (
            f"{url} ({name}): does not offer grouping 'sex': it serves only ['population']"
        ) in line
    assert "ask for --by population" in line
    assert not out.exists()


# --- The Beacon under 1,000 concurrent connections ------------------------------------------

CONNECTIONS = 1000
WAVES = 2
RSS_GROWTH_BOUND_MB = 128  # peak RSS over the idle, warmed-up server; measured ~35 MB


def _memory_mb(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM (peak RSS) of a process, in MB, from /proc/<pid>/status."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) / 1024
    return fields


def _beacon_requests(n: int) -> list[bytes]:
    """Varied valid requests: range queries over chromosome 1 (GET), and POST bodies."""
    requests = []
    for i in range(n):
        start = (i * 9973) % 1_000_000
        if i % 4 == 3:
            body = json.dumps(
                {
                    "meta": {"apiVersion": "v2.0.0"},
                    "query": {
                        "requestParameters": {
                            "referenceName": "1",
                            "start": [start],
                            "end": [start + 2000],
                        },
                        "requestedGranularity": "count",
                    },
                }
            ).encode()
            head = (
                "POST /g_variants HTTP/1.1\r\nHost: beacon\r\nContent-Type: application/json\r\n"
                f"Connection: close\r\nContent-Length: {len(body)}\r\n\r\n"
            )
            requests.append(head.encode() + body)
        else:
            path = (
                f"/g_variants?referenceName=1&start={start}&end={start + 5000}"
                "&requestedGranularity=record"
            )
            requests.append(
                f"GET {path} HTTP/1.1\r\nHost: beacon\r\nConnection: close\r\n\r\n".encode()
            )
    return requests


async def _one_wave(port: int, requests: list[bytes]) -> list:
    """Open every connection first, then send every request at once (a barrier): all of
    them are open and in flight together. → [(status, seconds, bytes) or exception]."""
    import asyncio

    barrier = asyncio.Barrier(len(requests))

    async def one(request: bytes):
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 20)
        try:
            await asyncio.wait_for(barrier.wait(), 20)
            started = time.perf_counter()
            writer.write(request)
            await writer.drain()
            data = await asyncio.wait_for(reader.read(), 50)
            elapsed = time.perf_counter() - started
        finally:
            writer.close()
        status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.1 ") else 0
        return status, elapsed, len(data)

    return await asyncio.gather(*(one(r) for r in requests), return_exceptions=True)


@pytest.fixture
def beacon_process(sim_ooa, tmp_path):
    """``genshare beacon serve sim-ooa`` (open tier, record granularity, no rate limit)."""
    port = _free_port()
    log = tmp_path / "beacon.log"
    with log.open("w") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "genshare_widgets", "beacon", "serve", "sim-ooa",
             "--granularity", "record", "--host", "127.0.0.1", "--port", str(port)],
            env=_env(), stdout=sink, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        _wait_listening(f"http://127.0.0.1:{port}", proc, 60, log)
        yield proc, port
    finally:
        _stop(proc)


@pytest.mark.slow
def test_beacon_answers_1000_concurrent_connections_without_5xx(beacon_process):
    import asyncio
    from collections import Counter

    import httpx

    proc, port = beacon_process
    url = f"http://127.0.0.1:{port}"
    requests = _beacon_requests(CONNECTIONS)
    with httpx.Client(timeout=20) as client:  # warm every code path once
        for request in requests[:8]:
            first = request.split(b"\r\n", 1)[0].decode().split()
            if first[0] == "GET":
                assert client.get(url + first[1]).status_code == 200
            else:
                body = request.split(b"\r\n\r\n", 1)[1]
                answer = client.post(url + "/g_variants", content=body)
                assert answer.status_code == 200, answer.text
    before = _memory_mb(proc.pid)
    results, peaks = [], []
    started = time.perf_counter()
    for _ in range(WAVES):
        results += asyncio.run(_one_wave(port, requests))
        peaks.append(_memory_mb(proc.pid)["VmHWM"])
    wall = time.perf_counter() - started
    failures = Counter(f"{type(r).__name__}: {r}" for r in results if isinstance(r, BaseException))
    assert not failures, failures
    statuses = Counter(status for status, _, _ in results)
    assert statuses == {200: CONNECTIONS * WAVES}, statuses  # no 5xx, no 4xx, no drops
    latency = sorted(seconds for _, seconds, _ in results)
    growth = peaks[-1] - before["VmHWM"]
    print(
        f"\nbeacon, {CONNECTIONS} concurrent connections x {WAVES}: "
        f"{len(results) / wall:.0f} requests/s, p50 {latency[len(latency) // 2] * 1000:.0f} ms, "
        f"p99 {latency[int(len(latency) * 0.99)] * 1000:.0f} ms; RSS before {before['VmRSS']:.0f} "
        f"MB, peak {peaks[-1]:.0f} MB (after each wave: {', '.join(f'{p:.0f}' for p in peaks)})"
    )
    assert growth < RSS_GROWTH_BOUND_MB, (before, peaks)
    # a second wave of the same size needs no more memory than the first: nothing piles up
    assert peaks[-1] - peaks[0] < RSS_GROWTH_BOUND_MB / 4, peaks
    with httpx.Client(timeout=10) as client:  # and it still answers
        assert client.get(url + "/info").status_code == 200
    assert proc.poll() is None


def test_requests_over_the_in_flight_limit_get_503_with_retry_after():
    """The designed limit behind the bounded memory: one request more than
    ``max_in_flight`` being answered is refused at once (503, ``Retry-After: 1``, the
    service's error document); the others are answered, and the count goes back down."""
    import asyncio

    import httpx
    from fastapi import FastAPI

    from genshare_widgets._serve import RequestLimits, RunningServer

    app = FastAPI()
    app.add_middleware(
        RequestLimits, error_document=lambda status, message: {"detail": message}, max_in_flight=3
    )
    release = threading.Event()

    @app.get("/slow")
    def slow():  # a worker thread holds the request until released (20 s at most)
        release.wait(20)
        return {"ok": True}

    async def flood(url: str):
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            waiting = [asyncio.create_task(client.get("/slow")) for _ in range(3)]
            await asyncio.sleep(1.0)  # the three are in flight
            refused = await asyncio.gather(*(client.get("/slow") for _ in range(5)))
            release.set()
            answered = await asyncio.gather(*waiting)
            again = await client.get("/slow")
            return refused, answered, again

    server = RunningServer(app, timeout_graceful_shutdown=1).start()
    try:
        refused, answered, again = asyncio.run(flood(server.url))
    finally:
        release.set()
        server.stop()
    assert [r.status_code for r in refused] == [503] * 5
    assert all(r.headers["retry-after"] == "1" for r in refused)
    assert "answering 3 requests at once, its limit" in refused[0].json()["detail"]
    assert [r.status_code for r in answered] == [200] * 3
    assert again.status_code == 200


def test_a_run_without_one_site_does_not_difference_out_its_suppressed_cells(site_tables):
    """Disclosure when a site drops out (``--min-sites`` default 1): with k = 20 at every
    site, a run over sites {0, 1, 2} minus a run over {0, 1} gives, cell by cell, only what
    site 2 itself released; no cell site 2 suppressed is a number in the three-site run."""
    import numpy as np

    from genshare_widgets.federation import federate, start_site
    from genshare_widgets.federation._protocol import COUNT_FIELDS

    servers = []
    try:
        for i, table in enumerate(site_tables):
            servers.append(
                start_site("sim-ooa", samples=table, name=f"k20-{i}", by="population", min_count=20)
            )
        urls = [s.url for s in servers]
        three = federate(urls, by="population", stats=["freq"], timeout=60).counts
        two = federate(urls[:2], by="population", stats=["freq"], timeout=60).counts
        alone = federate(urls[2:], by="population", stats=["freq"], timeout=60).counts
    finally:
        for server in servers:
            server.stop()
    for ds in (two, alone):
        assert list(ds["groups"].values) == list(three["groups"].values)
        assert np.array_equal(ds["variant_position"].values, three["variant_position"].values)
    suppressed_at_site = 0
    for field in COUNT_FIELDS:
        status3, status2 = three[f"{field}_status"].values, two[f"{field}_status"].values
        own_status = alone[f"{field}_status"].values
        suppressed_at_site += int((own_status != 0).sum())
        assert not ((own_status != 0) & (status3 == 0)).any(), field
        both = (status3 == 0) & (status2 == 0)
        difference = three[field].values[both] - two[field].values[both]
        assert (own_status[both] == 0).all(), field
        assert np.array_equal(difference, alone[field].values[both]), field
    assert suppressed_at_site > 1000  # the rule was exercised, not vacuous
