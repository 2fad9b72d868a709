"""Embedded cohorts: build a catalog ``simulation`` recipe into a real bgzipped VCF.

A recipe names a stdpopsim demographic model, a contig length, the number of diploid
individuals per population and a seed. Building runs msprime through stdpopsim (the model's
own mutation rate), writes a VCF with tskit, bgzips and tabix-indexes it with pysam, and writes
a sample table with simulated metadata:

- ``population``: the model population the individual was sampled from;
- ``sex``: ``female``/``male`` drawn with probability 1/2 (seeded; all chromosomes simulated
  are autosomes, so sex does not change genotypes);
- the phenotype (default ``height_like``): a standardised quantitative trait,
  ``g + e`` where ``g`` sums ``n_causal`` randomly chosen biallelic variants' ALT dosages times
  N(0, 1) effects, scaled to variance ``heritability``, and ``e`` is N(0, 1 - heritability)
  noise. No population effect is added: any difference between groups comes from drift.

The same recipe with the same msprime/stdpopsim/tskit versions gives byte-identical files; the
versions are part of the cache key.
"""

import hashlib
import json
import os
import shutil
import warnings
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd

from genshare_widgets.catalog import CohortEntry, SimulationRecipe
from genshare_widgets.fetch import build_lock, cache_dir, writes_to_cache


