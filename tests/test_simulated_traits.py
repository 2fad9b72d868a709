"""Simulated traits of the embedded cohorts: recipe validation, determinism, and the recorded
truth (causal variants, genetic values, realised heritability) checked against the built sample
table and the genotype store."""

import copy
import hashlib
import math
import re
from importlib.metadata import version

import numpy as np
import pandas as pd
import pytest
import yaml

from genshare_widgets import CatalogError
from genshare_widgets._errors import GenShareError
from genshare_widgets.catalog import default_catalog_path, get_entry, parse_catalog
from genshare_widgets.simulate import (
    build_key,
    build_simulated_cohort,
    causal_variants,
    genetic_values,
    recipe_key,
    trait_summary,
)

COHORTS = ["sim-ooa", "sim-admix"]


@pytest.fixture(scope="module")
def cohorts(sim_ooa, sim_admix):
    return {"sim-ooa": sim_ooa, "sim-admix": sim_admix}


def _recipe_sd_bound(h2: float, n: int) -> float:
    """Four standard errors of the realised heritability var(g) / var(g + e) around the stated
    h2 when var(g) = h2 exactly and e ~ N(0, 1 - h2): to first order its error is
    -h2 * (d var(e) + 2 cov(g, e)), with sd(var(e)) = (1 - h2) sqrt(2 / n) and
    sd(cov(g, e)) = sqrt(h2 (1 - h2) / n)."""
    return 4 * h2 * math.sqrt(2 * (1 - h2) ** 2 / n + 4 * h2 * (1 - h2) / n)


def _fixed_part(recipe, trait, table: pd.DataFrame) -> np.ndarray:
    """The non-genetic, non-noise part of a trait: population shifts and covariate effects."""
    fixed = table["population"].map(trait.population_shift).fillna(0.0).to_numpy(float)
    for name, effect in trait.covariate_effects.items():
        values = table[name].to_numpy(float)
        fixed = fixed + effect * (values - values.mean())
    return fixed


def test_catalog_recipes_state_the_three_trait_kinds_and_a_covariate():
    for cohort_id in COHORTS:
        entry = get_entry(cohort_id)
        recipe = entry.simulation
        kinds = {t.name: t.kind for t in recipe.traits}
        assert kinds == {
            "height_like": "quantitative",
            "disease_like": "binary",
            "confounded_like": "quantitative",
        }
        assert recipe.trait("disease_like").prevalence == 0.3
        assert recipe.trait("confounded_like").population_shift  # confounded by population
        assert [c.name for c in recipe.covariates] == ["age"]
        assert entry.samples.phenotype_columns == recipe.trait_names
        assert entry.samples.covariate_columns == ["age"]


def test_sample_table_columns_and_codes(cohorts):
    for cohort_id, cohort in cohorts.items():
        table = cohort.samples
        assert list(table.columns) == [
            "population", "sex", "height_like", "disease_like", "confounded_like", "age"
        ]  # fmt: skip
        assert set(table["disease_like"].unique()) == {0, 1}, cohort_id
        assert table["age"].dtype.kind == "i" and table["age"].between(20, 79).all()
        assert table["age"].min() <= 25 and table["age"].max() >= 74  # the whole range is used


VERSION1_HEIGHT_LIKE = {  # sha256 of the height_like column before traits became a list
    "sim-ooa": "16203cf6758fa7fe58b9de8a4a3276994fe854d20a0c4465e2207646988cbbab",
    "sim-admix": "d3b3efa2f89f8e38713f6bf00bae7cce3ea4f85320373fe59ee402ce693fa212",
}
VERSION1_SIMULATORS = {"msprime": "1.4.4", "stdpopsim": "0.3.0", "tskit": "1.0.3"}


