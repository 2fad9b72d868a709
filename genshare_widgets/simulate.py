"""Embedded cohorts: build a catalog ``simulation`` recipe into a real bgzipped VCF.

A recipe names a stdpopsim demographic model, a contig length, the number of diploid
individuals per population and a seed. Building runs msprime through stdpopsim (the model's
own mutation rate), writes a VCF with tskit, bgzips and tabix-indexes it with pysam, and writes
a sample table with simulated metadata:

- ``population``: the model population the individual was sampled from;
- ``sex``: ``female``/``male`` drawn with probability 1/2 (seeded; all chromosomes simulated
  are autosomes, so sex does not change genotypes);
- one column per recipe trait (:class:`~genshare_widgets.catalog.SimulatedTrait`), e.g. the
  catalog's ``height_like`` (quantitative), ``disease_like`` (binary) and ``confounded_like``
  (quantitative, ancestry-confounded). A trait is ``g + e + shift[population] +
  sum(effect_c * (c - mean(c)))`` where

  * ``g`` (the genetic value) sums ``n_causal`` randomly chosen biallelic variants' (those
    with a minor allele frequency of at least ``causal_min_maf``) ALT dosages times N(0, 1)
    per-allele effects, centred and scaled so that var(g) equals the
    stated ``heritability`` exactly (population variance over all individuals);
  * ``e`` is N(0, 1 - heritability) noise, so var(g) / var(g + e), the heritability, is as
    stated in expectation; the realised value is recorded (:func:`trait_summary`);
  * ``shift[population]`` (``population_shift``) is a constant per population with no genetic
    cause: ancestry confounds such a trait, so an association test without ancestry
    covariates (principal components) finds false hits at variants whose frequencies differ
    between populations; ``g`` never includes it;
  * ``effect_c`` (``covariate_effects``) is the effect of a recipe covariate per unit, applied
    to the covariate's deviation from its cohort mean.

  A quantitative trait is that sum rounded to 4 decimals. A binary trait thresholds it (the
  liability): the ``round(prevalence * n)`` individuals with the highest liability are cases,
  coded ``1``, everyone else controls, coded ``0``; its heritability is on the liability scale.
- one column per recipe covariate (:class:`~genshare_widgets.catalog.SimulatedCovariate`),
  e.g. ``age``: integers drawn uniformly from ``low`` to ``high``, independent of everything
  else. Use it with ``--covar age``.

Random streams: ``sex`` and then the first trait draw from ``numpy.random.default_rng(seed)``
(the order of version-1 recipes, so their ``height_like`` column is unchanged); every other
trait and every covariate draws from its own stream seeded by ``(seed, its name)``, so adding,
editing or removing one of them leaves the others unchanged.

The truth is written beside the sample table (same folder, same atomic rename) and read back
with :func:`causal_variants` (the causal variants: contig, position, ref, alt and per-ALT-allele
effect in trait units, per trait), :func:`genetic_values` (``g`` per individual and trait) and
:func:`trait_summary` (stated and realised heritability, cases, population means).

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
from typing import Any

import numpy as np
import pandas as pd

from genshare_widgets._errors import GenShareError
from genshare_widgets.catalog import (
    CohortEntry,
    SimulatedTrait,
    SimulationRecipe,
    forbids_ancestry_research,
    get_entry,
)
from genshare_widgets.fetch import build_lock, cache_dir, writes_to_cache

_GENOTYPE_FIELDS = {"engine", "species", "model", "contig_name", "length", "samples", "seed"}
# Version-1 recipes hashed their single-trait fields into the key too, always at these values
# in the catalog; they stay in the payload as constants so stores built then keep their keys.
_V1_KEY_FIELDS = {"phenotype": "height_like", "n_causal": 50, "heritability": 0.5}
_TRUTH_FORMAT = 1


def _simulator_versions() -> dict[str, str]:
    return {p: version(p) for p in ("msprime", "stdpopsim", "tskit")}


def recipe_key(recipe: SimulationRecipe) -> str:
    """Key of the genotypes a recipe simulates: its genotype fields (model, length, samples,
    seed, ...) plus the simulator versions. Genotype stores are keyed by it, so entries whose
    recipes differ only in traits or covariates share one store (a store holds genotypes only).
    """
    payload = {
        "recipe": {**recipe.model_dump(include=_GENOTYPE_FIELDS), **_V1_KEY_FIELDS},
        "versions": _simulator_versions(),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def build_key(recipe: SimulationRecipe) -> str:
    """Cache key of a recipe's built files (VCF, sample table, truth): :func:`recipe_key` plus
    the traits and covariates, so it changes when any trait or covariate does."""
    payload = {
        "genotypes": recipe_key(recipe),
        "traits": [t.model_dump() for t in recipe.traits],
        "covariates": [c.model_dump() for c in recipe.covariates],
        "truth_format": _TRUTH_FORMAT,
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


def _stream(recipe: SimulationRecipe, what: str, name: str) -> np.random.Generator:
    """The random stream of one trait or covariate: seeded by the recipe seed and its name."""
    code = int.from_bytes(hashlib.sha256(f"{what}:{name}".encode()).digest()[:8], "big")
    return np.random.default_rng([recipe.seed, code])


def _biallelic_sites(ts) -> tuple[list[tuple[int, int, str, str]], np.ndarray]:
    """(site id, VCF position, REF, ALT) of every biallelic variant, in VCF order, and their
    minor allele frequencies."""
    out, maf = [], []
    for var in ts.variants(copy=False):
        if len(var.alleles) == 2 and var.alleles[1] is not None:
            out.append((var.site.id, int(var.site.position) + 1, var.alleles[0], var.alleles[1]))
            freq = var.genotypes.mean()
            maf.append(min(freq, 1 - freq))
    return out, np.asarray(maf)


def _alt_dosages(ts, site_ids: set[int]) -> dict[int, np.ndarray]:
    """ALT allele dosage (0, 1, 2) per individual at each of ``site_ids``."""
    n_ind = ts.num_individuals
    out = {}
    for var in ts.variants(copy=False):
        if var.site.id in site_ids:
            out[var.site.id] = var.genotypes.reshape(n_ind, 2).sum(axis=1)
    return out


def _simulate_traits(
    ts, recipe: SimulationRecipe, pops: list[str], rng: np.random.Generator
) -> tuple[dict[str, np.ndarray], pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """→ (sample-table columns, causal variants, genetic values, summary); ``rng`` is the
    recipe's main stream (already used for sex), the first trait's stream."""
    n_ind = ts.num_individuals
    sites, maf = _biallelic_sites(ts)
    population = np.asarray(pops)
    columns: dict[str, np.ndarray] = {}
    covariates: dict[str, np.ndarray] = {}
    summary: dict[str, Any] = {"format": _TRUTH_FORMAT, "n_individuals": n_ind, "traits": []}
    for cov in recipe.covariates:
        values = _stream(recipe, "covariate", cov.name).integers(
            cov.low, cov.high, endpoint=True, size=n_ind
        )
        covariates[cov.name] = values
    # Choose every trait's causal variants and effects first: one more pass over the
    # genotypes then reads all their dosages.
    plans = []
    for i, trait in enumerate(recipe.traits):
        stream = rng if i == 0 else _stream(recipe, "trait", trait.name)
        candidates = np.flatnonzero(maf >= trait.causal_min_maf)  # all when the minimum is 0
        if len(candidates) == 0:
            raise GenShareError(
                f"simulated trait {trait.name!r}: no biallelic variant has a minor allele "
                f"frequency of at least {trait.causal_min_maf:g} (causal_min_maf); lower it"
            )
        k = min(trait.n_causal, len(candidates))
        chosen = candidates[np.sort(stream.choice(len(candidates), size=k, replace=False))]
        effects = np.array([stream.normal() for _ in chosen])  # one at a time, as in version 1
        plans.append((trait, stream, chosen, effects))
    needed = {sites[j][0] for _, _, chosen, _ in plans for j in chosen}
    dosage = _alt_dosages(ts, needed)
    causal_rows: list[dict[str, Any]] = []
    genetic: dict[str, np.ndarray] = {}
    for trait, stream, chosen, effects in plans:
        g = np.zeros(n_ind)
        for j, beta in zip(chosen, effects, strict=True):
            g += beta * dosage[sites[j][0]]
        raw_sd = g.std()
        scale = np.sqrt(trait.heritability) / raw_sd if raw_sd > 0 else 1.0
        if raw_sd > 0:
            g = (g - g.mean()) / raw_sd * np.sqrt(trait.heritability)
        e = stream.normal(scale=np.sqrt(1 - trait.heritability), size=n_ind)
        value = g + e
        fixed = np.zeros(n_ind)
        for pop, shift in trait.population_shift.items():
            fixed[population == pop] += shift
        for name, effect in trait.covariate_effects.items():
            fixed += effect * (covariates[name] - covariates[name].mean())
        if trait.population_shift or trait.covariate_effects:
            value = value + fixed
        genetic[trait.name] = g
        columns[trait.name] = _trait_column(trait, value)
        for j, beta in zip(chosen, effects, strict=True):
            site_id, position, ref, alt = sites[j]
            causal_rows.append(
                {
                    "trait": trait.name,
                    "contig": recipe.contig_name,
                    "position": position,
                    "ref": ref,
                    "alt": alt,
                    "effect": float(beta * scale),
                    "alt_frequency": float(dosage[site_id].mean() / 2),
                }
            )
        summary["traits"].append(
            _trait_record(trait, g, e, value, columns[trait.name], population, len(chosen))
        )
    summary["covariates"] = [
        {**cov.model_dump(), "mean": float(covariates[cov.name].mean())}
        for cov in recipe.covariates
    ]
    causal = pd.DataFrame(
        causal_rows,
        columns=["trait", "contig", "position", "ref", "alt", "effect", "alt_frequency"],
    )
    return {**columns, **covariates}, causal, pd.DataFrame(genetic), summary


def _trait_column(trait: SimulatedTrait, value: np.ndarray) -> np.ndarray:
    if trait.kind == "quantitative":
        return np.round(value, 4)
    assert trait.prevalence is not None
    n_cases = round(trait.prevalence * len(value))
    order = np.argsort(-value, kind="stable")
    status = np.zeros(len(value), dtype=np.int64)
    status[order[:n_cases]] = 1
    return status


def _trait_record(
    trait: SimulatedTrait,
    g: np.ndarray,
    e: np.ndarray,
    value: np.ndarray,
    column: np.ndarray,
    population: np.ndarray,
    n_causal: int,
) -> dict[str, Any]:
    record: dict[str, Any] = trait.model_dump()
    record["n_causal_realised"] = n_causal
    record["genetic_variance"] = float(g.var())
    record["realised_heritability"] = float(g.var() / (g + e).var())
    record["genetic_share_of_total_variance"] = float(g.var() / value.var())
    pops = sorted(set(population.tolist()))
    record["population_mean"] = {p: float(column[population == p].mean()) for p in pops}
    record["population_genetic_mean"] = {p: float(g[population == p].mean()) for p in pops}
    if trait.kind == "binary":
        record["n_cases"] = int(column.sum())
        record["n_controls"] = int(len(column) - column.sum())
        record["liability_threshold"] = float(value[column == 1].min())
    return record


def _truth_names(cohort_id: str) -> dict[str, str]:
    return {
        "summary": f"{cohort_id}_traits.json",
        "causal": f"{cohort_id}_causal_variants.tsv",
        "genetic": f"{cohort_id}_genetic_values.tsv",
    }


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
            **dict(
                zip(_truth_names(other_id).values(), _truth_names(cohort_id).values(), strict=True)
            ),
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
    The truth about the simulated traits is in the same folder (:func:`causal_variants`,
    :func:`genetic_values` and :func:`trait_summary` read it). Files appear atomically: a
    half-built folder is never reused. An entry whose recipe was already built under another
    id reuses those files (linked, not simulated again).

    Examples
    --------
    >>> from genshare_widgets.catalog import get_entry
    >>> vcf, table = build_simulated_cohort(get_entry("sim-ooa"))  # doctest: +SKIP
    """
    recipe = entry.simulation
    if recipe is None:
        raise ValueError(f"cohort {entry.id!r} has no simulation recipe")
    folder = cache_dir() / "simulated" / f"{entry.id}-{build_key(recipe)}"
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
        columns, causal, genetic, summary = _simulate_traits(ts, recipe, pops, rng)
        samples = pd.DataFrame({"sample": names, "population": pops, "sex": sex, **columns})
        truth = _truth_names(entry.id)
        causal.to_csv(tmp / truth["causal"], sep="\t", index=False)
        genetic.insert(0, "sample", names)
        genetic.to_csv(tmp / truth["genetic"], sep="\t", index=False)
        (tmp / truth["summary"]).write_text(json.dumps(summary, indent=1, sort_keys=True) + "\n")
        samples.to_csv(tmp / table.name, sep="\t", index=False)
        (tmp / ".complete").write_text("ok\n")
        if folder.exists():
            shutil.rmtree(folder)
        os.rename(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _entry(entry: CohortEntry | str) -> CohortEntry:
    """The simulated entry whose truth is asked for. Only a freely usable entry (open, no
    consent code that gates an analysis: the rule of ``disclosure._gate.freely_usable``) gives
    it, since the truth holds a value per person and population means; the consent-teaching
    entries share sim-ooa's recipe, so sim-ooa gives theirs."""
    found = get_entry(entry) if isinstance(entry, str) else entry
    if found.simulation is None:
        raise ValueError(f"cohort {found.id!r} is not simulated: it has no simulated traits")
    if found.access != "open" or forbids_ancestry_research(list(found.duo)) is not None:
        raise GenShareError(
            f"cohort {found.id!r} is {found.access} with consent codes {list(found.duo)}: the "
            "truth of its simulated traits (values per person, population means) is given "
            "only for open entries without a gating code; ask for an open entry with the "
            "same recipe (e.g. sim-ooa)"
        )
    return found


def _truth_file(entry: CohortEntry | str, which: str) -> Path:
    found = _entry(entry)
    _, table = build_simulated_cohort(found)
    return table.with_name(_truth_names(found.id)[which])


def causal_variants(entry: CohortEntry | str, trait: str | None = None) -> pd.DataFrame:
    """The causal variants of a simulated cohort's traits (building the cohort if needed).

    One row per causal variant and trait: ``trait``, ``contig``, ``position``, ``ref``,
    ``alt`` (as in the cohort's VCF and store), ``effect`` (the true change of the trait, or of a
    binary trait's liability, per ALT allele, in trait units) and ``alt_frequency`` (over the
    whole cohort). ``trait`` keeps one trait's rows.

    Examples
    --------
    >>> truth = causal_variants("sim-ooa", "height_like")  # doctest: +SKIP
    >>> truth.sort_values("effect", key=abs).tail(3)  # doctest: +SKIP
    """
    found = _entry(entry)
    if trait is not None:
        assert found.simulation is not None
        found.simulation.trait(trait)  # a KeyError naming the recipe's traits
    table = pd.read_csv(
        _truth_file(found, "causal"),
        sep="\t",
        dtype={"trait": str, "contig": str, "ref": str, "alt": str},
        keep_default_na=False,
    )
    if trait is not None:
        table = table[table["trait"] == trait].reset_index(drop=True)
    return table


def genetic_values(entry: CohortEntry | str) -> pd.DataFrame:
    """The genetic value ``g`` of every individual (index: sample id) for each simulated trait
    (one column per trait, in trait units; for a binary trait, on the liability scale)."""
    return pd.read_csv(_truth_file(entry, "genetic"), sep="\t", index_col="sample")


def trait_summary(entry: CohortEntry | str) -> dict[str, Any]:
    """What the simulation of each trait realised, with the recipe's stated values.

    ``traits`` holds, per trait, the recipe fields (``heritability``, ``n_causal``, ...) and
    ``genetic_variance`` (= heritability), ``realised_heritability`` (var(g) / var(g + e) in
    this cohort), ``genetic_share_of_total_variance`` (var(g) / var(trait), with population
    shifts and covariate effects), ``population_mean`` and ``population_genetic_mean`` (of the
    trait column and of ``g``), and for binary traits ``n_cases``, ``n_controls`` and
    ``liability_threshold``; ``covariates`` holds each covariate's range and mean.
    """
    return json.loads(_truth_file(entry, "summary").read_text())