def recipe_key(recipe: SimulationRecipe) -> str:
    """Cache key of a recipe: its fields plus the simulator versions."""
    payload = {
        "recipe": recipe.model_dump(),
        "versions": {p: version(p) for p in ("msprime", "stdpopsim", "tskit")},
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def simulate_tree_sequence(recipe: SimulationRecipe):  # -> tskit.TreeSequence
    """Run the recipe's stdpopsim model with msprime (ancestry + mutations).

    Examples
    --------
    >>> from genshare_widgets.catalog import get_entry
    >>> ts = simulate_tree_sequence(get_entry("sim-ooa").simulation)  # doctest: +SKIP
    """
    import stdpopsim

    species = stdpopsim.get_species(recipe.species)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # deprecated-name notices from stdpopsim
        model = species.get_demographic_model(recipe.model)
        contig = species.get_contig(length=recipe.length, mutation_rate=model.mutation_rate)
        engine = stdpopsim.get_engine(recipe.engine)
        return engine.simulate(model, contig, samples=dict(recipe.samples), seed=recipe.seed)


def _sample_names(ts, recipe: SimulationRecipe) -> tuple[list[str], list[str]]:
    names, pops = [], []
    counters: dict[str, int] = {}
    for ind in ts.individuals():
        pop_id = ts.node(ind.nodes[0]).population
        pop = ts.population(pop_id).metadata["name"]
        counters[pop] = counters.get(pop, 0) + 1
        names.append(f"{pop}{counters[pop]:04d}")
        pops.append(pop)
    return names, pops


def _phenotype(ts, recipe: SimulationRecipe, rng: np.random.Generator) -> np.ndarray:
    n_ind = ts.num_individuals
    biallelic = [v for v in ts.variants() if len(v.alleles) == 2 and v.alleles[1] is not None]
    k = min(recipe.n_causal, len(biallelic))
    chosen = np.sort(rng.choice(len(biallelic), size=k, replace=False))
    g = np.zeros(n_ind)
    for idx in chosen:
        var = biallelic[idx]
        dosage = var.genotypes.reshape(n_ind, 2).sum(axis=1)
        g += rng.normal() * dosage
    if g.std() > 0:
        g = (g - g.mean()) / g.std() * np.sqrt(recipe.heritability)
    e = rng.normal(scale=np.sqrt(1 - recipe.heritability), size=n_ind)
    return np.round(g + e, 4)


def _link_same_recipe(folder: Path, tmp: Path, cohort_id: str) -> bool:
    """Fill ``tmp`` from a finished build of the same recipe under another catalog id (the
    consent-teaching entries reuse sim-ooa's recipe): the files hold no id, so they are the
    same bytes under this entry's names. False when there is none to reuse."""
    key = folder.name.rsplit("-", 1)[1]
    for other in sorted(folder.parent.glob(f"*-{key}")):
        if other == folder or not (other / ".complete").is_file():
            continue
        other_id = other.name[: -len(key) - 1]
        names = {
            f"{other_id}.vcf.gz": f"{cohort_id}.vcf.gz",
            f"{other_id}.vcf.gz.tbi": f"{cohort_id}.vcf.gz.tbi",
            f"{other_id}_samples.tsv": f"{cohort_id}_samples.tsv",
            ".complete": ".complete",
        }
        if not all((other / name).is_file() for name in names):
            continue
        for name, new in names.items():
            try:
                os.link(other / name, tmp / new)
            except OSError:  # another file system, or links not allowed: copy
                shutil.copyfile(other / name, tmp / new)
        return True
    return False


def build_simulated_cohort(entry: CohortEntry) -> tuple[Path, Path]:
    """Build (or find in the cache) the VCF and sample table of a simulated catalog entry.

    Returns ``(vcf_gz_path, samples_tsv_path)``; the VCF is bgzipped with a ``.tbi`` index.
    Files appear atomically: a half-built folder is never reused. An entry whose recipe was
    already built under another id reuses those files (linked, not simulated again).

    Examples
    --------
    >>> from genshare_widgets.catalog import get_entry
    >>> vcf, table = build_simulated_cohort(get_entry("sim-ooa"))  # doctest: +SKIP
    """
    recipe = entry.simulation
    if recipe is None:
        raise ValueError(f"cohort {entry.id!r} has no simulation recipe")
    folder = cache_dir() / "simulated" / f"{entry.id}-{recipe_key(recipe)}"
    vcf_gz = folder / f"{entry.id}.vcf.gz"
    table = folder / f"{entry.id}_samples.tsv"
    if (folder / ".complete").is_file():
        return vcf_gz, table
    with writes_to_cache(), build_lock(folder):  # one build per recipe; others wait, find it
        if (folder / ".complete").is_file():
            return vcf_gz, table
        for debris in folder.parent.glob(f"{folder.name}.partial-*"):  # of killed builds
            shutil.rmtree(debris, ignore_errors=True)
        _simulate_into(entry, recipe, folder)
    return vcf_gz, table


def _simulate_into(entry: CohortEntry, recipe: SimulationRecipe, folder: Path) -> None:
    """Simulate ``entry`` into ``<folder>.partial-<pid>`` and rename it to ``folder``."""
    import pysam

    table = folder / f"{entry.id}_samples.tsv"
    tmp = folder.with_name(f"{folder.name}.partial-{os.getpid()}")
    tmp.mkdir()
    try:
        if _link_same_recipe(folder, tmp, entry.id):
            os.rename(tmp, folder)
            return
        ts = simulate_tree_sequence(recipe)
        names, pops = _sample_names(ts, recipe)
        plain = tmp / f"{entry.id}.vcf"
        with open(plain, "w") as fh:
            ts.write_vcf(
                fh,
                contig_id=recipe.contig_name,
                individual_names=names,
                position_transform=lambda x: np.asarray(x) + 1,
            )
        pysam.tabix_index(str(plain), preset="vcf", force=True)  # → .vcf.gz + .vcf.gz.tbi
        rng = np.random.default_rng(recipe.seed)
        sex = rng.choice(["female", "male"], size=len(names))
        samples = pd.DataFrame(
            {
                "sample": names,
                "population": pops,
                "sex": sex,
                recipe.phenotype: _phenotype(ts, recipe, rng),
            }
        )
        samples.to_csv(tmp / table.name, sep="\t", index=False)
        (tmp / ".complete").write_text("ok\n")
        if folder.exists():
            shutil.rmtree(folder)
        os.rename(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