def test_height_like_is_byte_identical_to_version_1(cohorts):
    """Adding traits and covariates left the first trait's random stream untouched."""
    if {p: version(p) for p in VERSION1_SIMULATORS} != VERSION1_SIMULATORS:
        pytest.skip("the pinned column digests were made with other simulator versions")
    for cohort_id in COHORTS:
        _, table = build_simulated_cohort(get_entry(cohort_id))
        column = "".join(line.split("\t")[3] + "\n" for line in table.read_text().splitlines())
        assert hashlib.sha256(column.encode()).hexdigest() == VERSION1_HEIGHT_LIKE[cohort_id]


def test_store_key_ignores_traits_but_build_key_does_not():
    recipe = get_entry("sim-ooa").simulation
    trait = recipe.traits[1].model_copy(update={"heritability": 0.3})
    changed = recipe.model_copy(update={"traits": [recipe.traits[0], trait, recipe.traits[2]]})
    assert recipe_key(changed) == recipe_key(recipe)  # same genotypes: the same store
    assert build_key(changed) != build_key(recipe)  # another sample table and truth
    fewer = recipe.model_copy(update={"covariates": []})
    assert build_key(fewer) != build_key(recipe)


def test_build_is_deterministic(isolated_cache, monkeypatch):
    """Two builds in empty caches give byte-identical VCF, sample table and truth files."""
    entry = get_entry("sim-admix")
    first_vcf, _ = build_simulated_cohort(entry)
    assert first_vcf.is_relative_to(isolated_cache)
    folder = first_vcf.parent
    names = sorted(p.name for p in folder.iterdir())
    assert names == sorted(
        [".complete", "sim-admix.vcf.gz", "sim-admix.vcf.gz.tbi", "sim-admix_samples.tsv",
         "sim-admix_traits.json", "sim-admix_causal_variants.tsv",
         "sim-admix_genetic_values.tsv"]
    )  # fmt: skip
    monkeypatch.setenv("GENSHARE_CACHE", str(isolated_cache.parent / "second-cache"))
    second_vcf, _ = build_simulated_cohort(entry)
    assert second_vcf.parent.name == folder.name and second_vcf != first_vcf
    for name in names:
        assert (folder / name).read_bytes() == (second_vcf.parent / name).read_bytes(), name


@pytest.mark.parametrize("cohort_id", COHORTS)
def test_genetic_variance_is_stated_heritability(cohort_id, cohorts):
    recipe = get_entry(cohort_id).simulation
    table = cohorts[cohort_id].samples
    g = genetic_values(cohort_id).loc[table.index]
    summary = {t["name"]: t for t in trait_summary(cohort_id)["traits"]}
    n = len(table)
    for trait in recipe.traits:
        h2 = trait.heritability
        gt = g[trait.name].to_numpy()
        assert abs(gt.mean()) < 1e-12 and gt.var() == pytest.approx(h2, rel=1e-12), trait.name
        record = summary[trait.name]
        assert record["genetic_variance"] == pytest.approx(h2, rel=1e-12)
        assert abs(record["realised_heritability"] - h2) <= _recipe_sd_bound(h2, n), trait.name
        if trait.kind == "quantitative":  # the table's column minus g and the fixed part is e
            e = table[trait.name].to_numpy() - gt - _fixed_part(recipe, trait, table)
            assert gt.var() / (gt + e).var() == pytest.approx(
                record["realised_heritability"], abs=2e-4
            )  # the column is rounded to 4 decimals
            assert abs(e.mean()) < 4 * math.sqrt((1 - h2) / n)


