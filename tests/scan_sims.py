"""The seeded msprime trio with a hard sweep in population A for the selection-scan tests
(issue 20), written once per session as a phased VCF. The simulation itself is
:mod:`genshare_widgets.sweep_sim` (notebook 12 uses it too); see its docstring for the
two-stage model.
"""

import functools
from pathlib import Path

import numpy as np

from genshare_widgets import sweep_sim

N_E = sweep_sim.N_E
LENGTH = 20_000_000
RECOMBINATION = sweep_sim.RECOMBINATION
MUTATION = sweep_sim.MUTATION
T_ISOLATED = sweep_sim.T_ISOLATED
SELECTION = 0.1
SEED = 1
#: Diploid samples per population.
N_SAMPLES = 40
POPULATIONS = sweep_sim.POPULATIONS
SWEEP_POSITION = LENGTH // 2  # 0-based in msprime; the VCF's positions are 1-based (+1)


def sweep_tree_sequence(seed: int = SEED, n: int = N_SAMPLES):
    """The trio with a sweep in A (:func:`genshare_widgets.sweep_sim.sweep_tree_sequence`)."""
    return sweep_sim.sweep_tree_sequence(seed=seed, n_samples=n, length=LENGTH, selection=SELECTION)


@functools.cache
def _written(folder: str) -> tuple[Path, Path]:
    sim = sweep_sim.simulate_sweep(
        folder, seed=SEED, n_samples=N_SAMPLES, length=LENGTH, selection=SELECTION
    )
    return sim.vcf, sim.samples


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
