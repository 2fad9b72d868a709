"""A seeded msprime simulation of a population trio with a hard selective sweep in one
population, written as a phased VCF (notebook 12 and the selection-scan tests, issue 20).

msprime runs ``SweepGenicSelection`` in single-population models only, so the simulation is
built in two stages: each population's lineages are simulated alone for the last
``T_ISOLATED`` generations (population A with the sweep at the contig's middle, then the
standard coalescent; B and C neutral), and the three are joined as the initial state of the
trio's demography (A and B split at 2,000 generations, their ancestor and C at 4,000), which
runs from ``T_ISOLATED`` back. The populations exchange no migrants, so simulating each one
alone over its last 1,000 generations is the same model. Sites hit by more than one mutation
are dropped, so every record is a biallelic SNV.

The sweep is a *hard* sweep from one copy (frequency ``1/(2 Ne)``) to near fixation
(``1 - 1/(2 Ne)``) that ended at the sampling time: the strongest signal a scan can see.
"""

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genshare_widgets._errors import GenShareError

#: Effective size of every population (diploids).
N_E = 5_000
#: Generations over which each population is simulated alone (the sweep happens in them).
T_ISOLATED = 1_000
#: Per-base, per-generation rates.
RECOMBINATION = 1e-8
MUTATION = 1.2e-8
#: The trio; the sweep is in the first.
POPULATIONS = ("A", "B", "C")


@dataclass(frozen=True)
class SweepSimulation:
    """What :func:`simulate_sweep` wrote: the phased VCF (bgzipped, tabix-indexed), the
    sample table (``sample``, ``population``) and the selected site's 1-based position on
    contig ``1``."""

    vcf: Path
    samples: Path
    position: int
    length: int
    n_samples: int
    seed: int
    selection: float


def sweep_tree_sequence(
    *, seed: int = 1, n_samples: int = 40, length: int = 20_000_000, selection: float = 0.1
):
    """The trio A, B, C with a hard sweep in A at ``length // 2`` (0-based), as a
    ``tskit.TreeSequence`` of biallelic SNVs (see the module docstring).

    Parameters
    ----------
    seed
        Seeds every stage (``seed * 10 + i`` for population ``i`` alone, ``seed`` for the
        joined coalescent and the mutations).
    n_samples
        Diploid individuals per population.
    length
        Contig length in bp.
    selection
        Selection coefficient ``s`` of the swept allele.

    Examples
    --------
    >>> ts = sweep_tree_sequence(seed=1, n_samples=5, length=500_000)  # doctest: +SKIP
    >>> ts.num_samples  # haplotypes: 3 populations x 5 diploids x 2  # doctest: +SKIP
    30
    """
    import msprime

    _check(n_samples, length, selection)
    dem = msprime.Demography()
    for name in POPULATIONS:
        dem.add_population(name=name, initial_size=N_E)
    dem.add_population(name="AB", initial_size=N_E)
    dem.add_population(name="ABC", initial_size=N_E)
    dem.add_population_split(time=2_000, derived=["A", "B"], ancestral="AB")
    dem.add_population_split(time=4_000, derived=["AB", "C"], ancestral="ABC")
    shell = msprime.sim_ancestry(
        samples={"A": 1}, demography=dem, sequence_length=length, random_seed=1, end_time=1
    )
    tables = shell.dump_tables()  # the trio's population table; nodes come from the stages
    tables.nodes.clear()
    tables.edges.clear()
    tables.individuals.clear()
    for pid, name in enumerate(POPULATIONS):
        model: object = msprime.StandardCoalescent()
        if name == "A":
            sweep = msprime.SweepGenicSelection(
                position=length // 2,
                start_frequency=1 / (2 * N_E),
                end_frequency=1 - 1 / (2 * N_E),
                s=selection,
                dt=1e-6,
            )
            model = [sweep, msprime.StandardCoalescent()]
        alone = msprime.sim_ancestry(
            samples=n_samples,
            demography=msprime.Demography.isolated_model([N_E]),
            model=model,
            end_time=T_ISOLATED,
            sequence_length=length,
            recombination_rate=RECOMBINATION,
            random_seed=seed * 10 + pid,
        )
        nodes, individuals = tables.nodes.num_rows, tables.individuals.num_rows
        for ind in alone.tables.individuals:
            tables.individuals.append(ind.replace(parents=[]))
        for node in alone.tables.nodes:
            i = node.individual
            tables.nodes.append(
                node.replace(population=pid, individual=i + individuals if i >= 0 else -1)
            )
        for edge in alone.tables.edges:
            tables.edges.append(edge.replace(parent=edge.parent + nodes, child=edge.child + nodes))
    tables.sort()
    ts = msprime.sim_ancestry(
        initial_state=tables,
        demography=dem,
        start_time=T_ISOLATED,
        recombination_rate=RECOMBINATION,
        random_seed=seed,
    )
    ts = msprime.sim_mutations(ts, rate=MUTATION, random_seed=seed)  # nucleotides (JC69)
    recurrent = [s.id for s in ts.sites() if len(s.mutations) > 1]
    return ts.delete_sites(recurrent)  # biallelic SNVs only (a few dozen sites dropped)