@pytest.mark.parametrize("cohort_id", COHORTS)
def test_binary_trait_case_fraction_is_the_prevalence(cohort_id, cohorts):
    recipe = get_entry(cohort_id).simulation
    trait = recipe.trait("disease_like")
    table = cohorts[cohort_id].samples
    status = table["disease_like"].to_numpy()
    n_cases = round(trait.prevalence * len(table))
    assert status.sum() == n_cases  # exactly: the top prevalence fraction of the liability
    record = next(t for t in trait_summary(cohort_id)["traits"] if t["name"] == "disease_like")
    assert (record["n_cases"], record["n_controls"]) == (n_cases, len(table) - n_cases)
    g = genetic_values(cohort_id).loc[table.index, "disease_like"].to_numpy()
    # cases are 1: their genetic liability and age (effect 0.03 per year) are higher
    assert g[status == 1].mean() - g[status == 0].mean() > 0.3
    age = table["age"].to_numpy()
    assert trait.covariate_effects == {"age": 0.03}
    assert age[status == 1].mean() - age[status == 0].mean() > 3


@pytest.mark.parametrize("cohort_id", COHORTS)
def test_confounded_trait_means_differ_by_the_stated_shifts(cohort_id, cohorts):
    recipe = get_entry(cohort_id).simulation
    trait = recipe.trait("confounded_like")
    table = cohorts[cohort_id].samples
    g = genetic_values(cohort_id).loc[table.index, "confounded_like"]
    non_genetic = table["confounded_like"] - g  # shift + noise
    summary = next(t for t in trait_summary(cohort_id)["traits"] if t["name"] == trait.name)
    for pop, rows in table.groupby("population").groups.items():
        n_pop = len(rows)
        noise_bound = 4 * math.sqrt((1 - trait.heritability) / n_pop) + 5e-5
        shift = trait.population_shift.get(pop, 0.0)
        assert abs(non_genetic[rows].mean() - shift) <= noise_bound, pop
        assert g[rows].mean() == pytest.approx(summary["population_genetic_mean"][pop], abs=1e-12)
    # the shifts are large next to that bound: the population means differ for no genetic reason
    shifts = sorted(trait.population_shift.values())
    assert shifts[-1] - shifts[0] >= 1.0
    means = table.groupby("population")["confounded_like"].mean()
    assert means.to_dict() == pytest.approx(summary["population_mean"], abs=1e-9)


@pytest.mark.parametrize("cohort_id", COHORTS)
def test_causal_variants_are_in_the_store_and_make_the_genetic_values(cohort_id, cohorts):
    """Each causal variant is a store variant with those alleles, and the genetic value of
    every individual is exactly the sum of effect x ALT dosage over them (centred): nothing
    else (no population shift) is in g."""
    cohort = cohorts[cohort_id]
    recipe = get_entry(cohort_id).simulation
    truth = causal_variants(cohort_id)
    assert list(truth.columns) == [
        "trait", "contig", "position", "ref", "alt", "effect", "alt_frequency"
    ]  # fmt: skip
    ds = cohort.genotypes
    positions = ds["variant_position"].values
    contigs = ds["contig_id"].values[ds["variant_contig"].values]
    where = {(str(c), int(p)): i for i, (c, p) in enumerate(zip(contigs, positions, strict=True))}
    rows = [where[(c, p)] for c, p in zip(truth["contig"], truth["position"], strict=True)]
    alleles = ds["variant_allele"].values[rows]
    assert [str(a) for a in alleles[:, 0]] == truth["ref"].tolist()
    assert [str(a) for a in alleles[:, 1]] == truth["alt"].tolist()
    assert all(str(a) == "" for a in alleles[:, 2:].ravel())  # biallelic
    calls = ds["call_genotype"].values[np.sort(np.unique(rows))]
    dosage_of = dict(zip(np.sort(np.unique(rows)), (calls == 1).sum(axis=2), strict=True))
    assert list(ds["sample_id"].values) == list(cohort.samples.index)
    g = genetic_values(cohort_id).loc[cohort.samples.index]
    for trait in recipe.traits:
        mine = truth[truth["trait"] == trait.name]
        assert len(mine) == trait.n_causal
        if trait.causal_min_maf:
            maf = np.minimum(mine["alt_frequency"], 1 - mine["alt_frequency"])
            assert (maf >= trait.causal_min_maf).all()
        total = np.zeros(len(g))
        for row, effect, freq in zip(
            [where[(c, p)] for c, p in zip(mine["contig"], mine["position"], strict=True)],
            mine["effect"],
            mine["alt_frequency"],
            strict=True,
        ):
            assert dosage_of[row].mean() / 2 == pytest.approx(freq, abs=1e-12)
            total += effect * dosage_of[row]
        np.testing.assert_allclose(total - total.mean(), g[trait.name], atol=1e-9)
    one = causal_variants(cohort_id, "disease_like")
    assert set(one["trait"]) == {"disease_like"} and len(one) == 10
    with pytest.raises(KeyError, match=r"no trait 'weight'.*height_like"):
        causal_variants(cohort_id, "weight")


