"""Load test of the GA4GH Beacon: concurrent clients sending g_variants queries over HTTP.

    PYTHONPATH=. python benchmarks/beacon_load.py [--clients 4] [--queries 1000] [--cohort sim-ooa]

Starts a Beacon (record granularity, no rate limit) on 127.0.0.1 in this process, then each
client (a thread with its own httpx connection) sends a mix of sequence queries for present and
absent alleles at boolean, count and record granularity; prints throughput and latencies.
"""

import argparse
import json
import threading
import time

import numpy as np


def _queries(counts, n: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    plain = np.flatnonzero(~np.char.startswith(counts["variant_alt"].values.astype(str), "<"))
    rows = rng.choice(plain, n)  # symbolic ALTs (<CN0>) are found by variantType, not bases
    granularities = rng.choice(["boolean", "count", "record"], n)
    absent = rng.random(n) < 0.3
    out = []
    for row, granularity, miss in zip(rows, granularities, absent, strict=True):
        ref = str(counts["variant_ref"].values[row])
        alt = str(counts["variant_alt"].values[row])
        if miss:
            alt = next(b for b in "ACGT" if b not in (ref, alt))
        out.append(
            {
                "referenceName": str(counts["variant_contig"].values[row]),
                "start": int(counts["variant_position"].values[row]) - 1,
                "referenceBases": ref,
                "alternateBases": alt,
                "requestedGranularity": str(granularity),
            }
        )
    return out


def run_load(url: str, counts, *, clients: int = 4, queries_per_client: int = 1000, seed=1):
    """Run the load; returns queries, errors, seconds, throughput_qps, p50_ms, p99_ms."""
    import httpx

    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients
    plans = [_queries(counts, queries_per_client, seed + c) for c in range(clients)]

    def client(c: int) -> None:
        with httpx.Client(base_url=url, timeout=30.0) as http:
            for params in plans[c]:
                t0 = time.perf_counter()
                response = http.get("/g_variants", params=params)
                latencies[c].append(time.perf_counter() - t0)
                if response.status_code != 200:
                    errors[c] += 1

    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - start
    flat = np.array([x for lat in latencies for x in lat]) * 1000
    return {
        "clients": clients,
        "queries": int(flat.size),
        "errors": int(sum(errors)),
        "seconds": round(seconds, 3),
        "throughput_qps": round(flat.size / seconds, 1),
        "p50_ms": round(float(np.percentile(flat, 50)), 2),
        "p99_ms": round(float(np.percentile(flat, 99)), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--queries", type=int, default=1000, help="per client")
    parser.add_argument("--cohort", default="sim-ooa")
    args = parser.parse_args()
    from genshare_widgets import allele_counts_by_group, open_cohort
    from genshare_widgets._serve import RunningServer
    from genshare_widgets.beacon import beacon_app

    cohort = open_cohort(args.cohort)
    t0 = time.perf_counter()
    app = beacon_app(cohort, granularity="record", rate_limit=None)
    startup = time.perf_counter() - t0
    counts = allele_counts_by_group(cohort, by="population")
    with RunningServer(app) as server:
        report = run_load(server.url, counts, clients=args.clients, queries_per_client=args.queries)
    report = {"cohort": args.cohort, "app_startup_s": round(startup, 2), **report}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
