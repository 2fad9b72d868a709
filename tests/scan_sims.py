"""A seeded msprime simulation of a population trio with a hard sweep in one population, for
the selection-scan tests (issue 20), written once per session as a phased VCF.

msprime runs ``SweepGenicSelection`` in single-population models only, so the simulation is
built in two stages: each population's lineages are simulated alone for the last
``T_ISOLATED`` generations (population A with the sweep at the contig's middle, then the
standard coalescent; B and C neutral), and the three are joined as the initial state of the
trio's demography (A and B split at 2,000 generations, their ancestor and C at 4,000), which
runs from ``T_ISOLATED`` back. The populations exchange no migrants, so simulating each one
alone over its last 1,000 generations is the same model.
"""

import functools
from pathlib import Path

import numpy as np

N_E = 5_000
LENGTH = 20_000_000
RECOMBINATION = 1e-8
MUTATION = 1.2e-8
T_ISOLATED = 1_000
SELECTION = 0.1
SEED = 1
#: Diploid samples per population.
N_SAMPLES = 40
POPULATIONS = ("A", "B", "C")
SWEEP_POSITION = LENGTH // 2  # 0-based in msprime; the VCF's positions are 1-based (+1)


def sweep_tree_sequence(seed: int = SEED, n: int = N_SAMPLES):
    """The trio with a sweep in A (see the module docstring)."""
    import msprime

    dem = msprime.Demography()
    for name in POPULATIONS:
        dem.add_population(name=name, initial_size=N_E)
    dem.add_population(name="AB", initial_size=N_E)
    dem.add_population(name="ABC", initial_size=N_E)
    dem.add_population_split(time=2_000, derived=["A", "B"], ancestral="AB")
    dem.add_population_split(time=4_000, derived=["AB", "C"], ancestral="ABC")
    shell = msprime.sim_ancestry(
        samples={"A": 1}, demography=dem, sequence_length=LENGTH, random_seed=1, end_time=1
    )
    tables = shell.dump_tables()  # the trio's population table; nodes come from the stages
    tables.nodes.clear()
    tables.edges.clear()
    tables.individuals.clear()
    for pid, name in enumerate(POPULATIONS):
        model = msprime.StandardCoalescent()
        if name == "A":
            sweep = msprime.SweepGenicSelection(
                position=SWEEP_POSITION,
                start_frequency=1 / (2 * N_E),
                end_frequency=1 - 1 / (2 * N_E),
                s=SELECTION,
                dt=1e-6,
            )
            model = [sweep, msprime.StandardCoalescent()]
        alone = msprime.sim_ancestry(
            samples=n,
            demography=msprime.Demography.isolated_model([N_E]),
            model=model,
            end_time=T_ISOLATED,
            sequence_length=LENGTH,
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


@functools.cache
def _written(folder: str) -> tuple[Path, Path]:
    import pysam

    ts = sweep_tree_sequence()
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    names = [f"{POPULATIONS[i // N_SAMPLES]}_{i % N_SAMPLES}" for i in range(3 * N_SAMPLES)]
    plain = out / "sweep.vcf"
    with open(plain, "w") as fh:
        ts.write_vcf(
            fh,
            contig_id="1",
            individual_names=names,
            position_transform=lambda x: np.asarray(x) + 1,
        )
    pysam.tabix_index(str(plain), preset="vcf", force=True)
    table = out / "sweep_samples.tsv"
    lines = ["sample\tpopulation"] + [f"{s}\t{s.split('_')[0]}" for s in names]
    table.write_text("\n".join(lines) + "\n")
    return out / "sweep.vcf.gz", table


def sweep_files(folder: Path) -> tuple[Path, Path]:
    """``(sweep.vcf.gz, sweep_samples.tsv)`` written into ``folder`` once per process."""
    return _written(str(folder))


def haplotypes_of(cohort, population: str, *, by: str = "population") -> np.ndarray:
    """The biallelic SNV haplotypes of one group, read independently of the scan code
    (``call_genotype`` through xarray, scikit-allel's haplotype order)."""
    import allel

    ds = cohort.genotypes
    snv = ds["variant_snv"].values
    samples = np.flatnonzero(cohort.samples[by].to_numpy() == population)
    gt = allel.GenotypeArray(ds["call_genotype"].values[snv][:, samples])
    return gt.to_haplotypes()