@pytest.mark.parametrize("cohort_id", COHORTS)
def test_confounded_trait_inflates_an_uncorrected_gwas_and_pcs_fix_it(cohort_id, cohorts):
    """Without ancestry covariates the population shifts make variants whose frequencies differ
    between populations look associated (lambda far above 1, genome-wide hits far from every
    causal variant); two principal components remove them."""
    from genshare_widgets.association import association

    cohort = cohorts[cohort_id]
    causal = causal_variants(cohort_id, "confounded_like")["position"].to_numpy()

    def run(pcs: int):
        result = association(cohort, "confounded_like", pcs=pcs, min_maf=0.05)
        hits = result.table.loc[result.table["p"] < 5e-8, "position"].to_numpy()
        distance = np.abs(hits[:, None] - causal[None, :]).min(axis=1)
        return result.lambda_gc, hits, int((distance > 100_000).sum())

    raw_lambda, raw_hits, raw_far = run(0)
    pc_lambda, pc_hits, pc_far = run(2)
    assert raw_lambda > 3 and pc_lambda < 1.5, (raw_lambda, pc_lambda)
    assert len(raw_hits) > 40 and pc_far == 0
    if cohort_id == "sim-admix":
        assert raw_far > 100  # false hits nowhere near a causal variant
    else:
        assert set(pc_hits) & set(causal)  # the corrected scan finds a causal variant itself


def test_truth_of_a_non_simulated_or_gated_cohort_is_refused():
    with pytest.raises(ValueError, match="'hapmap3' is not simulated"):
        causal_variants("hapmap3")
    # the truth holds a value per person: not without a credential for a controlled entry, and
    # not with population means where ancestry research is not consented (NPOA)
    for gated in ("sim-ooa-hmb-controlled", "sim-ooa-npoa"):
        for read in (causal_variants, genetic_values, trait_summary):
            with pytest.raises(GenShareError, match=rf"cohort '{gated}' is .* \(e\.g\. sim-ooa\)"):
                read(gated)


# -- recipe validation ------------------------------------------------------------------------


def _sim_entry() -> dict:
    raw = yaml.safe_load(default_catalog_path().read_text())
    entry = next(e for e in raw["cohorts"] if e["id"] == "sim-ooa")
    return copy.deepcopy(entry)


def _parse(entry: dict):
    text = yaml.safe_dump({"catalog_version": "t", "cohorts": [entry]}, sort_keys=False)
    return parse_catalog(text, path="cat.yaml")