def _check(n_samples: int, length: int, selection: float) -> None:
    if int(n_samples) < 1:
        raise GenShareError(f"n_samples must be at least 1 diploid per population, not {n_samples}")
    if int(length) < 1_000:
        raise GenShareError(f"length must be at least 1,000 bp, not {length}")
    if not 0 < float(selection) <= 1:
        raise GenShareError(f"selection must be in (0, 1], not {selection}")


def simulate_sweep(
    folder,
    *,
    seed: int = 1,
    n_samples: int = 40,
    length: int = 20_000_000,
    selection: float = 0.1,
) -> SweepSimulation:
    """Simulate the trio with a sweep in A (:func:`sweep_tree_sequence`) and write it into
    ``folder`` as ``sweep.vcf.gz`` (+ ``.tbi``; contig ``1``, 1-based positions, samples
    ``A_0 … C_{n-1}``, phased) and ``sweep_samples.tsv``, written in a temporary folder and
    moved into place once complete (the index last). Open them with
    ``open_cohort(sim.vcf, samples=sim.samples)``.

    Examples
    --------
    >>> import tempfile
    >>> sim = simulate_sweep(tempfile.mkdtemp(), n_samples=10, length=2_000_000)
    ... # doctest: +SKIP
    >>> sim.position  # the selected site, 1-based  # doctest: +SKIP
    1000001
    """
    import pysam

    ts = sweep_tree_sequence(seed=seed, n_samples=n_samples, length=length, selection=selection)
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    names = [f"{POPULATIONS[i // n_samples]}_{i % n_samples}" for i in range(3 * n_samples)]
    final = {
        "vcf": out / "sweep.vcf.gz",
        "tbi": out / "sweep.vcf.gz.tbi",
        "samples": out / "sweep_samples.tsv",
    }
    work = Path(tempfile.mkdtemp(prefix=".sweep-", dir=out))
    try:
        plain = work / "sweep.vcf"
        with open(plain, "w") as fh:
            ts.write_vcf(
                fh,
                contig_id="1",
                individual_names=names,
                position_transform=lambda x: np.asarray(x) + 1,
            )
        pysam.tabix_index(str(plain), preset="vcf", force=True)  # -> sweep.vcf.gz(.tbi)
        rows = ["sample\tpopulation"] + [f"{s}\t{s.split('_')[0]}" for s in names]
        (work / "sweep_samples.tsv").write_text("\n".join(rows) + "\n")
        for key, name in (("samples", "sweep_samples.tsv"), ("vcf", "sweep.vcf.gz")):
            os.replace(work / name, final[key])
        os.replace(work / "sweep.vcf.gz.tbi", final["tbi"])  # index last: newer than the VCF
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return SweepSimulation(
        vcf=final["vcf"],
        samples=final["samples"],
        position=length // 2 + 1,
        length=int(length),
        n_samples=int(n_samples),
        seed=int(seed),
        selection=float(selection),
    )
