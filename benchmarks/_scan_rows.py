"""Bench rows of the selection scans (issue 20): ``scan-h12`` and ``scan-pbs``.

``…/genshare`` is ``genshare scan STORE --samples T --stat h12 --groups CEU --window 200``
(``pbs``: ``--groups CEU,CHB,YRI --window 100 --step 50``). ``…/scikit-allel`` is a small
script that loads the same arrays from the same store (zarr-python, chunk by chunk: the
records of the ``--snps-only`` selection, a multi-allelic row split into one biallelic record
per ALT as GenShare does) and runs ``allel.moving_garud_h`` / ``allel.pbs`` on them, writing
the same windows' values; whole processes both. The scikit-allel script holds the group's
haplotype matrix whole (its functions take one array); GenShare streams it a chunk at a time.
"""

import sys
import time
from pathlib import Path

#: The scikit-allel peer: ``python allel_scan.py STORE SAMPLES h12|pbs OUT``.
ALLEL_SCAN_SCRIPT = r"""
import sys, numpy as np, pandas as pd, zarr, allel
store, table, stat, out = sys.argv[1:5]
root = zarr.open_group(store, mode="r")
ids = [str(s) for s in root["sample_id"][:]]
pop = pd.read_csv(table, sep="\t").set_index("sample").loc[ids, "population"].to_numpy()
groups = ["CEU"] if stat == "h12" else ["CEU", "CHB", "YRI"]
idx = [np.flatnonzero(pop == g) for g in groups]
alleles = np.array(root["variant_allele"][:].tolist(), dtype=str)
single = np.char.str_len(alleles) == 1
n_alleles = (np.char.str_len(alleles) > 0).sum(axis=1)
# records: (row, ALT) for every ALT whose REF and ALT are single bases (split per ALT)
rec_rows, rec_alts = [], []
for a in range(1, alleles.shape[1]):
    r = np.flatnonzero((n_alleles > a) & single[:, 0] & single[:, a])
    rec_rows.append(r)
    rec_alts.append(np.full(len(r), a))
rec_rows, rec_alts = np.concatenate(rec_rows), np.concatenate(rec_alts)
order = np.lexsort((rec_alts, rec_rows))
rec_rows, rec_alts = rec_rows[order], rec_alts[order]
gt = root["call_genotype"]
step = gt.chunks[0]
parts = [[] for _ in groups]
bounds = np.searchsorted(rec_rows, np.arange(0, gt.shape[0] + step, step))
for c, start in enumerate(range(0, gt.shape[0], step)):
    block = np.asarray(gt[start:start + step])
    rows = rec_rows[bounds[c]:bounds[c + 1]] - start
    alts = rec_alts[bounds[c]:bounds[c + 1]]
    if stat == "pbs":  # scikit-allel's allele counts per group; a record's ALT picked out
        ac = allel.GenotypeArray(block).count_alleles_subpops(
            dict(enumerate(idx)), max_allele=alleles.shape[1] - 1
        )
        for k in range(len(idx)):
            counts = np.asarray(ac[k])[rows]
            alt_count = counts[np.arange(len(rows)), alts]
            parts[k].append(np.column_stack([counts.sum(axis=1) - alt_count, alt_count]))
        continue
    for k, s in enumerate(idx):
        g = allel.GenotypeArray(block).subset(rows, s)
        h = np.where(g < 0, -1, g == alts[:, None, None]).astype("i1")
        parts[k].append(h.reshape(len(rows), -1))
if stat == "h12":
    values = allel.moving_garud_h(np.concatenate(parts[0]), 200)[1]
else:
    acs = [allel.AlleleCountsArray(np.concatenate(p)) for p in parts]
    values = allel.pbs(*acs, window_size=100, window_step=50)
np.savetxt(out, values)
print(len(values), float(np.nansum(values)))
"""


def add_scan_rows(timed, run, genshare, store, pops, work: Path, env) -> None:
    """Add ``scan-h12/…`` and ``scan-pbs/…`` rows (GenShare and the scikit-allel script);
    ``run`` is the harness's whole-process timer (benchmarks/run.py)."""
    script = work / "allel_scan.py"
    script.write_text(ALLEL_SCAN_SCRIPT)
    options = {
        "h12": ["--stat", "h12", "--groups", "CEU", "--window", "200"],
        "pbs": ["--stat", "pbs", "--groups", "CEU,CHB,YRI", "--window", "100", "--step", "50"],
    }
    for stat, args in options.items():
        timed[f"scan-{stat}/genshare"] = lambda args=args, stat=stat: run(
            [
                *genshare,
                "scan",
                str(store),
                "--samples",
                str(pops),
                *args,
                "--out",
                str(work / f"gs_scan_{stat}_{time.monotonic_ns()}"),
            ],
            env=env,
        )
        out = work / f"allel_{stat}.txt"
        timed[f"scan-{stat}/scikit-allel"] = lambda stat=stat, out=out: run(
            [sys.executable, str(script), str(store), str(pops), stat, str(out)]
        )