def _refused(entry: dict) -> str:
    with pytest.raises(CatalogError) as info:
        _parse(entry)
    return str(info.value)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda r: r["traits"][1].pop("prevalence"),
            r"field simulation\.traits\[1\]: trait 'disease_like' is binary: give its prevalence",
        ),
        (
            lambda r: r["traits"][0].update(prevalence=0.1),
            r"trait 'height_like' is quantitative: prevalence is only for kind binary",
        ),
        (
            lambda r: r["traits"][2]["population_shift"].update(EUR=1.0),
            r"field simulation: trait 'confounded_like': population_shift names \['EUR'\], "
            r"which the recipe does not simulate \(its populations: \['CEU', 'CHB', 'YRI'\]\)",
        ),
        (
            lambda r: r["traits"][1]["covariate_effects"].update(bmi=0.1),
            r"trait 'disease_like': covariate_effects names \['bmi'\], which are not "
            r"covariates of the recipe \(its covariates: \['age'\]\)",
        ),
        (
            lambda r: r["traits"][2].update(name="height_like"),
            r"trait/covariate names listed twice: \['height_like'\]",
        ),
        (
            lambda r: r["covariates"][0].update(name="sex"),
            r"\['sex'\] name sample-table columns the simulation writes itself",
        ),
        (
            lambda r: r["traits"][1].update(prevalence=0.001),
            r"trait 'disease_like': prevalence 0\.001 of 300 individuals is 0 cases",
        ),
        (
            lambda r: r["traits"][0].update(heritability=1.0),
            r"field simulation\.traits\[0\]\.heritability: Input should be less than 1",
        ),
        (
            lambda r: r["traits"][0].update(kind="ordinal"),
            r"traits\[0\]\.kind: Input should be 'quantitative' or 'binary'",
        ),
        (
            lambda r: r["traits"][0].update(name="height like"),
            r"traits\[0\]\.name: String should match pattern",
        ),
        (
            lambda r: r["covariates"][0].update(low=80),
            r"covariate 'age': high \(79\) must be above low \(80\)",
        ),
        (
            lambda r: r.update(heritability=0.5),
            r"field simulation: give either traits or the older single-trait fields "
            r"\(heritability\), not both",
        ),
        (lambda r: r.update(traits=[]), r"traits: List should have at least 1 item"),
    ],
    ids=[
        "binary-without-prevalence",
        "quantitative-with-prevalence",
        "unknown-population",
        "unknown-covariate",
        "duplicate-name",
        "reserved-name",
        "no-cases",
        "heritability-1",
        "unknown-kind",
        "bad-column-name",
        "empty-covariate-range",
        "old-and-new-fields",
        "no-traits",
    ],
)
def test_recipe_errors_name_the_entry_field_and_problem(change, message):
    entry = _sim_entry()
    change(entry["simulation"])
    msg = _refused(entry)
    assert "entry 'sim-ooa'" in msg
    assert len(msg.splitlines()) == 1, msg
    assert re.search(message, msg), msg


def test_phenotype_and_covariate_columns_must_be_true():
    entry = _sim_entry()
    entry["samples"]["phenotype_columns"] = ["height_like"]
    assert re.search(
        r"samples\.phenotype_columns \['height_like'\] must list the recipe's simulated "
        r"phenotypes \['height_like', 'disease_like', 'confounded_like'\]",
        _refused(entry),
    )
    entry = _sim_entry()
    entry["samples"]["covariate_columns"] = ["age", "bmi"]
    assert "samples.covariate_columns ['age', 'bmi'] must list" in _refused(entry)


def test_version_1_single_trait_fields_are_still_read():
    entry = _sim_entry()
    recipe = entry["simulation"]
    del recipe["traits"], recipe["covariates"]
    entry["samples"]["phenotype_columns"] = ["bmi_like"]
    del entry["samples"]["covariate_columns"]
    recipe.update(phenotype="bmi_like", n_causal=20, heritability=0.3)
    parsed = _parse(entry).cohorts[0].simulation
    assert [t.model_dump(exclude_defaults=True) for t in parsed.traits] == [
        {"name": "bmi_like", "n_causal": 20, "heritability": 0.3}
    ]
    del recipe["phenotype"], recipe["n_causal"], recipe["heritability"]
    entry["samples"]["phenotype_columns"] = []
    defaults = _parse(entry).cohorts[0].simulation
    assert [(t.name, t.n_causal, t.heritability) for t in defaults.traits] == [
        ("height_like", 50, 0.5)
    ]
    # the store key of a version-1 recipe with the old defaults is the key it had then
    assert recipe_key(defaults) == recipe_key(get_entry("sim-ooa").simulation)
